// Page sessions, kept in SQLite. Signing in with the admin token makes a random id (256 bits, URL-safe) that only
// the browser's cookie holds; the database keeps its SHA-256, so reading the database forges nothing. A session ends
// when it expires (checked here, on the server, whatever the cookie says), when the admin signs out (the row is
// deleted, so a copied cookie stops working at once), and when the admin token changes (reset-admin-token, or
// another ADMIN_TOKEN at start): each row names the token hash it was made under.
import { and, eq, gt, lte } from "drizzle-orm";
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/connection.ts";
import { pageSessions } from "../db/schema.ts";
import { systemClock, type Clock } from "../lib/clock.ts";

/** A page session lasts this long; then the pages ask for the token again. */
export const SESSION_SECONDS = 7 * 24 * 3600;

const hash = (id: string) => createHash("sha256").update(id).digest("hex");

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
      .values({ idSha256: hash(id), adminTokenSha256: this.adminTokenSha256, expiresAt: now + SESSION_SECONDS * 1000 })
      .run();
    return id;
  }

  /** Whether `id` (from a cookie) is a live session of the current admin token. */
  valid(id: string | undefined): boolean {
    if (!id || id.length > 200) return false;
    const row = this.db
      .select({ token: pageSessions.adminTokenSha256 })
      .from(pageSessions)
      .where(and(eq(pageSessions.idSha256, hash(id)), gt(pageSessions.expiresAt, this.clock.now())))
      .get();
    // Comparing two hashes the database holds: no secret of the caller's is timed here.
    return row?.token === this.adminTokenSha256;
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
