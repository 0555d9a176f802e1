// Page sessions, kept in SQLite. Signing in with the admin token makes a random id (256 bits, URL-safe) that only
// the browser's cookie holds; the database keeps its SHA-256, so reading the database forges nothing. A session ends
// when it expires (checked here, on the server, whatever the cookie says), when the admin signs out (the row is
// deleted, so a copied cookie stops working at once), and when the admin token changes (reset-admin-token, or
// another ADMIN_TOKEN at start): each row carries a tag of the token it was made under, HMAC-SHA256 keyed by the
// session id over the token's hash. Only the cookie holds the id, so the database alone lets nobody test guesses of
// the admin token against it (a hash of the token itself would, for a token a person chose).
import { and, eq, gt, lte } from "drizzle-orm";
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "../db/connection.ts";
import { pageSessions } from "../db/schema.ts";
import { systemClock, type Clock } from "../lib/clock.ts";

/** A page session lasts this long; then the pages ask for the token again. */
export const SESSION_SECONDS = 7 * 24 * 3600;

const hash = (id: string) => createHash("sha256").update(id).digest("hex");

/** The tag a session row keeps: which admin token session `id` was made under, checkable only with the id. */
export function adminTag(id: string, adminTokenSha256: string): string {
  return createHmac("sha256", id).update(adminTokenSha256).digest("hex");
}

export class PageSessions {
  constructor(
    private readonly db: Db,
    /** The admin token sessions are made under now. */
    private readonly adminTokenSha256: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** A new session for the admin: returns the id for the cookie (not stored). Removes expired sessions on the way. */
  create(): string {
    const id = randomBytes(32).toString("base64url");
    const now = this.clock.now();
    this.db.delete(pageSessions).where(lte(pageSessions.expiresAt, now)).run();
    this.db
      .insert(pageSessions)
      .values({ idSha256: hash(id), adminTag: adminTag(id, this.adminTokenSha256), expiresAt: now + SESSION_SECONDS * 1000 })
      .run();
    return id;
  }

  /** Whether `id` (from a cookie) is a live session of the current admin token. */
  valid(id: string | undefined): boolean {
    if (!id || id.length > 200) return false;
    const row = this.db
      .select({ tag: pageSessions.adminTag })
      .from(pageSessions)
      .where(and(eq(pageSessions.idSha256, hash(id)), gt(pageSessions.expiresAt, this.clock.now())))
      .get();
    if (!row) return false;
    const want = Buffer.from(adminTag(id, this.adminTokenSha256), "hex");
    const got = Buffer.from(row.tag, "hex");
    return got.length === want.length && timingSafeEqual(got, want);
  }

  /** End session `id` (sign out). Unknown ids are ignored. */
  revoke(id: string | undefined): void {
    if (id)
      this.db
        .delete(pageSessions)
        .where(eq(pageSessions.idSha256, hash(id)))
        .run();
  }
}

/** End every page session (a new admin token). */
export function revokeAllPageSessions(db: Db): number {
  return db.$client.run("DELETE FROM page_sessions").changes;
}
