// Sessions for the web pages: the admin token, typed once into /login, becomes an HttpOnly SameSite=Strict cookie
// holding a random session id (src/auth/page-sessions.ts keeps only its hash, ends it on expiry, sign-out or a new
// admin token). Page actions (POST) also need htmx's HX-Request header, which a cross-site form cannot send: with
// the SameSite cookie, that keeps other sites from acting for a signed-in user.
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { timingSafeEqual } from "node:crypto";
import type { PageSessions } from "../auth/page-sessions.ts";
import { hashToken } from "../lib/tokens.ts";
import { ForbiddenError, UnauthorizedError } from "../lib/errors.ts";

export const SESSION_COOKIE = "mlops_session";

/** Whether `token` is the admin token (constant-time on the hashes). */
export function isAdminToken(token: string, adminTokenSha256: string): boolean {
  const x = Buffer.from(hashToken(token), "hex");
  const y = Buffer.from(adminTokenSha256, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The session id the request's cookie carries, if any. */
export function sessionIdOf(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/**
 * Middleware for pages. Without a session, a GET goes to /login (and comes back after), anything else is 401.
 * A signed-in POST, PATCH or DELETE must come from htmx (HX-Request: true), else 403.
 */
export function requirePageSession(sessions: Pick<PageSessions, "valid">): MiddlewareHandler {
  return async (c, next) => {
    if (!sessions.valid(sessionIdOf(c))) {
      if (c.req.method === "GET" || c.req.method === "HEAD") {
        const url = new URL(c.req.url);
        return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
      }
      throw new UnauthorizedError("sign in first: open /login with the admin token");
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.header("hx-request") !== "true") {
      throw new ForbiddenError("page actions are made from the pages (htmx requests); scripts use the JSON API under /api with the Bearer token");
    }
    await next();
  };
}

// Resolving against a made-up origin tells whether a browser would stay on this server.
const PROBE_ORIGIN = "http://mlops.invalid";

/**
 * `next` as a path on this server, else "/": a sign-in link must not send anyone elsewhere. Read as a browser reads
 * a URL: tab, LF and CR removed wherever they are, leading and trailing C0 controls and spaces trimmed, backslashes
 * taken as slashes; then anything that leaves the origin (`//host`, `/\host`, `https://…`, `javascript:`) is refused.
 */
export function safeNext(next: string | undefined): string {
  if (!next) return "/";
  const cleaned = next.replace(/[\t\n\r]/g, "").replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "");
  if (!cleaned.startsWith("/")) return "/";
  let url: URL;
  try {
    url = new URL(cleaned, PROBE_ORIGIN);
  } catch {
    return "/";
  }
  if (url.origin !== PROBE_ORIGIN) return "/";
  const path = url.pathname + url.search + url.hash;
  // A path that starts with two slashes would be a host again when the browser reads the Location header.
  return path.startsWith("//") ? "/" : path;
}
