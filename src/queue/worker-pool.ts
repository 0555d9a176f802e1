// In-process workers: claim jobs from the JobStore, run the handler for their kind, heartbeat, release.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { createLogger, type Logger } from "../lib/logger.ts";
import { JobFailureKind, type Job } from "./job-states.ts";
import type { JobStore } from "./job-store.ts";

/** Runs one job. Must stop soon after `signal` aborts; throw a TransientError for a failure worth retrying. */
export type JobHandler = (job: Job, ctx: { signal: AbortSignal }) => Promise<void>;

export type WorkerPoolOptions = {
  store: JobStore;
  /** Handler per job kind, given by the composition root; a job of another kind fails with a clear message. */
  handlers: Record<string, JobHandler>;
  /** Claim only jobs of the handlers' kinds, so several pools can share one queue (e.g. quick git intake beside long notebooks). */
  onlyOwnKinds?: boolean;
  /** Handlers running at once, ≥ 1. */
  concurrency: number;
  /** How long a claim lasts without a heartbeat. Default 30 000 ms. */
  leaseMs?: number;
  /** How often a running job's lease is extended. Default 10 000 ms (keep well under leaseMs). */
  heartbeatMs?: number;
  /** How often the started loop reaps expired leases and looks for due jobs. Default 250 ms. */
  pollMs?: number;
  /** How long `stop()` waits for aborted handlers to finish (after any grace period). Default 10 000 ms. */
  stopTimeoutMs?: number;
  /** Default: silent. */
  logger?: Logger;
  /** Prefix of this pool's lock tokens. Default `<hostname>:<pid>:<random>`. */
  workerId?: string;
  /** Told about jobs the loop released after their lease expired (so the caller can mark its records). */
  onReaped?: (jobs: Job[]) => void;
};

/** The error recorded for a job aborted because the server stopped. */
export const STOPPING_ERROR = "interrupted: the server is stopping";

/** Why a handler's signal was aborted; it is `signal.reason`, and the failure recorded when the handler then throws. */
export class JobAbortedError extends Error {
  constructor(
    readonly why: "cancelled" | "lost" | "stopping",
    message: string,
  ) {
    super(message);
    this.name = "JobAbortedError";
  }
}

/** True when `signal` was aborted because the pool is stopping (not a cancel, not a lost lease). */
export function abortedByStop(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof JobAbortedError && signal.reason.why === "stopping";
}

/**
 * Thrown by a handler to put its job back in the queue as it was (the attempt not counted) instead of failing it,
 * due after `delayMs`: work the server's stop cut short that should run again at the next start, or work waiting for
 * something outside to come back. The message is recorded as `last_error`.
 */
export class RequeueJobError extends Error {
  constructor(
    message: string,
    readonly delayMs = 0,
  ) {
    super(message);
    this.name = "RequeueJobError";
  }
}

type Running = { job: Job; lock: string; controller: AbortController; done: Promise<void> };

/**
 * A fixed number of in-process workers over one JobStore. Nothing runs until `tick()` or `start()`;
 * tests drive it with `tick()` + `drain()`, the server with `start()` + `wake()` + `stop()`.
 */
export class WorkerPool {
  /** Prefix of the `locked_by` token of every job this pool claims. */
  readonly workerId: string;
  private readonly store: JobStore;
  private readonly handlers: Record<string, JobHandler>;
  private readonly kinds: string[] | undefined;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly stopTimeoutMs: number;
  private readonly log: Logger;
  private readonly onReaped: ((jobs: Job[]) => void) | undefined;
  /** Running handlers by lock token. */
  private readonly active = new Map<string, Running>();
  private readonly unsubscribeCancel: () => void;
  private claims = 0;
  private started = false;
  private closed = false;
  private stopped: Promise<void> | undefined;
  /** Ends stop()'s grace period early; set while it lasts. */
  private endGrace: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextReapAt = 0;

  constructor(options: WorkerPoolOptions) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`concurrency must be an integer ≥ 1, got ${options.concurrency}`);
    }
    this.store = options.store;
    this.handlers = options.handlers;
    this.kinds = options.onlyOwnKinds ? Object.keys(options.handlers) : undefined;
    this.concurrency = options.concurrency;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.pollMs = options.pollMs ?? 250;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.log = options.logger ?? createLogger("silent");
    this.onReaped = options.onReaped;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    // A cancel through this store aborts the handler at once; one through another connection is seen at the next heartbeat.
    this.unsubscribeCancel = this.store.onCancel((job) => {
      for (const r of this.active.values()) {
        if (r.job.id === job.id) r.controller.abort(new JobAbortedError("cancelled", "cancelled"));
      }
    });
  }

  /** Handlers running now. */
  running(): number {
    return this.active.size;
  }

  /**
   * Claim due jobs up to the free slots and start their handlers without waiting for them; returns how many
   * started (0 after `stop()`). Throws only when the database does.
   */
  async tick(): Promise<number> {
    let started = 0;
    while (!this.closed && this.active.size < this.concurrency) {
      // A token per claim, so a stale handler of a job that was reaped and claimed again can no longer release it.
      const lock = `${this.workerId}/${++this.claims}`;
      const job = this.store.claim(lock, this.leaseMs, this.kinds);
      if (!job) break;
      this.launch(job, lock);
      started++;
    }
    return started;
  }

  /** Resolve when every started handler has finished and its job was released (including ones started meanwhile). Never rejects. */
  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()].map((r) => r.done));
  }

  /** Start the loop: reap expired leases and claim due jobs every `pollMs`, and at once when a slot frees. Idempotent; no-op after stop. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.schedule(0);
  }

  /** Look for due jobs now instead of at the next poll (call after enqueue). No-op unless started and not stopped. */
  wake(): void {
    if (!this.started || this.closed) return;
    this.schedule(0);
  }

  /**
   * Stop claiming at once; let running handlers finish on their own for up to `graceMs` (default 0; `hurry()` ends
   * it early), meanwhile still heartbeating and still aborting at a cancel; then abort every handler still running
   * (reason: JobAbortedError "stopping") and wait up to `stopTimeoutMs` for them to finish. Handlers still running
   * then are left, their jobs still `running` in the database, for `recoverInterrupted` at the next start. Queued
   * jobs stay queued. Idempotent: later calls return the same promise (their options are ignored).
   */
  stop(opts: { graceMs?: number } = {}): Promise<void> {
    this.stopped ??= this.shutdown(opts.graceMs ?? 0);
    return this.stopped;
  }

  /** End stop()'s grace period now: running handlers are aborted at once. No-op before stop() or after the grace. */
  hurry(): void {
    this.endGrace?.();
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (graceMs > 0 && this.active.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const over = new Promise<void>((resolve) => {
        this.endGrace = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([this.drain(), over]);
      clearTimeout(timer);
      this.endGrace = undefined;
    }
    for (const r of this.active.values()) r.controller.abort(new JobAbortedError("stopping", STOPPING_ERROR));
    let timeout: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<true>((resolve) => (timeout = setTimeout(() => resolve(true), this.stopTimeoutMs)));
    const late = await Promise.race([this.drain().then(() => false), timedOut]);
    clearTimeout(timeout);
    this.unsubscribeCancel();
    if (late) {
      const ids = [...this.active.values()].map((r) => r.job.id);
      this.log.warn({ jobs: ids }, "job handlers still running after the stop timeout; their jobs are recovered at the next start");
    }
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), delayMs);
    this.timer.unref?.();
  }

  private async loop(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    try {
      // Reap at most once per pollMs: a wake after each enqueue should cost one claim, not a reap as well,
      // yet a steady stream of wakes must not postpone reaping for ever.
      if (performance.now() >= this.nextReapAt) {
        this.nextReapAt = performance.now() + this.pollMs;
        const reaped = this.store.reapExpired();
        if (reaped.length > 0) {
          this.log.warn({ jobs: reaped.map((j) => ({ id: j.id, state: j.state })) }, "released jobs whose lease expired");
          this.onReaped?.(reaped);
        }
      }
      await this.tick();
    } catch (e) {
      this.log.error({ err: e }, "job queue poll failed");
    }
    if (!this.closed && this.timer === undefined) this.schedule(this.pollMs);
  }

  private launch(job: Job, lock: string): void {
    const running: Running = { job, lock, controller: new AbortController(), done: Promise.resolve() };
    this.active.set(lock, running);
    running.done = this.run(running);
  }

  private async run({ job, lock, controller }: Running): Promise<void> {
    const { signal } = controller;
    const log = this.log.child({ job: job.id, kind: job.kind, attempt: job.attempts });
    log.info("job started");
    // CRITICAL SECTION: from the claim until complete/fail below, this worker holds the job and must always
    // release it, whatever the handler does (throws, never checks its signal, is aborted). If even the release
    // fails (database error), the lease stops being extended and reapExpired releases the job later.
    const heartbeat = setInterval(() => {
      try {
        if (!this.store.heartbeat(job.id, lock, this.leaseMs) && !signal.aborted) {
          controller.abort(new JobAbortedError("lost", "the job is no longer held by this worker (cancelled, or its lease expired)"));
        }
      } catch (e) {
        log.warn({ err: e }, "heartbeat failed; retrying at the next beat");
      }
    }, this.heartbeatMs);
    heartbeat.unref?.();
    try {
      let failure: { error: unknown } | undefined;
      try {
        const handler = Object.hasOwn(this.handlers, job.kind) ? this.handlers[job.kind] : undefined;
        if (!handler) throw new Error(`no handler for job kind "${job.kind}"`);
        await handler(job, { signal });
      } catch (e) {
        // After an abort, the abort's reason is the cause worth recording, not the AbortError it provoked,
        // unless the handler answered the abort by asking for its job to be queued again.
        failure = { error: signal.aborted && !(e instanceof RequeueJobError) ? signal.reason : e };
      }
      try {
        if (!failure) {
          if (this.store.complete(job.id, lock)) log.info("job succeeded");
          else log.warn("job finished but was no longer held by this worker; result not recorded");
        } else if (failure.error instanceof RequeueJobError) {
          if (this.store.requeue(job.id, lock, failure.error.message, failure.error.delayMs))
            log.info({ reason: failure.error.message, delayMs: failure.error.delayMs }, "job queued again");
          else log.warn("job asked to be queued again but was no longer held by this worker");
        } else {
          const stopped = failure.error instanceof JobAbortedError && failure.error.why === "stopping";
          const outcome = this.store.fail(job.id, lock, failure.error, stopped ? JobFailureKind.interrupted : undefined);
          log[outcome === "lost" ? "warn" : "info"]({ err: failure.error, outcome }, "job failed");
        }
      } catch (e) {
        log.error({ err: e }, "could not release the job; it is released when its lease expires");
      }
    } finally {
      clearInterval(heartbeat);
      this.active.delete(lock);
      // A slot is free: take the next job now rather than at the next poll.
      this.wake();
    }
  }
}
