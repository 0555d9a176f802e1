// Pipelines, their phases, log lines and recorded processes in SQLite; the one place pipeline state changes.
import { and, count, desc, eq, inArray, isNotNull, max, ne, type SQL } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { pipelineLogLines, pipelinePhases, pipelineProcesses, pipelines } from "../db/schema.ts";
import { NotFoundError } from "../lib/errors.ts";
import type { PipelineFailure } from "./pipeline-failure.ts";
import { isTerminalStatus, PHASES, PhaseStatus, type PhaseName, type PipelineStatus } from "./pipeline-states.ts";

export type NewPipeline = {
  repoId: number | null;
  deliveryId?: string | null;
  trigger: "push" | "manual" | "retry";
  ref: string;
  commitSha: string;
  beforeSha?: string | null;
  notebookPath: string;
  modelName?: string | null;
  retryOf?: number | null;
};

export type PipelineRow = typeof pipelines.$inferSelect;
export type PhaseRow = typeof pipelinePhases.$inferSelect;
export type LogLine = { seq: number; stream: string; line: string; at: number };

const nowIso = () => new Date().toISOString();

/** Storage for pipelines. All methods are synchronous (bun:sqlite). */
export class PipelineStore {
  constructor(private readonly db: Db) {}

  /** Insert a queued pipeline with its five pending phases; returns the row. */
  create(p: NewPipeline): PipelineRow {
    return this.db.transaction(
      (tx) => {
        const row = tx
          .insert(pipelines)
          .values({
            ...p,
            deliveryId: p.deliveryId ?? null,
            beforeSha: p.beforeSha ?? null,
            modelName: p.modelName ?? null,
            retryOf: p.retryOf ?? null,
            status: "queued",
          })
          .returning()
          .get();
        tx.insert(pipelinePhases)
          .values(PHASES.map((name, position) => ({ pipelineId: row.id, name, position, status: PhaseStatus.pending })))
          .run();
        return row;
      },
      { behavior: "immediate" },
    );
  }

  /** The pipeline or undefined. */
  find(id: number): PipelineRow | undefined {
    return this.db.select().from(pipelines).where(eq(pipelines.id, id)).get();
  }

  /** The pipeline; throws NotFoundError when missing. */
  get(id: number): PipelineRow {
    const row = this.find(id);
    if (!row) throw new NotFoundError(`pipeline ${id} does not exist`);
    return row;
  }

  /** The newest pipeline a push delivery started for `notebookPath`, or undefined. */
  findByDelivery(deliveryId: string, notebookPath: string): PipelineRow | undefined {
    return this.db
      .select()
      .from(pipelines)
      .where(and(eq(pipelines.deliveryId, deliveryId), eq(pipelines.notebookPath, notebookPath)))
      .orderBy(desc(pipelines.id))
      .get();
  }

  /** The newest pipeline of the repository for `notebookPath` at commit `commitSha` that was not cancelled, or undefined. */
  findAtCommit(repoId: number, commitSha: string, notebookPath: string): PipelineRow | undefined {
    return this.db
      .select()
      .from(pipelines)
      .where(and(eq(pipelines.repoId, repoId), eq(pipelines.commitSha, commitSha), eq(pipelines.notebookPath, notebookPath), ne(pipelines.status, "cancelled")))
      .orderBy(desc(pipelines.id))
      .get();
  }

  /** Newest first, filtered. */
  list(filter: { repoId?: number; status?: PipelineStatus; model?: string; limit?: number } = {}): PipelineRow[] {
    const where: SQL[] = [];
    if (filter.repoId !== undefined) where.push(eq(pipelines.repoId, filter.repoId));
    if (filter.status) where.push(eq(pipelines.status, filter.status));
    if (filter.model) where.push(eq(pipelines.modelName, filter.model));
    return this.db
      .select()
      .from(pipelines)
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(pipelines.id))
      .limit(filter.limit ?? 100)
      .all();
  }

  /** Phases in order. */
  phases(id: number): PhaseRow[] {
    return this.db.select().from(pipelinePhases).where(eq(pipelinePhases.pipelineId, id)).orderBy(pipelinePhases.position).all();
  }

  /** Mark the pipeline running (sets started_at once). */
  markRunning(id: number): void {
    const row = this.get(id);
    this.db
      .update(pipelines)
      .set({ status: "running", startedAt: row.startedAt ?? nowIso(), waitingReason: null, waitingSince: null })
      .where(eq(pipelines.id, id))
      .run();
  }

  /** Set fields of a pipeline that is not yet terminal (model name, metrics, version). */
  update(id: number, fields: Partial<Pick<PipelineRow, "modelName" | "metrics" | "modelVersion" | "runnerHandle" | "runnerNode">>): void {
    this.db.update(pipelines).set(fields).where(eq(pipelines.id, id)).run();
  }

  /**
   * Move a pipeline to a terminal status with its failure (its message is also the one-line `error`); pending/running
   * phases are closed (running → the same failure, pending → skipped). Returns false when it was already terminal.
   * Ending a pipeline goes through PipelineEnding, which tells the listeners; this only records.
   */
  finish(id: number, status: PipelineStatus, failure?: PipelineFailure | null): boolean {
    const error = failure?.message ?? null;
    return this.db.transaction(
      (tx) => {
        const row = tx.select().from(pipelines).where(eq(pipelines.id, id)).get();
        if (!row || isTerminalStatus(row.status)) return false;
        const at = nowIso();
        tx.update(pipelines)
          .set({ status, error, failure: failure ?? null, finishedAt: at })
          .where(eq(pipelines.id, id))
          .run();
        tx.update(pipelinePhases)
          .set({ status: status === "succeeded" ? "succeeded" : "failed", finishedAt: at, error: status === "succeeded" ? null : (error ?? status) })
          .where(and(eq(pipelinePhases.pipelineId, id), eq(pipelinePhases.status, "running")))
          .run();
        tx.update(pipelinePhases)
          .set({ status: "skipped" })
          .where(and(eq(pipelinePhases.pipelineId, id), eq(pipelinePhases.status, "pending")))
          .run();
        return true;
      },
      { behavior: "immediate" },
    );
  }

  /**
   * Put a pipeline a graceful stop cut short back to `queued`, as if it had not started (phases pending, timings,
   * error, metrics and version cleared; the log stays), once: returns false, changing nothing, when a stop already
   * did so before (the caller then fails it as interrupted) or when it has ended.
   */
  requeueAfterStop(id: number): boolean {
    return this.backToQueue(id, (row) => (row.shutdownRequeues > 0 ? undefined : { shutdownRequeues: row.shutdownRequeues + 1 }));
  }

  /**
   * Record that queued or running pipeline `id` waits because its runner cannot take it now (`reason`): a running
   * one goes back to queued as `requeueAfterStop` does (without counting it as a stop). Returns how long it has been
   * waiting, in ms (0 the first time), or undefined, changing nothing, when it has ended.
   */
  waitForRunner(id: number, reason: string): number | undefined {
    let since: string | null = null;
    const changed = this.backToQueue(id, (row) => {
      since = row.waitingSince ?? nowIso();
      return { waitingReason: reason, waitingSince: since };
    });
    return changed && since ? Date.now() - Date.parse(since) : undefined;
  }

  /** Put a pipeline that has not ended back to queued with `fields(row)` (undefined: change nothing), its phases pending. */
  private backToQueue(id: number, fields: (row: PipelineRow) => Partial<PipelineRow> | undefined): boolean {
    return this.db.transaction(
      (tx) => {
        const row = tx.select().from(pipelines).where(eq(pipelines.id, id)).get();
        if (!row || isTerminalStatus(row.status)) return false;
        const more = fields(row);
        if (!more) return false;
        if (row.status === "queued") {
          tx.update(pipelines).set(more).where(eq(pipelines.id, id)).run();
          return true;
        }
        tx.update(pipelines)
          .set({ status: "queued", error: null, failure: null, startedAt: null, finishedAt: null, metrics: null, modelVersion: null, ...more })
          .where(eq(pipelines.id, id))
          .run();
        tx.update(pipelinePhases).set({ status: "pending", startedAt: null, finishedAt: null, error: null }).where(eq(pipelinePhases.pipelineId, id)).run();
        return true;
      },
      { behavior: "immediate" },
    );
  }

  /** Record a phase transition; starting sets started_at, ending sets finished_at and the error. */
  setPhase(id: number, name: PhaseName, status: PhaseStatus, error?: string): void {
    const at = nowIso();
    const fields = status === "running" ? { status, startedAt: at, finishedAt: null, error: null } : { status, finishedAt: at, error: error ?? null };
    this.db
      .update(pipelinePhases)
      .set(fields)
      .where(and(eq(pipelinePhases.pipelineId, id), eq(pipelinePhases.name, name)))
      .run();
  }

  /** The phase pipeline `id` is in (the one running), or null when none runs. */
  runningPhase(id: number): PhaseName | null {
    const row = this.db
      .select({ name: pipelinePhases.name })
      .from(pipelinePhases)
      .where(and(eq(pipelinePhases.pipelineId, id), eq(pipelinePhases.status, "running")))
      .get();
    return (row?.name as PhaseName | undefined) ?? null;
  }

  /** The newest pipeline of each repository that has one, by repository id: one query, whatever the number of repositories. */
  newestPerRepo(): Map<number, PipelineRow> {
    const newest = this.db
      .select({ id: max(pipelines.id) })
      .from(pipelines)
      .where(isNotNull(pipelines.repoId))
      .groupBy(pipelines.repoId);
    const rows = this.db.select().from(pipelines).where(inArray(pipelines.id, newest)).all();
    return new Map(rows.map((r) => [r.repoId!, r]));
  }

  /** How many pipelines there are of each status, e.g. {"queued": 2, "running": 1}. */
  countByStatus(): Record<string, number> {
    const rows = this.db.select({ status: pipelines.status, n: count() }).from(pipelines).groupBy(pipelines.status).all();
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** Pipelines in one of `statuses`. */
  withStatus(statuses: PipelineStatus[]): PipelineRow[] {
    return this.db.select().from(pipelines).where(inArray(pipelines.status, statuses)).all();
  }

  /** Append log lines with the sequence numbers they carry; one transaction. Throws on a repeated seq. */
  appendLogs(id: number, lines: LogLine[]): void {
    if (!lines.length) return;
    // query() caches the compiled statement: this runs for every line a notebook prints
    const stmt = this.db.$client.query("INSERT INTO pipeline_log_lines (pipeline_id, seq, stream, line, at) VALUES (?, ?, ?, ?, ?)");
    this.db.$client.transaction(() => {
      for (const l of lines) stmt.run(id, l.seq, l.stream, l.line, l.at);
    })();
  }

  /** Log lines with seq > afterSeq, in order. */
  logs(id: number, afterSeq = 0, limit = 100_000): LogLine[] {
    return this.db.$client
      .query<LogLine, [number, number, number]>("SELECT seq, stream, line, at FROM pipeline_log_lines WHERE pipeline_id = ? AND seq > ? ORDER BY seq LIMIT ?")
      .all(id, afterSeq, limit);
  }

  /** UTF-8 bytes (plus one per line for its newline) of pipeline `id`'s stored log lines on streams other than `exceptStream`. */
  logBytes(id: number, exceptStream: string): number {
    return (
      this.db.$client
        .query<{ b: number | null }, [number, string]>(
          "SELECT sum(length(CAST(line AS BLOB)) + 1) AS b FROM pipeline_log_lines WHERE pipeline_id = ? AND stream <> ?",
        )
        .get(id, exceptStream)?.b ?? 0
    );
  }

  /** How many lines of output (every stream but the platform's own, `exceptStream`) pipeline `id`'s log holds. */
  outputLines(id: number, exceptStream: string): number {
    return (
      this.db.$client
        .query<{ n: number }, [number, string]>("SELECT count(*) AS n FROM pipeline_log_lines WHERE pipeline_id = ? AND stream <> ?")
        .get(id, exceptStream)?.n ?? 0
    );
  }

  /** When phase `name` of pipeline `id` last started (ms since the epoch), or undefined when it never did. */
  phaseStartedAt(id: number, name: PhaseName): number | undefined {
    const at = this.phases(id).find((p) => p.name === name)?.startedAt;
    return at ? Date.parse(at) : undefined;
  }

  /** The highest log sequence number stored, 0 when none. */
  lastLogSeq(id: number): number {
    return this.db.$client.query<{ s: number | null }, [number]>("SELECT max(seq) AS s FROM pipeline_log_lines WHERE pipeline_id = ?").get(id)?.s ?? 0;
  }

  /** Remember processes started for a pipeline (idempotent per pid). */
  recordProcesses(id: number, procs: { pid: number; startTime: string }[]): void {
    if (!procs.length) return;
    this.db
      .insert(pipelineProcesses)
      .values(procs.map((p) => ({ pipelineId: id, ...p })))
      .onConflictDoNothing()
      .run();
  }

  /** Processes recorded for a pipeline. */
  processes(id: number): { pid: number; startTime: string }[] {
    return this.db
      .select({ pid: pipelineProcesses.pid, startTime: pipelineProcesses.startTime })
      .from(pipelineProcesses)
      .where(eq(pipelineProcesses.pipelineId, id))
      .all();
  }

  /** Forget the processes of a pipeline once they are known to be gone. */
  clearProcesses(id: number): void {
    this.db.delete(pipelineProcesses).where(eq(pipelineProcesses.pipelineId, id)).run();
  }

  /** Running pipelines, oldest first, with the phase each is in (null between phases); at most `limit`. One query. */
  runningNow(limit = 20): RunningPipeline[] {
    return this.db.$client
      .query<RunningPipeline, [number]>(
        `SELECT p.id, p.notebook_path AS notebookPath, p.model_name AS modelName, p.started_at AS startedAt, ph.name AS phase
         FROM pipelines p LEFT JOIN pipeline_phases ph ON ph.pipeline_id = p.id AND ph.status = 'running'
         WHERE p.status = 'running' ORDER BY p.id LIMIT ?`,
      )
      .all(limit);
  }

  /** Queued pipelines, and how many of them wait because their runner cannot take them now (with the newest reason). */
  queuedNow(): { queued: number; waitingForRunner: number; waitingReason: string | null } {
    const row = this.db.$client
      .query<{ queued: number; waiting: number | null }, []>(
        "SELECT count(*) AS queued, sum(waiting_reason IS NOT NULL) AS waiting FROM pipelines WHERE status = 'queued'",
      )
      .get();
    const reason = this.db.$client
      .query<{ r: string }, []>("SELECT waiting_reason AS r FROM pipelines WHERE status = 'queued' AND waiting_reason IS NOT NULL ORDER BY id DESC LIMIT 1")
      .get();
    return { queued: row?.queued ?? 0, waitingForRunner: row?.waiting ?? 0, waitingReason: reason?.r ?? null };
  }

  /**
   * The newest pipeline that failed or timed out, and whether a later pipeline of the same notebook (repository and
   * path) has succeeded since; undefined when none ever failed.
   */
  lastFailure(): { pipeline: PipelineRow; fixedBy: number | null } | undefined {
    // max(id) per status is one index look-up each; an IN list would sort every failed pipeline.
    const newest = this.db.$client
      .query<{ id: number | null }, []>(
        "SELECT max(coalesce((SELECT max(id) FROM pipelines WHERE status = 'failed'), 0), coalesce((SELECT max(id) FROM pipelines WHERE status = 'timed_out'), 0)) AS id",
      )
      .get()?.id;
    const row = newest ? this.find(newest) : undefined;
    if (!row) return undefined;
    const fixed = this.db.$client
      .query<{ id: number }, [number, number | null, string]>(
        "SELECT id FROM pipelines WHERE id > ? AND repo_id IS ? AND notebook_path = ? AND status = 'succeeded' ORDER BY id LIMIT 1",
      )
      .get(row.id, row.repoId, row.notebookPath);
    return { pipeline: row, fixedBy: fixed?.id ?? null };
  }
}

/** A running pipeline as the home page lists it. */
export type RunningPipeline = { id: number; notebookPath: string; modelName: string | null; startedAt: string | null; phase: string | null };
