// Sessions for the web pages: the admin token, typed once into /login, becomes an HttpOnly SameSite=Strict cookie.
// The cookie holds an HMAC derived from the token's hash, never the token itself, and a new admin token
// (reset-admin-token) ends every session. Page actions (POST) also need htmx's HX-Request header, which a
// cross-site form cannot send: with the SameSite cookie, that keeps other sites from acting for a signed-in user.
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { createHmac, timingSafeEqual } from "node:crypto";
import { hashToken } from "../db/settings-store.ts";
import { ForbiddenError, UnauthorizedError } from "../lib/errors.ts";

export const SESSION_COOKIE = "mlops_session";
/** A page session lasts this long; then /login asks for the token again. */
export const SESSION_SECONDS = 7 * 24 * 3600;

/** The cookie value that proves a session for the admin token whose SHA-256 is `adminTokenSha256`. */
export function sessionValue(adminTokenSha256: string): string {
  return createHmac("sha256", Buffer.from(adminTokenSha256, "hex")).update("mlops page session v1").digest("hex");
}

/** Whether `token` is the admin token (constant-time on the hashes). */
export function isAdminToken(token: string, adminTokenSha256: string): boolean {
  return sameHex(hashToken(token), adminTokenSha256);
}

/** Whether the request carries a valid session cookie. */
export function hasSession(c: Context, adminTokenSha256: string): boolean {
  const given = getCookie(c, SESSION_COOKIE);
  return given !== undefined && sameHex(given, sessionValue(adminTokenSha256));
}

/** The Cookie header a test (or script) sends to be signed in. */
export function sessionCookieHeader(adminToken: string): string {
  return `${SESSION_COOKIE}=${sessionValue(hashToken(adminToken))}`;
}

/**
 * Middleware for pages. Without a session, a GET goes to /login (and comes back after), anything else is 401.
 * A signed-in POST, PATCH or DELETE must come from htmx (HX-Request: true), else 403.
 */
export function requirePageSession(adminTokenSha256: string): MiddlewareHandler {
  return async (c, next) => {
    if (!hasSession(c, adminTokenSha256)) {
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

/** `next` when it is a path on this server, else "/": a login link must not send anyone elsewhere. */
export function safeNext(next: string | undefined): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
