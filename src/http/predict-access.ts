// Who may call the prediction routes when PREDICT_TOKEN is set: a Bearer token (PREDICT_TOKEN or the admin token), or
// the model page's "Try it" form in a signed-in browser. A session cookie alone is not enough: the page's fetch also
// sends X-Mlops-Page, which a cross-site form cannot send and a cross-site fetch could only send after a CORS
// preflight that this server never grants; and where the browser says where the request comes from (Origin,
// Sec-Fetch-Site), that must be this server.
import type { Context, MiddlewareHandler } from "hono";
import type { PageSessions } from "../auth/page-sessions.ts";
import { UnauthorizedError } from "../lib/errors.ts";
import { hasBearerToken } from "./auth.ts";
import { sessionIdOf } from "./page-auth.ts";

/** The header (and its value) the model page's Try it form sends with its predict requests. */
export const PAGE_REQUEST_HEADER = "X-Mlops-Page";
export const PAGE_REQUEST_VALUE = "try-it";

/**
 * Whether the request comes from one of this server's pages in a signed-in browser: a live page session, the page
 * header, no Sec-Fetch-Site other than same-origin, and no Origin other than this server's (its Host, or `publicUrl`).
 */
export function isSignedInPageRequest(c: Context, sessions: Pick<PageSessions, "valid">, publicUrl = ""): boolean {
  if (c.req.header(PAGE_REQUEST_HEADER) !== PAGE_REQUEST_VALUE) return false;
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") return false;
  const origin = c.req.header("origin");
  if (origin !== undefined && !sameOrigin(origin, c.req.url, publicUrl)) return false;
  return sessions.valid(sessionIdOf(c));
}

/**
 * Middleware for the prediction routes under PREDICT_TOKEN: through with a Bearer token whose hash is in
 * `acceptedSha256`, or (given `sessions`) a signed-in page request; else 401 without detail.
 */
export function requirePredictAccess(acceptedSha256: readonly string[], sessions?: Pick<PageSessions, "valid">, publicUrl = ""): MiddlewareHandler {
  return async (c, next) => {
    if (!hasBearerToken(c, acceptedSha256) && !(sessions && isSignedInPageRequest(c, sessions, publicUrl))) throw new UnauthorizedError();
    await next();
  };
}

// The host (and scheme, for PUBLIC_URL) the browser names must be ours; "null" (a sandboxed or file page) never is.
function sameOrigin(origin: string, requestUrl: string, publicUrl: string): boolean {
  let from: URL;
  try {
    from = new URL(origin);
  } catch {
    return false;
  }
  if (publicUrl && safeOrigin(publicUrl) === from.origin) return true;
  return from.host === new URL(requestUrl).host;
}

function safeOrigin(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
