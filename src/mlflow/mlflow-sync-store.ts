// The mlflow_sync rows: per pipeline, which sync steps are done, and whether it is pending, synced or failed.
import { count, desc, eq, isNotNull } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { mlflowSync } from "../db/schema.ts";

export type MlflowSyncRow = typeof mlflowSync.$inferSelect;
export type MlflowSyncStatus = MlflowSyncRow["status"];
/** The steps' results, written as each completes. */
/** How syncing to MLflow stands, for the home page. */
export type MlflowSyncHealth = {
  pending: number;
  failed: number;
  /** When a pipeline last synced (ISO), or null. */
  lastSyncedAt: string | null;
  /** The newest sync that did not get through (retrying while pending, given up when failed), or null when none. */
  lastError: { pipelineId: number; status: MlflowSyncStatus; message: string; at: string } | null;
};
export type MlflowSyncProgress = Partial<Pick<MlflowSyncRow, "experimentId" | "runId" | "artifactUri" | "logged" | "artifacts" | "modelVersion">>;

const now = () => new Date().toISOString();

export class MlflowSyncStore {
  constructor(private readonly db: Db) {}

  /** The row of `pipelineId`, or undefined when MLflow never heard of it. */
  find(pipelineId: number): MlflowSyncRow | undefined {
    return this.db.select().from(mlflowSync).where(eq(mlflowSync.pipelineId, pipelineId)).get();
  }

  /** The row of `pipelineId`, created pending when missing. */
  ensure(pipelineId: number): MlflowSyncRow {
    this.db.insert(mlflowSync).values({ pipelineId, status: "pending" }).onConflictDoNothing().run();
    return this.find(pipelineId)!;
  }

  /** Record completed steps. */
  progress(pipelineId: number, done: MlflowSyncProgress): void {
    this.db
      .update(mlflowSync)
      .set({ ...done, updatedAt: now() })
      .where(eq(mlflowSync.pipelineId, pipelineId))
      .run();
  }

  /** Record an attempt's end: synced, failed for good, or still pending with why it did not get through. */
  attempt(pipelineId: number, status: MlflowSyncStatus, error: string | null): void {
    const row = this.ensure(pipelineId);
    this.db
      .update(mlflowSync)
      .set({ status, lastError: error, attempts: row.attempts + 1, updatedAt: now() })
      .where(eq(mlflowSync.pipelineId, pipelineId))
      .run();
  }

  /** How many pipelines' syncs are pending, synced and failed (statuses with none are absent). */
  counts(): Record<string, number> {
    const rows = this.db.select({ status: mlflowSync.status, n: count() }).from(mlflowSync).groupBy(mlflowSync.status).all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** Backlog, last success and newest error of the syncs; a few queries over the mlflow_sync rows (one per pipeline). */
  health(): MlflowSyncHealth {
    const counts = this.counts();
    const synced = this.db
      .select({ at: mlflowSync.updatedAt })
      .from(mlflowSync)
      .where(eq(mlflowSync.status, "synced"))
      .orderBy(desc(mlflowSync.updatedAt))
      .limit(1)
      .get();
    const err = this.db.select().from(mlflowSync).where(isNotNull(mlflowSync.lastError)).orderBy(desc(mlflowSync.updatedAt)).limit(1).get();
    return {
      pending: counts.pending ?? 0,
      failed: counts.failed ?? 0,
      lastSyncedAt: synced?.at ?? null,
      lastError: err ? { pipelineId: err.pipelineId, status: err.status, message: err.lastError!, at: err.updatedAt } : null,
    };
  }

  /** Pipelines whose sync has not got through yet. */
  pending(): MlflowSyncRow[] {
    return this.db.select().from(mlflowSync).where(eq(mlflowSync.status, "pending")).all();
  }
}
