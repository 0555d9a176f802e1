// Bearer-token guards (/api: the admin token; serving: PREDICT_TOKEN or the admin token): constant-time comparison of
// token hashes, 401 without detail. The header is parsed by hand: it is request input, so no backtracking pattern runs over it.
import type { Context, MiddlewareHandler } from "hono";
import { timingSafeEqual } from "node:crypto";
import { hashToken } from "../lib/tokens.ts";
import { UnauthorizedError } from "../lib/errors.ts";

/** The token of an `Authorization: Bearer <token>` header (scheme in any case, one or more spaces, no space inside), or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header || header.length < 8 || header.slice(0, 6).toLowerCase() !== "bearer" || !isSpace(header[6]!)) return null;
  let i = 7;
  while (i < header.length && isSpace(header[i]!)) i++;
  const token = header.slice(i);
  for (const ch of token) if (isSpace(ch)) return null;
  return token === "" ? null : token;
}

/** Whether the request's bearer token is one of the tokens whose SHA-256 (hex) is in `acceptedSha256`; constant-time per hash. */
export function hasBearerToken(c: Context, acceptedSha256: readonly string[]): boolean {
  const token = bearerToken(c.req.header("authorization"));
  if (token === null) return false;
  const given = Buffer.from(hashToken(token), "hex");
  let ok = false;
  // Compare against every accepted hash, so the time does not tell which one matched.
  for (const sha of acceptedSha256) ok = timingSafeEqual(given, Buffer.from(sha, "hex")) || ok;
  return ok;
}

/** Middleware that lets a request through only with `Authorization: Bearer <t>` for a t whose hash is in `acceptedSha256`; else 401. */
export function requireBearer(acceptedSha256: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    if (!hasBearerToken(c, acceptedSha256)) throw new UnauthorizedError();
    await next();
  };
}

/** Middleware that lets a request through only with `Authorization: Bearer <admin token>`. */
export function requireAdmin(adminTokenSha256: string): MiddlewareHandler {
  return requireBearer([adminTokenSha256]);
}

/**
 * Middleware that lets a request through with the admin token, or with a token `check` accepts (it returns the token's
 * id, which handlers read as c.get("tokenId"); undefined for the admin token); else 401. Used only where a second
 * kind of credential is good (the replica tokens of /api/replication/).
 */
export function requireAdminOr(adminTokenSha256: string, check: (token: string) => number | undefined): MiddlewareHandler<{ Variables: { tokenId?: number } }> {
  return async (c, next) => {
    if (!hasBearerToken(c, [adminTokenSha256])) {
      const token = bearerToken(c.req.header("authorization"));
      const id = token === null ? undefined : check(token);
      if (id === undefined) throw new UnauthorizedError();
      c.set("tokenId", id);
    }
    await next();
  };
}

// What /\s/ matches: String.prototype.trim strips exactly the WhiteSpace and LineTerminator characters.
function isSpace(ch: string): boolean {
  return ch.trim() === "";
}
