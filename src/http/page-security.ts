// The headers every HTML answer goes out with: pages show what pushes and the network sent (notebook outputs, model
// signatures, repository names, error messages), so even markup that got past escaping and sanitizing runs nothing.
import type { MiddlewareHandler } from "hono";

/**
 * The pages' Content-Security-Policy: scripts and styles from this server only (no inline script, no eval — the
 * model page's Alpine.js is its CSP build), images from us or data: URIs (a notebook's plots), requests only to us,
 * forms posting only to us, no framing, no <base>.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Give a text/html answer PAGE_CSP (unless it has a policy of its own) and nosniff; any other answer is left as it is. */
export function withPageHeaders<R extends Response | Promise<Response>>(res: R): R {
  if (res instanceof Promise) return res.then(setPageHeaders) as R;
  setPageHeaders(res as Response);
  return res;
}

function setPageHeaders(res: Response): Response {
  if (!(res.headers.get("content-type") ?? "").startsWith("text/html")) return res;
  if (!res.headers.has("content-security-policy")) res.headers.set("Content-Security-Policy", PAGE_CSP);
  res.headers.set("X-Content-Type-Options", "nosniff");
  return res;
}

/**
 * withPageHeaders as middleware, for the page routes (the page session's guard includes it) and the 404 and error
 * pages. Not a catch-all: predict requests are spared the extra step.
 */
export const securePages: MiddlewareHandler = async (c, next) => {
  await next();
  setPageHeaders(c.res);
};
