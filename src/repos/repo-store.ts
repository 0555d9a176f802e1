// Registered repositories in SQLite, returned as plain objects in the API's shape (snake_case).
import { asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { repositories } from "../db/schema.ts";
import { ConflictError, NotFoundError } from "../lib/errors.ts";
import type { RayResources } from "../runner/ray-resources.ts";

/** A registered repository as the API shows it. `deploy_threshold` null = use MIN_ACCURACY_THRESHOLD. */
export type Repo = {
  id: number;
  full_name: string;
  clone_url: string;
  branch: string;
  notebook_glob: string;
  deploy_metric: string;
  deploy_threshold: number | null;
  /** What its notebooks ask of a Ray cluster (RUNNER_BACKEND=ray); a notebook's metadata mlops.resources wins per key. null: nothing. */
  runner_resources: RayResources | null;
  created_at: string;
  updated_at: string;
};

/** Fields given when registering; all but `full_name` have defaults (see `RepoStore.create`). */
export type NewRepo = {
  full_name: string;
  clone_url?: string;
  branch?: string;
  notebook_glob?: string;
  deploy_metric?: string;
  deploy_threshold?: number | null;
  runner_resources?: RayResources | null;
};

/** Fields a PATCH may change; absent fields stay as they are. */
export type RepoPatch = Partial<NewRepo>;

export const DEFAULT_BRANCH = "main";
export const DEFAULT_NOTEBOOK_GLOB = "**/*.ipynb";
export const DEFAULT_DEPLOY_METRIC = "accuracy";

/** The clone URL used when none is given: GitHub's HTTPS URL for `owner/name`. */
export function defaultCloneUrl(fullName: string): string {
  return `https://github.com/${fullName}.git`;
}

type Row = typeof repositories.$inferSelect;

const toRepo = (r: Row): Repo => ({
  id: r.id,
  full_name: r.fullName,
  clone_url: r.cloneUrl,
  branch: r.branch,
  notebook_glob: r.notebookGlob,
  deploy_metric: r.deployMetric,
  deploy_threshold: r.deployThreshold,
  // Written only through NewRepo/RepoPatch, which the API's schema has checked.
  runner_resources: r.runnerResources === null ? null : (JSON.parse(r.runnerResources) as RayResources),
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

const resourcesText = (r: RayResources | null | undefined) => (r ? JSON.stringify(r) : null);

// GitHub treats owner/name case-insensitively, and webhooks may spell it differently from the registration.
const sameName = (fullName: unknown) => sql`lower(${repositories.fullName}) = lower(${fullName})`;

/** Storage for registered repositories. All methods are synchronous (bun:sqlite). */
export class RepoStore {
  // Prepared once: these two run on every webhook delivery and every pipeline, and drizzle's per-call build costs ~10×.
  private readonly byId;
  private readonly byName;

  constructor(private readonly db: Db) {
    this.byId = db
      .select()
      .from(repositories)
      .where(eq(repositories.id, sql.placeholder("id")))
      .prepare();
    this.byName = db
      .select()
      .from(repositories)
      .where(sameName(sql.placeholder("name")))
      .prepare();
  }

  /** Register a repository, filling defaults (branch main, glob `**\/*.ipynb`, metric accuracy, GitHub clone URL). Throws ConflictError when the name (any case) is taken. */
  create(input: NewRepo): Repo {
    return this.db.transaction(
      (tx) => {
        const taken = tx.select({ id: repositories.id }).from(repositories).where(sameName(input.full_name)).get();
        if (taken) throw new ConflictError(`repository ${input.full_name} is already registered`, { id: taken.id });
        const row = tx
          .insert(repositories)
          .values({
            fullName: input.full_name,
            cloneUrl: input.clone_url ?? defaultCloneUrl(input.full_name),
            branch: input.branch ?? DEFAULT_BRANCH,
            notebookGlob: input.notebook_glob ?? DEFAULT_NOTEBOOK_GLOB,
            deployMetric: input.deploy_metric ?? DEFAULT_DEPLOY_METRIC,
            deployThreshold: input.deploy_threshold ?? null,
            runnerResources: resourcesText(input.runner_resources),
            updatedAt: new Date().toISOString(),
          })
          .returning()
          .get();
        return toRepo(row);
      },
      { behavior: "immediate" },
    );
  }

  /** All repositories, oldest registration first. */
  list(): Repo[] {
    return this.db.select().from(repositories).orderBy(asc(repositories.id)).all().map(toRepo);
  }

  /** The repository with this id, or undefined. */
  find(id: number): Repo | undefined {
    const row = this.byId.get({ id });
    return row && toRepo(row);
  }

  /** The repository with this id; throws NotFoundError when there is none. */
  get(id: number): Repo {
    const repo = this.find(id);
    if (!repo) throw new NotFoundError(`repository ${id} does not exist`);
    return repo;
  }

  /** The repository registered as `owner/name` (compared case-insensitively), or undefined. */
  getByFullName(fullName: string): Repo | undefined {
    const row = this.byName.get({ name: fullName });
    return row && toRepo(row);
  }

  /** Change the given fields and bump updated_at (an empty patch changes nothing). Throws NotFoundError, or ConflictError when renaming onto a registered name. */
  update(id: number, patch: RepoPatch): Repo {
    return this.db.transaction(
      (tx) => {
        const current = tx.select().from(repositories).where(eq(repositories.id, id)).get();
        if (!current) throw new NotFoundError(`repository ${id} does not exist`);
        const fields: Partial<Row> = {};
        if (patch.full_name !== undefined) {
          const taken = tx.select({ id: repositories.id }).from(repositories).where(sameName(patch.full_name)).get();
          if (taken && taken.id !== id) throw new ConflictError(`repository ${patch.full_name} is already registered`, { id: taken.id });
          fields.fullName = patch.full_name;
        }
        if (patch.clone_url !== undefined) fields.cloneUrl = patch.clone_url;
        if (patch.branch !== undefined) fields.branch = patch.branch;
        if (patch.notebook_glob !== undefined) fields.notebookGlob = patch.notebook_glob;
        if (patch.deploy_metric !== undefined) fields.deployMetric = patch.deploy_metric;
        if (patch.deploy_threshold !== undefined) fields.deployThreshold = patch.deploy_threshold;
        if (patch.runner_resources !== undefined) fields.runnerResources = resourcesText(patch.runner_resources);
        if (!Object.keys(fields).length) return toRepo(current);
        const row = tx
          .update(repositories)
          .set({ ...fields, updatedAt: new Date().toISOString() })
          .where(eq(repositories.id, id))
          .returning()
          .get();
        return toRepo(row!);
      },
      { behavior: "immediate" },
    );
  }

  /** Unregister; its pipelines stay, with repo_id set to NULL by the foreign key. Throws NotFoundError when there is none. */
  delete(id: number): void {
    const gone = this.db.delete(repositories).where(eq(repositories.id, id)).returning({ id: repositories.id }).get();
    if (!gone) throw new NotFoundError(`repository ${id} does not exist`);
  }

  /** How many repositories are registered. */
  count(): number {
    return this.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM repositories").get()?.n ?? 0;
  }
}
