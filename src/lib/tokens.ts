// Tokens the server makes and checks (admin, webhook secret): random, URL-safe, stored only as SHA-256 where they
// only need checking.
import { createHash, randomBytes } from "node:crypto";

/** sha256 of a token, hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** A new random token, URL-safe. */
export function newToken(): string {
  return randomBytes(24).toString("base64url");
}
