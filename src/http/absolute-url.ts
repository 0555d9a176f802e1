// A request without a Host header (HTTP/1.0, as load balancers' health checks send by default) reaches Bun's fetch
// handler with a relative URL ("/health"), which the router cannot parse: every such request would be a 500. The
// server's fetch handler is wrapped so those requests get an absolute URL on a placeholder host instead.

/** The host given to requests that named none; links the server builds for them point nowhere real. */
const PLACEHOLDER_HOST = "host-not-given.invalid";

/** `fetch`, made to see an absolute URL on every request. */
export function withAbsoluteUrl<S>(
  fetch: (req: Request, server: S) => Response | Promise<Response>,
): (req: Request, server: S) => Response | Promise<Response> {
  return (req, server) => (req.url.startsWith("/") ? fetch(new Request(`http://${PLACEHOLDER_HOST}${req.url}`, req), server) : fetch(req, server));
}
