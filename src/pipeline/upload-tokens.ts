// Upload tokens: the one credential of POST /api/pipelines/{id}/artifacts, through which a notebook run elsewhere
// (a Ray job) sends its results back. Each is random (256 bits, URL-safe), good for one pipeline only and only while
// that pipeline runs; the database keeps its SHA-256 alone, so reading the database lets nobody upload. A pipeline has
// at most one live token: issuing again replaces it (a new attempt of the same pipeline), and every end of the
// pipeline deletes it (revokeOnEnd hooks onto PipelineEnding).
import { and, eq, sql } from "drizzle-orm";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "../db/connection.ts";
import { pipelines, uploadTokens } from "../db/schema.ts";
import { NotFoundError } from "../lib/errors.ts";
import { hashToken } from "../lib/tokens.ts";
import type { PipelineEnding } from "./pipeline-ending.ts";

/** Longest token checked: ours are 43 characters; anything far longer is not one and is not hashed. */
const MAX_TOKEN_CHARS = 256;
/** Compared against when a pipeline has no live token, so a miss costs the same compare as a hit. */
const NO_TOKEN_SHA256 = "0".repeat(64);

export class UploadTokens {
  constructor(private readonly db: Db) {}

  /**
   * A new upload token for pipeline `pipelineId`, returned once and stored only as its SHA-256; it replaces the
   * pipeline's previous token, which stops working at once. Throws NotFoundError when the pipeline does not exist.
   */
  issue(pipelineId: number): string {
    const token = randomBytes(32).toString("base64url");
    const tokenSha256 = hashToken(token);
    this.db.transaction(
      (tx) => {
        if (!tx.select({ id: pipelines.id }).from(pipelines).where(eq(pipelines.id, pipelineId)).get())
          throw new NotFoundError(`pipeline ${pipelineId} does not exist`);
        tx.insert(uploadTokens)
          .values({ pipelineId, tokenSha256 })
          .onConflictDoUpdate({ target: uploadTokens.pipelineId, set: { tokenSha256, issuedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))` } })
          .run();
      },
      { behavior: "immediate" },
    );
    return token;
  }

  /**
   * Whether `token` is pipeline `pipelineId`'s live upload token and the pipeline is running, both read in one
   * statement. The hashes are compared in constant time. Never throws for any input.
   */
  check(pipelineId: number, token: string): boolean {
    if (!Number.isSafeInteger(pipelineId) || token.length === 0 || token.length > MAX_TOKEN_CHARS) return false;
    const row = this.db
      .select({ sha: uploadTokens.tokenSha256 })
      .from(uploadTokens)
      .innerJoin(pipelines, eq(pipelines.id, uploadTokens.pipelineId))
      .where(and(eq(uploadTokens.pipelineId, pipelineId), eq(pipelines.status, "running")))
      .get();
    const same = timingSafeEqual(Buffer.from(hashToken(token), "hex"), Buffer.from(row?.sha ?? NO_TOKEN_SHA256, "hex"));
    return same && row !== undefined;
  }

  /** Delete pipeline `pipelineId`'s token, if any: it stops working at once. Idempotent. */
  revoke(pipelineId: number): void {
    this.db.delete(uploadTokens).where(eq(uploadTokens.pipelineId, pipelineId)).run();
  }

  /** Revoke a pipeline's token at each of its ends, whatever ends it (a run, a cancel, a newer push, start-up recovery). */
  revokeOnEnd(ending: PipelineEnding): void {
    ending.listen(({ id }) => this.revoke(id));
  }
}
