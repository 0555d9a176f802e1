// The durable job queue in SQLite: the one place that changes a job's state, one SQL statement per operation.
import type { Database, Statement } from "bun:sqlite";
import { and, desc, eq, type SQL } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { jobs } from "../db/schema.ts";
import { systemClock, type Clock } from "../lib/clock.ts";
import { TransientError } from "../lib/errors.ts";
import { JobFailureKind, JobState, type Job } from "./job-states.ts";

/** Delay before the first retry of a transient failure; doubles per attempt. */
export const RETRY_BASE_MS = 1_000;
/** Longest delay between two attempts. */
export const RETRY_MAX_MS = 60_000;
/** `last_error` of a job whose worker stopped heartbeating. */
export const LEASE_EXPIRED_MESSAGE = "lease expired: the worker stopped responding";

/** Delay before attempt `attempts + 1` after attempt number `attempts` (1-based) failed transiently: 1 s, 2 s, 4 s … capped at 60 s. */
export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(attempts - 1, 0), 16));
}

export type EnqueueOptions = {
  /** Names the handler the worker pool runs. */
  kind: string;
  /** Any JSON value (stored as text; `undefined` is stored as null). */
  payload: unknown;
  /** Groups jobs that stand for the same work (e.g. one notebook of one repository); recorded, and used by `supersede`. */
  dedupeKey?: string;
  /** With `dedupeKey`: queued (not running) jobs of the same kind and key become `superseded`. */
  supersede?: boolean;
  /** Attempts allowed in all, ≥ 1 (default 1: never retried). Only a TransientError uses the extra attempts. */
  maxAttempts?: number;
  /** Epoch ms before which the job is not claimed (default: now). */
  runAt?: number;
};

export type ListOptions = { state?: JobState; kind?: string; limit?: number };

/** What `fail` did: re-queued for a later attempt, failed for good, or nothing because the worker no longer held the job. */
export type FailOutcome = "retrying" | "failed" | "lost";

type JobRow = typeof jobs.$inferSelect;
type Params = Record<string, string | number | null>;

// Every statement returns rows under the drizzle schema's (camelCase) names, so one mapper serves raw SQL and drizzle.
const COLUMNS = `id, kind, payload, state, dedupe_key AS dedupeKey, attempts, max_attempts AS maxAttempts, run_at AS runAt,
  locked_by AS lockedBy, locked_until AS lockedUntil, last_error AS lastError, failure_kind AS failureKind, created_at AS createdAt,
  updated_at AS updatedAt`;

const SQL_INSERT = `INSERT INTO jobs (kind, payload, state, dedupe_key, max_attempts, run_at, updated_at)
  VALUES ($kind, $payload, 'queued', $dedupeKey, $maxAttempts, $runAt, $now) RETURNING ${COLUMNS}`;

const SQL_SUPERSEDE = `UPDATE jobs SET state = 'superseded', last_error = 'superseded by job ' || $newId, failure_kind = 'superseded', updated_at = $now
  WHERE kind = $kind AND dedupe_key = $dedupeKey AND state = 'queued' AND id <> $newId RETURNING ${COLUMNS}`;

// The subquery picks the oldest due job; repeating `state = 'queued'` in the outer WHERE keeps the claim atomic.
// An UPDATE takes SQLite's write lock before it reads, so two connections never claim the same row.
// `id = (…)`, not `id IN (…)`: with IN, SQLite scans every queued row through the state index on each claim.
const SQL_CLAIM = `UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $worker,
    locked_until = $now + $leaseMs, updated_at = $now
  WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $now
      AND ($kinds IS NULL OR kind IN (SELECT value FROM json_each($kinds))) ORDER BY run_at, id LIMIT 1)
    AND state = 'queued'
  RETURNING ${COLUMNS}`;

const SQL_HEARTBEAT = `UPDATE jobs SET locked_until = $now + $leaseMs, updated_at = $now
  WHERE id = $id AND state = 'running' AND locked_by = $worker`;

const SQL_COMPLETE = `UPDATE jobs SET state = 'succeeded', locked_until = NULL, updated_at = $now
  WHERE id = $id AND state = 'running' AND locked_by = $worker`;

// SET expressions all read the row as it was, so `attempts` is the attempt that just failed.
const SQL_FAIL = `UPDATE jobs SET
    state = CASE WHEN $transient AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
    run_at = CASE WHEN $transient AND attempts < max_attempts
      THEN $now + min(${RETRY_MAX_MS}, ${RETRY_BASE_MS} << min(max(attempts - 1, 0), 16)) ELSE run_at END,
    locked_by = CASE WHEN $transient AND attempts < max_attempts THEN NULL ELSE locked_by END,
    locked_until = NULL, last_error = $error, failure_kind = $kind, updated_at = $now
  WHERE id = $id AND state = 'running' AND locked_by = $worker
  RETURNING state`;

// The attempt is given back (attempts - 1): being stopped from outside is not the job's failure.
const SQL_REQUEUE = `UPDATE jobs SET state = 'queued', attempts = max(attempts - 1, 0), run_at = $now + $delay, locked_by = NULL,
    locked_until = NULL, last_error = $reason, failure_kind = 'interrupted', updated_at = $now
  WHERE id = $id AND state = 'running' AND locked_by = $worker`;

const SQL_CANCEL = `UPDATE jobs SET state = 'cancelled', locked_until = NULL, updated_at = $now
  WHERE id = $id AND state IN ('queued', 'running') RETURNING ${COLUMNS}`;

const SQL_REAP = `UPDATE jobs SET
    state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
    run_at = CASE WHEN attempts < max_attempts THEN $now ELSE run_at END,
    locked_by = CASE WHEN attempts < max_attempts THEN NULL ELSE locked_by END,
    locked_until = NULL, last_error = $error, failure_kind = 'expired', updated_at = $now
  WHERE state = 'running' AND locked_until < $now
  RETURNING ${COLUMNS}`;

const SQL_GET = `SELECT ${COLUMNS} FROM jobs WHERE id = $id`;

const SQL_FIND_BY_PAYLOAD = `SELECT ${COLUMNS} FROM jobs
  WHERE kind = $kind AND json_extract(payload, $path) = $value ORDER BY id DESC LIMIT 1`;

const SQL_DEPTH = `SELECT count(*) AS n FROM jobs WHERE state IN ('queued', 'running')`;

const SQL_PRUNE = `DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled', 'superseded') AND updated_at < $cutoff`;

const SQL_RECOVER = `UPDATE jobs SET state = 'failed', locked_until = NULL, last_error = $reason, failure_kind = 'interrupted', updated_at = $now
  WHERE state = 'running' RETURNING ${COLUMNS}`;

const STATEMENTS = {
  insert: SQL_INSERT,
  supersede: SQL_SUPERSEDE,
  claim: SQL_CLAIM,
  heartbeat: SQL_HEARTBEAT,
  complete: SQL_COMPLETE,
  fail: SQL_FAIL,
  requeue: SQL_REQUEUE,
  cancel: SQL_CANCEL,
  reap: SQL_REAP,
  recover: SQL_RECOVER,
  get: SQL_GET,
  findByPayload: SQL_FIND_BY_PAYLOAD,
  depth: SQL_DEPTH,
  prune: SQL_PRUNE,
};

/** Listener told, synchronously and after commit, about a job this store just cancelled. */
export type CancelListener = (job: Job) => void;

/**
 * The durable queue. Every change of a job's state goes through one of these methods, each a single
 * statement (enqueue with supersede: one IMMEDIATE transaction). Safe to use from several connections
 * or processes on the same file. Methods are synchronous, like bun:sqlite; they throw only on database errors.
 */
export class JobStore {
  private readonly sql: Database;
  private readonly statements: Record<keyof typeof STATEMENTS, Statement>;
  private readonly cancelListeners = new Set<CancelListener>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock = systemClock,
  ) {
    this.sql = db.$client;
    // Prepared once per store: bun:sqlite then only binds and steps.
    this.statements = Object.fromEntries(Object.entries(STATEMENTS).map(([name, text]) => [name, this.sql.prepare(text)])) as Record<
      keyof typeof STATEMENTS,
      Statement
    >;
  }

  /**
   * Add a queued job. With `supersede` (which requires `dedupeKey`), the queued jobs of the same kind and key
   * become `superseded` in the same transaction and are returned, so the caller can mark what they stood for;
   * running jobs are left alone. Not idempotent: each call adds a job. Throws RangeError on bad options,
   * TypeError when the payload cannot be written as JSON.
   */
  enqueue(options: EnqueueOptions): { job: Job; superseded: Job[] } {
    const { kind, payload, dedupeKey, supersede = false, maxAttempts = 1 } = options;
    if (kind === "") throw new RangeError("a job needs a kind");
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
    if (supersede && dedupeKey === undefined) throw new RangeError("supersede needs a dedupeKey");
    const now = this.clock.now();
    const params: Params = { kind, payload: JSON.stringify(payload ?? null), dedupeKey: dedupeKey ?? null, maxAttempts, runAt: options.runAt ?? now, now };
    if (!supersede) return { job: toJob(this.statements.insert.get(params) as JobRow), superseded: [] };
    return this.sql
      .transaction(() => {
        const job = toJob(this.statements.insert.get(params) as JobRow);
        const superseded = this.rows(this.statements.supersede.all({ kind, dedupeKey: dedupeKey ?? null, newId: job.id, now }));
        return { job, superseded };
      })
      .immediate();
  }

  /**
   * Atomically take the oldest due queued job (by run_at, then id) for `workerId`: it becomes running,
   * its attempts go up by one, and it is leased for `leaseMs`. With `kinds`, only jobs of those kinds.
   * Returns undefined when none is due.
   */
  claim(workerId: string, leaseMs: number, kinds?: readonly string[]): Job | undefined {
    const row = this.statements.claim.get({ worker: workerId, leaseMs, now: this.clock.now(), kinds: kinds ? JSON.stringify(kinds) : null }) as JobRow | null;
    return row ? toJob(row) : undefined;
  }

  /**
   * Extend the lease of a running job held by `workerId` to now + `leaseMs`. Returns false when the job is
   * missing, no longer running (cancelled, reaped, finished) or held by another worker: the worker must stop.
   */
  heartbeat(id: number, workerId: string, leaseMs: number): boolean {
    return this.statements.heartbeat.run({ id, worker: workerId, leaseMs, now: this.clock.now() }).changes === 1;
  }

  /** Mark a running job held by `workerId` succeeded. Returns false (changing nothing) when the worker no longer holds it. */
  complete(id: number, workerId: string): boolean {
    return this.statements.complete.run({ id, worker: workerId, now: this.clock.now() }).changes === 1;
  }

  /**
   * Record a failed attempt of a running job held by `workerId`, with `last_error` = the error's message.
   * A TransientError with attempts left re-queues it after 1 s, 2 s, 4 s … (at most 60 s): "retrying".
   * Anything else fails it for good: "failed". "lost" when the worker no longer held the job (nothing changed).
   * `kind` records why (default: `transient` for a TransientError, else `error`).
   */
  fail(id: number, workerId: string, error: unknown, kind?: JobFailureKind): FailOutcome {
    const transient = error instanceof TransientError;
    const row = this.statements.fail.get({
      id,
      worker: workerId,
      transient: transient ? 1 : 0,
      error: errorMessage(error),
      kind: kind ?? (transient ? JobFailureKind.transient : JobFailureKind.error),
      now: this.clock.now(),
    }) as { state: string } | null;
    if (!row) return "lost";
    return row.state === JobState.queued ? "retrying" : "failed";
  }

  /**
   * Put a running job held by `workerId` back in the queue, due in `delayMs` (default now), as if this attempt had
   * not happened (attempts goes back down), with `last_error` = `reason`: for work the server stopped before it could
   * finish, or work that waits for something outside (a cluster that does not answer). Returns false (changing
   * nothing) when the worker no longer holds it.
   */
  requeue(id: number, workerId: string, reason: string, delayMs = 0): boolean {
    return this.statements.requeue.run({ id, worker: workerId, reason, delay: Math.max(0, Math.round(delayMs)), now: this.clock.now() }).changes === 1;
  }

  /**
   * Cancel a queued or running job. Returns false when it is missing or already terminal (so: idempotent).
   * A running job's worker learns it at once through `onCancel` (same store), or at its next heartbeat
   * (which returns false) when the cancel came through another connection or process.
   */
  cancel(id: number): boolean {
    const row = this.statements.cancel.get({ id, now: this.clock.now() }) as JobRow | null;
    if (!row) return false;
    const job = toJob(row);
    for (const listener of this.cancelListeners) {
      try {
        listener(job);
      } catch {
        // A listener's failure must not undo or hide a committed cancel; the heartbeat catches up anyway.
      }
    }
    return true;
  }

  /** Call `listener` after each successful `cancel` through this store. Returns the function that unsubscribes. */
  onCancel(listener: CancelListener): () => void {
    this.cancelListeners.add(listener);
    return () => this.cancelListeners.delete(listener);
  }

  /**
   * Release running jobs whose lease ended before now (the worker stopped heartbeating without its process
   * exiting): back to queued when attempts remain, else failed with LEASE_EXPIRED_MESSAGE. Returns them, by id.
   */
  reapExpired(): Job[] {
    return this.rows(this.statements.reap.all({ error: LEASE_EXPIRED_MESSAGE, now: this.clock.now() }));
  }

  /**
   * At start-up, before any worker runs: fail every job left running by a dead process, with `last_error` =
   * `reason`, and return them so the caller can mark its own records. They are failed, not re-queued, on
   * purpose: a notebook may already have had side effects (a model registered, an MLflow run, files written),
   * so running it again unasked is worse than saying it was interrupted; the user can retry. This assumes one
   * server process per database file (a running job of another live process would be failed too).
   */
  recoverInterrupted(reason: string): Job[] {
    return this.rows(this.statements.recover.all({ reason, now: this.clock.now() }));
  }

  // get and depth are hot (pollers, /health): cached raw statements, ~6 µs here against ~190 µs for a drizzle query.

  /** The job `id`, or undefined when there is none. */
  get(id: number): Job | undefined {
    const row = this.statements.get.get({ id }) as JobRow | null;
    return row ? toJob(row) : undefined;
  }

  /**
   * The newest job of `kind` whose payload has `value` at the JSON path `path` (e.g. "$.pipelineId"), or
   * undefined. Scans the jobs of that kind: for occasional look-ups (cancel), not for hot paths.
   */
  findByPayload(kind: string, path: string, value: string | number): Job | undefined {
    const row = this.statements.findByPayload.get({ kind, path, value }) as JobRow | null;
    return row ? toJob(row) : undefined;
  }

  /**
   * Delete jobs that ended more than `ageMs` ago; returns how many. The queue is bookkeeping: what a job stood for
   * lives on in its own table (pipelines, MLflow syncs), and lookups by payload stay fast when ended jobs do not pile up.
   */
  pruneEnded(ageMs: number): number {
    return this.statements.prune.run({ cutoff: this.clock.now() - ageMs }).changes;
  }

  /** Jobs waiting or running (the health endpoint's queue depth). */
  depth(): number {
    return (this.statements.depth.get() as { n: number }).n;
  }

  /** Jobs newest first, optionally of one state and/or kind; at most `limit` (default 100). */
  list(options: ListOptions = {}): Job[] {
    const filters: SQL[] = [];
    if (options.state !== undefined) filters.push(eq(jobs.state, options.state));
    if (options.kind !== undefined) filters.push(eq(jobs.kind, options.kind));
    const rows = this.db
      .select()
      .from(jobs)
      .where(and(...filters))
      .orderBy(desc(jobs.id))
      .limit(options.limit ?? 100)
      .all();
    return rows.map(toJob);
  }

  /**
   * The job of `kind` whose state changed last among those that ended or failed an attempt (succeeded, failed, or
   * queued again after a failed attempt), or undefined. One indexed look-up (kind, updated_at).
   */
  lastOutcome(kind: string): Job | undefined {
    const row = this.sql
      .query(
        `SELECT ${COLUMNS} FROM jobs WHERE kind = $kind AND (state IN ('succeeded', 'failed') OR (state = 'queued' AND last_error IS NOT NULL))
         ORDER BY updated_at DESC, id DESC LIMIT 1`,
      )
      .get({ kind }) as JobRow | null;
    return row ? toJob(row) : undefined;
  }

  private rows(rows: unknown[]): Job[] {
    return (rows as JobRow[]).map(toJob).sort((a, b) => a.id - b.id);
  }
}

function toJob(row: JobRow): Job {
  return { ...row, payload: JSON.parse(row.payload) as unknown, state: row.state };
}

// Long enough for a traceback's last lines, short enough to keep rows small.
const MAX_ERROR_CHARS = 8_000;

/** The text stored as `last_error`: an Error's message (its name when empty), or the thrown value as text. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}
