// Replica tokens: the credential a serving replica shows the primary, good only under /api/replication/ (reading the
// desired deployments and model files). Each is random (256 bits, URL-safe), shown once when made; the database keeps
// its SHA-256 alone, so reading the database lets nobody replicate. Revoking deletes the row: the token stops working
// at once, and listeners (the open deployments streams of that token) hear of it.
import { desc, eq } from "drizzle-orm";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "../db/connection.ts";
import { replicaTokens } from "../db/schema.ts";
import { NotFoundError } from "../lib/errors.ts";
import { hashToken } from "../lib/tokens.ts";

/** Longest token checked: ours are 43 characters; anything far longer is not one and is not hashed. */
const MAX_TOKEN_CHARS = 256;
/** last_used_at is written at most this often per token, so a busy replica does not turn every read into a write. */
const LAST_USED_EVERY_MS = 60_000;

/** A token as listed: never the token itself. */
export type ReplicaTokenInfo = { id: number; name: string; created_at: string; last_used_at: string | null };
/** A token just made: the one time the token itself is seen. */
export type NewReplicaToken = { id: number; name: string; token: string; created_at: string };

export class ReplicaTokens {
  private readonly lastUsedWritten = new Map<number, number>();
  private readonly revokeListeners = new Set<(id: number) => void>();

  /** `now` (epoch ms) decides when last_used_at is due again; tests step it. */
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** Make a token labelled `name` (may be empty); returns it with its id. The token is not stored, only its hash. */
  create(name = ""): NewReplicaToken {
    const token = randomBytes(32).toString("base64url");
    const row = this.db
      .insert(replicaTokens)
      .values({ name, tokenSha256: hashToken(token) })
      .returning()
      .get();
    return { id: row.id, name: row.name, token, created_at: row.createdAt };
  }

  /** Every live token, newest first, without the tokens. */
  list(): ReplicaTokenInfo[] {
    return this.db
      .select()
      .from(replicaTokens)
      .orderBy(desc(replicaTokens.id))
      .all()
      .map((r) => ({ id: r.id, name: r.name, created_at: r.createdAt, last_used_at: r.lastUsedAt }));
  }

  /** Delete token `id`: it is refused from now on and revoke listeners hear of it. Throws NotFoundError for an unknown id. */
  revoke(id: number): void {
    const gone = this.db.delete(replicaTokens).where(eq(replicaTokens.id, id)).returning({ id: replicaTokens.id }).get();
    if (!gone) throw new NotFoundError(`replica token ${id} does not exist`);
    this.lastUsedWritten.delete(id);
    for (const listener of this.revokeListeners) listener(id);
  }

  /**
   * The id of the live token `token`, or undefined. Every stored hash is compared in constant time, so the time taken
   * does not tell how close a guess came; a hit refreshes last_used_at when a minute has passed. Never throws for any input.
   */
  check(token: string): number | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return undefined;
    const given = Buffer.from(hashToken(token), "hex");
    let found: number | undefined;
    for (const row of this.db.select({ id: replicaTokens.id, sha: replicaTokens.tokenSha256 }).from(replicaTokens).all()) {
      if (timingSafeEqual(given, Buffer.from(row.sha, "hex"))) found = row.id;
    }
    if (found !== undefined) this.noteUse(found);
    return found;
  }

  /** Whether token `id` is still live (not revoked). */
  isLive(id: number): boolean {
    return this.db.select({ id: replicaTokens.id }).from(replicaTokens).where(eq(replicaTokens.id, id)).get() !== undefined;
  }

  /** Call `listener` with the id of each token revoked in this process; returns the unsubscribe function. */
  onRevoke(listener: (id: number) => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  private noteUse(id: number): void {
    const now = this.now();
    const last = this.lastUsedWritten.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    this.lastUsedWritten.set(id, now);
    this.db
      .update(replicaTokens)
      .set({ lastUsedAt: new Date(now).toISOString() })
      .where(eq(replicaTokens.id, id))
      .run();
  }
}
