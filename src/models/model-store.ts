// Model versions and the deployment history in SQLite. Which version serves is the newest deployments row.
import { and, desc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { deployments, modelVersions } from "../db/schema.ts";
import { NotFoundError } from "../lib/errors.ts";
import { claimModel, ModelOwners } from "./model-owners.ts";

export type ModelVersionRow = typeof modelVersions.$inferSelect;
export type DeploymentRow = typeof deployments.$inferSelect;
export type NewModelVersion = Omit<typeof modelVersions.$inferInsert, "id" | "version" | "createdAt">;

export type DeployReason = "pipeline" | "manual" | "rollback" | "undeploy" | "restore";

/** Storage for model versions and deployments. Synchronous. */
export class ModelStore {
  /** Which repository each model name belongs to. */
  readonly owners: ModelOwners;

  constructor(private readonly db: Db) {
    this.owners = new ModelOwners(db);
  }

  /**
   * Insert the next integer version of `modelName` (1 for a new model) atomically; returns the row.
   * `place(version)`, when given, runs inside the transaction (e.g. renames files into place) and returns the stored path;
   * if it throws, nothing is inserted. `opts.version` stores that version number instead (restoring a version made
   * elsewhere); it must not exist yet. `opts.owner` (a repository's full name) first claims the model name for that
   * repository in the same transaction: ModelOwnedError when another repository holds it, and then nothing is
   * inserted and `place` never runs.
   */
  register(v: NewModelVersion, place?: (version: number) => string, opts: { version?: number; owner?: string } = {}): ModelVersionRow {
    return this.db.transaction(
      (tx) => {
        if (opts.owner !== undefined) claimModel(this.db.$client, v.modelName, opts.owner);
        const max = tx
          .select({ v: sql<number | null>`max(${modelVersions.version})` })
          .from(modelVersions)
          .where(eq(modelVersions.modelName, v.modelName))
          .get()?.v;
        const version = opts.version ?? (max ?? 0) + 1;
        const path = place ? place(version) : v.path;
        return tx
          .insert(modelVersions)
          .values({ ...v, path, version })
          .returning()
          .get();
      },
      { behavior: "immediate" },
    );
  }

  /** Change a version's status with the reason (e.g. rejected by the deploy gate). */
  setStatus(modelName: string, version: number, status: string, reason: string | null = null): void {
    this.db
      .update(modelVersions)
      .set({ status, reason })
      .where(and(eq(modelVersions.modelName, modelName), eq(modelVersions.version, version)))
      .run();
  }

  /** One version; throws NotFoundError naming the model and version. */
  get(modelName: string, version: number): ModelVersionRow {
    const row = this.db
      .select()
      .from(modelVersions)
      .where(and(eq(modelVersions.modelName, modelName), eq(modelVersions.version, version)))
      .get();
    if (!row) throw new NotFoundError(`model "${modelName}" has no version ${version}`);
    return row;
  }

  /** All versions of one model, newest first (empty when the model is unknown). */
  versions(modelName: string): ModelVersionRow[] {
    return this.db.select().from(modelVersions).where(eq(modelVersions.modelName, modelName)).orderBy(desc(modelVersions.version)).all();
  }

  /** Names of every model with at least one version. */
  modelNames(): string[] {
    return this.db
      .selectDistinct({ n: modelVersions.modelName })
      .from(modelVersions)
      .orderBy(modelVersions.modelName)
      .all()
      .map((r) => r.n);
  }

  /** Append a deployment record (version null = undeployed). */
  recordDeployment(d: { modelName: string; version: number | null; reason: DeployReason; pipelineId?: number | null; actor?: string | null }): DeploymentRow {
    return this.db
      .insert(deployments)
      .values({ ...d, pipelineId: d.pipelineId ?? null, actor: d.actor ?? null })
      .returning()
      .get();
  }

  /** The version that should serve now, or null. */
  deployedVersion(modelName: string): number | null {
    return (
      this.db.select({ v: deployments.version }).from(deployments).where(eq(deployments.modelName, modelName)).orderBy(desc(deployments.id)).limit(1).get()
        ?.v ?? null
    );
  }

  /** Every model whose newest deployment names a version: what a starting server restores. */
  allDeployed(): { modelName: string; version: number }[] {
    return this.db.$client
      .query<{ modelName: string; version: number }, []>(
        `SELECT d.model_name AS modelName, d.version AS version FROM deployments d
         WHERE d.id = (SELECT max(id) FROM deployments WHERE model_name = d.model_name) AND d.version IS NOT NULL`,
      )
      .all();
  }

  /** Versions of a model that were deployed at some time (in its deployment history), newest first. */
  everDeployed(modelName: string): number[] {
    return this.db.$client
      .query<{ version: number }, [string]>("SELECT DISTINCT version FROM deployments WHERE model_name = ? AND version IS NOT NULL ORDER BY version DESC")
      .all(modelName)
      .map((r) => r.version);
  }

  /** Deployment history of a model, newest first. */
  history(modelName: string, limit = 100): DeploymentRow[] {
    return this.db.select().from(deployments).where(eq(deployments.modelName, modelName)).orderBy(desc(deployments.id)).limit(limit).all();
  }
}
