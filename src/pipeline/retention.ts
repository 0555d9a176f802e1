// Retention (RETENTION_DAYS): the logs, work dirs and executed notebooks of pipelines that ended long ago are
// deleted in the background; pipeline rows and model files stay. The executed notebooks of the versions that serve or
// were in a model's last five deployments are kept (and deleted by a later sweep once they no longer are).
//
// Crash safety: a pipeline's log lines go first, in bounded batches (each DELETE its own short write transaction),
// then its files, and only then is it marked (files_removed_at). A crash anywhere leaves it unmarked, and the next
// sweep finishes it; every step is idempotent.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Db } from "../db/connection.ts";
import { type Clock, systemClock } from "../lib/clock.ts";
import type { Logger } from "../lib/logger.ts";
import { notebookOutputs } from "./notebook-outputs.ts";
import { pipelineDir } from "./run-pipeline.ts";
import { TERMINAL_STATUSES } from "./pipeline-states.ts";

/** How many deployments back, per model, the versions' executed notebooks are kept. */
export const KEPT_DEPLOYMENTS = 5;
const DAY_MS = 24 * 3600 * 1000;

export type RetentionOptions = {
  db: Db;
  dataDir: string;
  /** RETENTION_DAYS: 0 keeps everything. */
  days: number;
  logger?: Logger;
  clock?: Clock;
  /** Log lines deleted per statement. */
  batchRows?: number;
};

/** What one sweep removed. */
export type RetentionReport = {
  /** Pipelines whose log and work dir were removed (their notebook kept when in `notebooksKept`). */
  pipelines: number[];
  logLines: number;
  notebooksKept: number[];
  /** Kept notebooks removed because their version no longer serves nor is in the last deployments. */
  notebooksReleased: number[];
};

/** One bounded step of a sweep: what it did, and whether anything is left. */
export type RetentionStep =
  | { done: true }
  | { done: false; kind: "log"; pipelineId: number; lines: number }
  | { done: false; kind: "files"; pipelineId: number; notebookKept: boolean }
  | { done: false; kind: "release"; pipelineId: number };

const TERMINAL_SQL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(", ");

/** The retention loop's work; `step()` does one bounded piece, `sweep()` all of it. Tests drive both. */
export class Retention {
  private readonly clock: Clock;
  private readonly batchRows: number;
  private running: Promise<RetentionReport> | undefined;
  private stopped = false;

  constructor(private readonly opts: RetentionOptions) {
    this.clock = opts.clock ?? systemClock;
    this.batchRows = opts.batchRows ?? 2_000;
  }

  /**
   * Do one bounded piece of work: release one notebook no longer kept, or delete up to `batchRows` log lines of one
   * pipeline that ended over RETENTION_DAYS ago, or (its log gone) remove its work dir and mark it. Never touches
   * pipelines that have not ended, nor ones whose MLflow sync still waits (it uploads the executed notebook).
   * `{done: true}` when nothing is left, and always with RETENTION_DAYS=0. Throws on database or file-system errors.
   */
  step(): RetentionStep {
    if (this.opts.days <= 0) return { done: true };
    const sql = this.opts.db.$client;
    const kept = this.keptPipelines();
    const stale = sql.query<{ id: number }, []>("SELECT id FROM pipelines WHERE notebook_kept = 1 ORDER BY id").all();
    const release = stale.find((r) => !kept.has(r.id));
    if (release) {
      rmSync(pipelineDir(this.opts.dataDir, release.id), { recursive: true, force: true });
      sql.query("UPDATE pipelines SET notebook_kept = 0 WHERE id = ?").run(release.id);
      return { done: false, kind: "release", pipelineId: release.id };
    }
    const cutoff = new Date(this.clock.now() - this.opts.days * DAY_MS).toISOString();
    // The unary + keeps SQLite on the partial index pipelines_retention (only pipelines not swept yet) instead of
    // walking every pipeline of a status at each step.
    const next = sql
      .query<{ id: number }, [string]>(
        `SELECT id FROM pipelines
         WHERE files_removed_at IS NULL AND finished_at < ? AND +status IN (${TERMINAL_SQL})
           AND id NOT IN (SELECT pipeline_id FROM mlflow_sync WHERE status = 'pending')
         ORDER BY id LIMIT 1`,
      )
      .get(cutoff);
    if (!next) return { done: true };
    const id = next.id;
    const lines = sql
      .query("DELETE FROM pipeline_log_lines WHERE rowid IN (SELECT rowid FROM pipeline_log_lines WHERE pipeline_id = ? ORDER BY seq LIMIT ?)")
      .run(id, this.batchRows).changes;
    if (lines > 0) return { done: false, kind: "log", pipelineId: id, lines };
    const notebookKept = kept.has(id);
    removeWorkDir(pipelineDir(this.opts.dataDir, id), notebookKept);
    // Marked last: until here a crash leaves it for the next sweep.
    sql
      .query("UPDATE pipelines SET files_removed_at = ?, notebook_kept = ? WHERE id = ?")
      .run(new Date(this.clock.now()).toISOString(), notebookKept ? 1 : 0, id);
    return { done: false, kind: "files", pipelineId: id, notebookKept };
  }

  /**
   * Step until done, yielding to the event loop between steps so requests are served meanwhile; logs what it removed.
   * A sweep already running is joined, not doubled. Stops early (resolving with what it did) after stop().
   */
  sweep(): Promise<RetentionReport> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stop sweeping: the running sweep ends after its current step; resolves when it has. Later sweeps do nothing. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<RetentionReport> {
    const report: RetentionReport = { pipelines: [], logLines: 0, notebooksKept: [], notebooksReleased: [] };
    while (!this.stopped) {
      const s = this.step();
      if (s.done) break;
      if (s.kind === "log") report.logLines += s.lines;
      else if (s.kind === "release") report.notebooksReleased.push(s.pipelineId);
      else {
        report.pipelines.push(s.pipelineId);
        if (s.notebookKept) report.notebooksKept.push(s.pipelineId);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (report.pipelines.length || report.notebooksReleased.length)
      this.opts.logger?.info(
        {
          retention_days: this.opts.days,
          pipelines: report.pipelines,
          log_lines: report.logLines,
          notebooks_kept: report.notebooksKept,
          notebooks_released: report.notebooksReleased,
        },
        `retention removed the logs and work dirs of ${report.pipelines.length} pipelines that ended over ${this.opts.days} days ago`,
      );
    return report;
  }

  /** Pipelines whose executed notebook stays: those of the versions in each model's last KEPT_DEPLOYMENTS deployments (the serving one first). */
  keptPipelines(): Set<number> {
    const rows = this.opts.db.$client
      .query<{ id: number }, [number]>(
        `SELECT DISTINCT mv.pipeline_id AS id FROM model_versions mv
         JOIN (SELECT model_name, version FROM
                 (SELECT model_name, version, row_number() OVER (PARTITION BY model_name ORDER BY id DESC) AS rn FROM deployments)
               WHERE rn <= ? AND version IS NOT NULL) d
           ON d.model_name = mv.model_name AND d.version = mv.version
         WHERE mv.pipeline_id IS NOT NULL`,
      )
      .all(KEPT_DEPLOYMENTS);
    return new Set(rows.map((r) => r.id));
  }
}

// Everything of the work dir goes, except the executed notebook when it is kept.
function removeWorkDir(dir: string, keepNotebook: boolean): void {
  if (!existsSync(dir)) return;
  if (!keepNotebook) {
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  const notebook = notebookOutputs(dir).executed;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (path !== notebook) rmSync(path, { recursive: true, force: true });
  }
}
