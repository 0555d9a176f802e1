// Bearer-token guard for /api: constant-time comparison of token hashes, 401 without detail.
import type { MiddlewareHandler } from "hono";
import { timingSafeEqual } from "node:crypto";
import { hashToken } from "../db/settings-store.ts";
import { UnauthorizedError } from "../lib/errors.ts";

/** Middleware that lets a request through only with `Authorization: Bearer <admin token>`. */
export function requireAdmin(adminTokenSha256: string): MiddlewareHandler {
  const expected = Buffer.from(adminTokenSha256, "hex");
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const given = Buffer.from(hashToken(match?.[1] ?? ""), "hex");
    if (!match || !timingSafeEqual(given, expected)) throw new UnauthorizedError();
    await next();
  };
}
