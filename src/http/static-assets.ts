// The files pages load, embedded into the executable: our stylesheet, htmx and its SSE extension, Alpine.js and the
// model page's Try it component. Alpine is its CSP build (@alpinejs/csp): it parses its expressions itself instead of
// compiling them, so the pages' Content-Security-Policy (page-security.ts) needs no 'unsafe-eval'.
import type { Hono } from "hono";
import cssPath from "../../public/app.css" with { type: "file" };
import htmxPath from "htmx.org/dist/htmx.min.js" with { type: "file" };
import ssePath from "htmx.org/dist/ext/hx-sse.min.js" with { type: "file" };
import alpinePath from "@alpinejs/csp/dist/cdn.min.js" with { type: "file" };
import tryItPath from "../../public/try-it.js" with { type: "file" };

const ASSETS: Record<string, { path: string; type: string }> = {
  "app.css": { path: cssPath, type: "text/css; charset=utf-8" },
  "htmx.min.js": { path: htmxPath, type: "text/javascript; charset=utf-8" },
  "hx-sse.min.js": { path: ssePath, type: "text/javascript; charset=utf-8" },
  "alpine.min.js": { path: alpinePath, type: "text/javascript; charset=utf-8" },
  "try-it.js": { path: tryItPath, type: "text/javascript; charset=utf-8" },
};

/** GET /static/{file} for the embedded files; anything else falls through to the 404 handler. */
export function mountStaticAssets(app: Hono): void {
  app.get("/static/:file", (c, next) => {
    const asset = ASSETS[c.req.param("file")];
    if (!asset) return next();
    return new Response(Bun.file(asset.path), { headers: { "Content-Type": asset.type, "Cache-Control": "public, max-age=3600" } });
  });
}
