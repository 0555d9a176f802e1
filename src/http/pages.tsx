// Server-rendered pages and the embedded static files they use.
import { Hono } from "hono";
import cssPath from "../../public/app.css" with { type: "file" };
import { HomePage } from "../../views/home-page.tsx";

/** Routes for / and /static/*. `serving` and `queueDepth` are read per request. */
export function pageRoutes(deps: { version: string; serving: () => { name: string; version: number }[]; queueDepth: () => number }) {
  return new Hono()
    .get("/", (c) => {
      const url = new URL(c.req.url);
      return c.html(<HomePage version={deps.version} baseUrl={url.origin} serving={deps.serving()} queueDepth={deps.queueDepth()} />);
    })
    .get("/static/app.css", () => new Response(Bun.file(cssPath), { headers: { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=3600" } }));
}
