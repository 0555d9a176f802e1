import { afterEach, describe, expect, test } from "bun:test";
import { openDatabase } from "../db/connection.ts";
import { TransientError } from "../lib/errors.ts";
import { JobState, type Job } from "./job-states.ts";
import { JobStore } from "./job-store.ts";
import { waitForJob } from "./wait-for.ts";
import { abortedByStop, JobAbortedError, RequeueJobError, WorkerPool, type JobHandler, type WorkerPoolOptions } from "./worker-pool.ts";
import { fakeClock, openTestDb, tempDbPath } from "../testing/db.ts";
import { eventually } from "../testing/eventually.ts";

const pools: WorkerPool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});

function setup(options: Partial<WorkerPoolOptions> & { handlers: Record<string, JobHandler> }) {
  const clock = fakeClock();
  const path = tempDbPath();
  const store = new JobStore(openTestDb(path), clock);
  const pool = new WorkerPool({ store, concurrency: 2, workerId: "test", ...options });
  pools.push(pool);
  return { clock, path, store, pool };
}

/** Handlers that wait until the test opens their gate; `started` lists the payloads in start order. */
function gated() {
  const gates = new Map<unknown, PromiseWithResolvers<void>>();
  const signals = new Map<unknown, AbortSignal>();
  const started: unknown[] = [];
  let now = 0;
  let most = 0;
  const handler: JobHandler = async (job, { signal }) => {
    started.push(job.payload);
    signals.set(job.payload, signal);
    most = Math.max(most, ++now);
    const gate = Promise.withResolvers<void>();
    gates.set(job.payload, gate);
    try {
      await gate.promise;
    } finally {
      now--;
    }
  };
  return { handler, started, signals, open: (payload: unknown) => gates.get(payload)!.resolve(), mostAtOnce: () => most };
}

/** A handler that runs until its signal aborts, then throws the abort's reason. */
const untilAborted: JobHandler = (_job, { signal }) =>
  new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));

/** Poll `check` until it holds (for conditions that are not a job state), failing after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  await eventually(check, { what: "the condition", timeoutMs, everyMs: 2 });
}

describe("WorkerPool.tick and drain", () => {
  test("runs a job's handler with its payload and marks it succeeded", async () => {
    const seen: Job[] = [];
    const { store, pool, clock } = setup({ handlers: { echo: async (job) => void seen.push(job) } });
    const job = store.enqueue({ kind: "echo", payload: { n: 1 } }).job;
    const later = store.enqueue({ kind: "echo", payload: { n: 2 }, runAt: clock.t + 60_000 }).job;

    expect(await pool.tick()).toBe(1);
    await pool.drain();

    expect(seen.map((j) => [j.id, j.payload, j.state, j.attempts])).toEqual([[job.id, { n: 1 }, JobState.running, 1]]);
    expect(seen[0]!.lockedBy).toStartWith("test/");
    expect(store.get(job.id)?.state).toBe(JobState.succeeded);
    expect(store.get(later.id)?.state).toBe(JobState.queued);
    expect(pool.running()).toBe(0);
  });

  test("never runs more than `concurrency` handlers at once, and leaves the rest queued", async () => {
    const g = gated();
    const { store, pool } = setup({ concurrency: 2, handlers: { slow: g.handler } });
    const ids = [1, 2, 3, 4, 5].map((n) => store.enqueue({ kind: "slow", payload: n }).job.id);

    expect(await pool.tick()).toBe(2);
    expect(await pool.tick()).toBe(0);
    expect(pool.running()).toBe(2);
    expect(store.list({ state: JobState.running }).map((j) => j.payload)).toEqual([2, 1]);
    expect(store.list({ state: JobState.queued }).length).toBe(3);

    g.open(1);
    await waitForJob(store, ids[0]!, JobState.succeeded);
    await until(() => pool.running() === 1);
    expect(await pool.tick()).toBe(1);
    expect(await pool.tick()).toBe(0);
    for (const n of [2, 3]) g.open(n);
    await pool.drain();
    expect(await pool.tick()).toBe(2);
    for (const n of [4, 5]) g.open(n);
    await pool.drain();

    expect(g.started).toEqual([1, 2, 3, 4, 5]);
    expect(g.mostAtOnce()).toBe(2);
    expect(ids.map((id) => store.get(id)?.state)).toEqual(Array(5).fill(JobState.succeeded));
  });

  test("a TransientError is retried after the backoff, until it succeeds", async () => {
    let calls = 0;
    const { store, pool, clock } = setup({
      handlers: {
        fetch: async () => {
          if (++calls < 3) throw new TransientError(`fetch failed (${calls})`);
        },
      },
    });
    const job = store.enqueue({ kind: "fetch", payload: null, maxAttempts: 3 }).job;
    const bystander = store.enqueue({ kind: "fetch", payload: null, runAt: clock.t + 3_600_000 }).job;

    await pool.tick();
    await pool.drain();
    expect(store.get(job.id)).toMatchObject({ state: JobState.queued, attempts: 1, runAt: clock.t + 1_000, lastError: "fetch failed (1)" });
    expect(await pool.tick()).toBe(0);
    clock.advance(1_000);
    expect(await pool.tick()).toBe(1);
    await pool.drain();
    expect(store.get(job.id)).toMatchObject({ state: JobState.queued, attempts: 2, runAt: clock.t + 2_000 });
    clock.advance(2_000);
    await pool.tick();
    await pool.drain();

    expect(store.get(job.id)).toMatchObject({ state: JobState.succeeded, attempts: 3 });
    expect(store.get(bystander.id)).toMatchObject({ state: JobState.queued, attempts: 0 });
  });

  test("any other error fails the job at once, with its message", async () => {
    const { store, pool } = setup({
      handlers: {
        bad: async () => {
          throw new Error("cell 4 raised KeyError");
        },
        sync: (() => {
          throw new Error("thrown before any await");
        }) as JobHandler,
      },
    });
    const bad = store.enqueue({ kind: "bad", payload: 1, maxAttempts: 3 }).job;
    const sync = store.enqueue({ kind: "sync", payload: 2 }).job;

    expect(await pool.tick()).toBe(2);
    await pool.drain();

    expect(store.get(bad.id)).toMatchObject({ state: JobState.failed, attempts: 1, lastError: "cell 4 raised KeyError" });
    expect(store.get(sync.id)).toMatchObject({ state: JobState.failed, lastError: "thrown before any await" });
    expect(await pool.tick()).toBe(0);
  });

  test("a job of a kind without a handler fails with a clear message", async () => {
    const { store, pool } = setup({ handlers: { known: async () => {} } });
    const unknown = store.enqueue({ kind: "mystery", payload: 1 }).job;
    const inherited = store.enqueue({ kind: "toString", payload: 2 }).job;
    const known = store.enqueue({ kind: "known", payload: 3 }).job;

    await pool.tick();
    await pool.drain();
    await pool.tick();
    await pool.drain();

    expect(store.get(unknown.id)).toMatchObject({ state: JobState.failed, lastError: 'no handler for job kind "mystery"' });
    expect(store.get(inherited.id)).toMatchObject({ state: JobState.failed, lastError: 'no handler for job kind "toString"' });
    expect(store.get(known.id)?.state).toBe(JobState.succeeded);
  });
});

describe("WorkerPool cancellation and leases", () => {
  test("cancelling a queued job means it never runs", async () => {
    const ran: unknown[] = [];
    const { store, pool } = setup({ handlers: { k: async (job) => void ran.push(job.payload) } });
    const a = store.enqueue({ kind: "k", payload: "a" }).job;
    store.enqueue({ kind: "k", payload: "b" });
    expect(store.cancel(a.id)).toBe(true);

    await pool.tick();
    await pool.drain();

    expect(ran).toEqual(["b"]);
    expect(store.get(a.id)?.state).toBe(JobState.cancelled);
  });

  test("cancelling a running job aborts its handler's signal at once; the job ends cancelled, the other runs on", async () => {
    const g = gated();
    const seen: AbortSignal[] = [];
    const k: JobHandler = (job, ctx) => {
      seen.push(ctx.signal);
      return untilAborted(job, ctx);
    };
    const { store, pool } = setup({ handlers: { k, slow: g.handler } });
    const target = store.enqueue({ kind: "k", payload: "target" }).job;
    const other = store.enqueue({ kind: "slow", payload: "other" }).job;
    await pool.tick();

    expect(store.cancel(target.id)).toBe(true);
    expect(seen[0]!.aborted).toBe(true); // synchronously, through the store's cancel listener
    expect(seen[0]!.reason).toBeInstanceOf(JobAbortedError);
    expect((seen[0]!.reason as JobAbortedError).why).toBe("cancelled");
    await waitForJob(store, target.id, JobState.cancelled);
    await until(() => pool.running() === 1);
    expect(g.signals.get("other")!.aborted).toBe(false);

    g.open("other");
    await pool.drain();
    expect(store.get(target.id)).toMatchObject({ state: JobState.cancelled, lastError: null });
    expect(store.get(other.id)?.state).toBe(JobState.succeeded);
  });

  test("a cancel from another connection is seen at the next heartbeat, which aborts the handler", async () => {
    let reason: unknown;
    const { store, pool, path } = setup({
      heartbeatMs: 5,
      handlers: {
        k: (job, ctx) => {
          ctx.signal.addEventListener("abort", () => (reason = ctx.signal.reason));
          return untilAborted(job, ctx);
        },
      },
    });
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    await pool.tick();

    const elsewhere = new JobStore(openDatabase(path));
    expect(elsewhere.cancel(job.id)).toBe(true);
    await pool.drain();

    expect((reason as JobAbortedError).why).toBe("lost");
    expect(store.get(job.id)?.state).toBe(JobState.cancelled);
  });

  test("while a handler runs, its lease keeps being extended", async () => {
    const g = gated();
    const { store, pool, clock } = setup({ leaseMs: 1_000, heartbeatMs: 5, handlers: { k: g.handler } });
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    await pool.tick();
    expect(store.get(job.id)?.lockedUntil).toBe(clock.t + 1_000);

    clock.advance(900);
    await until(() => store.get(job.id)?.lockedUntil === clock.t + 1_000);
    clock.advance(900); // past the first lease's end
    await until(() => store.get(job.id)?.lockedUntil === clock.t + 1_000);
    expect(store.reapExpired()).toEqual([]);

    g.open(1);
    await pool.drain();
    expect(store.get(job.id)?.state).toBe(JobState.succeeded);
  });
});

describe("WorkerPool.start, wake and stop", () => {
  test("wake runs a new job at once, and a freed slot takes the next without waiting for the poll", async () => {
    const { store, pool } = setup({ concurrency: 1, pollMs: 60_000, handlers: { k: async () => {} } });
    pool.start();
    const ids = [1, 2, 3].map((n) => store.enqueue({ kind: "k", payload: n }).job.id);
    pool.wake();
    for (const id of ids) await waitForJob(store, id, JobState.succeeded, 1_000);
    expect(store.depth()).toBe(0);
  });

  test("the started loop reaps expired leases first, reports them, and runs what was re-queued", async () => {
    const reported: Job[][] = [];
    const { store, pool, clock } = setup({ pollMs: 60_000, handlers: { k: async () => {} }, onReaped: (jobs) => reported.push(jobs) });
    const orphan = store.enqueue({ kind: "k", payload: 1, maxAttempts: 2 }).job;
    const dead = store.enqueue({ kind: "k", payload: 2 }).job;
    store.claim("crashed-worker", 1_000);
    store.claim("crashed-worker", 1_000);
    clock.advance(1_001);

    pool.start();
    await waitForJob(store, orphan.id, JobState.succeeded);

    expect(reported.map((jobs) => jobs.map((j) => [j.id, j.state]))).toEqual([
      [
        [orphan.id, JobState.queued],
        [dead.id, JobState.failed],
      ],
    ]);
    expect(store.get(orphan.id)?.attempts).toBe(2);
    expect(store.get(dead.id)?.state).toBe(JobState.failed);
  });

  test("stop aborts running handlers, waits for them, and leaves queued jobs queued; it is idempotent", async () => {
    const { store, pool } = setup({ concurrency: 3, handlers: { k: untilAborted } });
    const running = [1, 2, 3].map((n) => store.enqueue({ kind: "k", payload: n }).job.id);
    const waiting = store.enqueue({ kind: "k", payload: 4 }).job;
    expect(await pool.tick()).toBe(3);

    const stopping = pool.stop();
    expect(pool.stop()).toBe(stopping);
    await stopping;

    expect(pool.running()).toBe(0);
    for (const id of running) {
      expect(store.get(id)).toMatchObject({ state: JobState.failed, lastError: "interrupted: the server is stopping" });
    }
    expect(store.get(waiting.id)?.state).toBe(JobState.queued);
    expect(await pool.tick()).toBe(0);
    pool.start();
    pool.wake();
    expect(store.get(waiting.id)?.state).toBe(JobState.queued);
  });

  test("stop gives up on a handler that ignores its signal after stopTimeoutMs, leaving its job running", async () => {
    const g = gated();
    const { store, pool } = setup({ stopTimeoutMs: 20, handlers: { k: g.handler } });
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    await pool.tick();

    await pool.stop();

    expect(g.signals.get(1)!.aborted).toBe(true);
    expect(pool.running()).toBe(1);
    expect(store.get(job.id)?.state).toBe(JobState.running); // for recoverInterrupted at the next start
    g.open(1);
    await pool.drain();
  });
});

describe("WorkerPool.stop with a grace period", () => {
  test("stop claims nothing new but lets a running handler finish within the grace; its job succeeds, queued jobs stay", async () => {
    const g = gated();
    const { store, pool } = setup({ concurrency: 2, handlers: { k: g.handler } });
    const running = store.enqueue({ kind: "k", payload: "running" }).job;
    await pool.tick();
    const waiting = store.enqueue({ kind: "k", payload: "waiting" }).job;

    let stopped = false;
    const stopping = pool.stop({ graceMs: 60_000 }).then(() => (stopped = true));
    // A free slot and a due job: this is where a pool that still claimed would start it.
    expect(await pool.tick()).toBe(0);
    pool.start();
    pool.wake();
    expect(pool.running()).toBe(1);
    expect(g.started).toEqual(["running"]);
    expect(g.signals.get("running")!.aborted).toBe(false);
    expect(stopped).toBe(false);

    g.open("running");
    await stopping;
    expect(store.get(running.id)?.state).toBe(JobState.succeeded);
    expect(g.signals.get("running")!.aborted).toBe(false);
    expect(store.get(waiting.id)).toMatchObject({ state: JobState.queued, attempts: 0 });
  });

  test("a handler still running when the grace ends is aborted as stopping", async () => {
    const reasons: unknown[] = [];
    const k: JobHandler = (job, ctx) => {
      ctx.signal.addEventListener("abort", () => reasons.push(ctx.signal.reason));
      return untilAborted(job, ctx);
    };
    const { store, pool } = setup({ handlers: { k } });
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    await pool.tick();

    await pool.stop({ graceMs: 20 });

    expect(reasons).toHaveLength(1);
    expect((reasons[0] as JobAbortedError).why).toBe("stopping");
    expect(store.get(job.id)).toMatchObject({ state: JobState.failed, lastError: "interrupted: the server is stopping" });
  });

  test("hurry ends the grace at once: running handlers are aborted and stop resolves", async () => {
    const signals: AbortSignal[] = [];
    const k: JobHandler = (job, ctx) => {
      signals.push(ctx.signal);
      return untilAborted(job, ctx);
    };
    const { store, pool } = setup({ handlers: { k } });
    pool.hurry(); // before stop: nothing to hurry
    store.enqueue({ kind: "k", payload: 1 });
    await pool.tick();
    expect(signals[0]!.aborted).toBe(false);

    const stopping = pool.stop({ graceMs: 3_600_000 });
    await Promise.resolve();
    expect(signals[0]!.aborted).toBe(false);
    pool.hurry();
    await stopping;
    expect(abortedByStop(signals[0]!)).toBe(true);
    expect(pool.running()).toBe(0);
  });

  test("a cancel during the grace still aborts its handler at once", async () => {
    const signals = new Map<unknown, AbortSignal>();
    const k: JobHandler = (job, ctx) => {
      signals.set(job.payload, ctx.signal);
      return untilAborted(job, ctx);
    };
    const { store, pool } = setup({ handlers: { k } });
    const target = store.enqueue({ kind: "k", payload: "target" }).job;
    store.enqueue({ kind: "k", payload: "other" });
    await pool.tick();

    const stopping = pool.stop({ graceMs: 3_600_000 });
    store.cancel(target.id);
    expect((signals.get("target")!.reason as JobAbortedError).why).toBe("cancelled");
    await waitForJob(store, target.id, JobState.cancelled);
    expect(signals.get("other")!.aborted).toBe(false);
    pool.hurry();
    await stopping;
    expect(abortedByStop(signals.get("other")!)).toBe(true);
  });
});

describe("WorkerPool and RequeueJobError", () => {
  test("a handler that answers the stop with RequeueJobError leaves its job queued for the next start, attempt given back", async () => {
    const k: JobHandler = async (_job, { signal }) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      if (abortedByStop(signal)) throw new RequeueJobError("stopped by a server shutdown; runs again at the next start");
    };
    const { store, pool, path } = setup({ handlers: { k } });
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    await pool.tick();

    await pool.stop();

    expect(store.get(job.id)).toMatchObject({
      state: JobState.queued,
      attempts: 0,
      lockedBy: null,
      lastError: "stopped by a server shutdown; runs again at the next start",
    });
    // The next server (a new pool on the same file) runs it.
    const ran: unknown[] = [];
    const next = new WorkerPool({ store: new JobStore(openDatabase(path)), concurrency: 1, handlers: { k: async (j) => void ran.push(j.payload) } });
    pools.push(next);
    expect(await next.tick()).toBe(1);
    await next.drain();
    expect(ran).toEqual([1]);
    expect(store.get(job.id)).toMatchObject({ state: JobState.succeeded, attempts: 1 });
  });
});
