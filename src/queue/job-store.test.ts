import { describe, expect, test } from "bun:test";
import { openDatabase } from "../db/connection.ts";
import { TransientError } from "../lib/errors.ts";
import { JobState, type Job } from "./job-states.ts";
import { JobStore, LEASE_EXPIRED_MESSAGE, retryDelayMs } from "./job-store.ts";
import { fakeClock, openTestDb, tempDbPath } from "../testing/db.ts";

const LEASE = 30_000;

function setup() {
  const clock = fakeClock();
  const db = openTestDb();
  return { clock, db, store: new JobStore(db, clock) };
}

/** A snapshot of every job but `except`, to assert that an operation left the others alone. */
function others(store: JobStore, ...except: number[]): Job[] {
  return store.list({ limit: 1000 }).filter((j) => !except.includes(j.id));
}

describe("JobStore.enqueue", () => {
  test("stores a queued job with its payload, due now, one attempt by default", () => {
    const { store, clock } = setup();
    const { job, superseded } = store.enqueue({ kind: "pipeline", payload: { pipelineId: 7, tags: ["a"] } });
    expect(superseded).toEqual([]);
    expect(job).toMatchObject({
      kind: "pipeline",
      payload: { pipelineId: 7, tags: ["a"] },
      state: JobState.queued,
      dedupeKey: null,
      attempts: 0,
      maxAttempts: 1,
      runAt: clock.t,
      lockedBy: null,
      lockedUntil: null,
      lastError: null,
      updatedAt: clock.t,
    });
    expect(store.get(job.id)).toEqual(job);
    expect(store.enqueue({ kind: "x", payload: undefined }).job.payload).toBeNull();
  });

  test("rejects bad options without storing anything", () => {
    const { store } = setup();
    expect(() => store.enqueue({ kind: "", payload: 1 })).toThrow(RangeError);
    expect(() => store.enqueue({ kind: "k", payload: 1, maxAttempts: 0 })).toThrow(RangeError);
    expect(() => store.enqueue({ kind: "k", payload: 1, supersede: true })).toThrow("supersede needs a dedupeKey");
    expect(store.list()).toEqual([]);
  });

  test("supersede turns queued jobs of the same kind and key into superseded, and leaves the others alone", () => {
    const { store } = setup();
    const oldQueued = store.enqueue({ kind: "pipeline", payload: 1, dedupeKey: "repo/a.ipynb" }).job;
    const running = store.enqueue({ kind: "pipeline", payload: 2, dedupeKey: "repo/a.ipynb" }).job;
    const otherKey = store.enqueue({ kind: "pipeline", payload: 3, dedupeKey: "repo/b.ipynb" }).job;
    const otherKind = store.enqueue({ kind: "sync", payload: 4, dedupeKey: "repo/a.ipynb" }).job;
    const noKey = store.enqueue({ kind: "pipeline", payload: 5 }).job;
    // Claim in FIFO order takes oldQueued first; put it back in the queue via a second one so `running` is the running one.
    expect(store.claim("w", LEASE)?.id).toBe(oldQueued.id);
    expect(store.fail(oldQueued.id, "w", new Error("x"))).toBe("failed");
    const secondQueued = store.enqueue({ kind: "pipeline", payload: 6, dedupeKey: "repo/a.ipynb" }).job;
    expect(store.claim("w", LEASE)?.id).toBe(running.id);
    const before = others(store, secondQueued.id);

    const { job, superseded } = store.enqueue({ kind: "pipeline", payload: 7, dedupeKey: "repo/a.ipynb", supersede: true });

    expect(superseded.map((j) => [j.id, j.state, j.payload, j.lastError])).toEqual([[secondQueued.id, JobState.superseded, 6, `superseded by job ${job.id}`]]);
    expect(store.get(secondQueued.id)?.state).toBe(JobState.superseded);
    expect(job.state).toBe(JobState.queued);
    expect(others(store, secondQueued.id, job.id)).toEqual(before);
    expect([otherKey, otherKind, noKey].map((j) => store.get(j.id)?.state)).toEqual(["queued", "queued", "queued"]);
    expect(store.get(running.id)?.state).toBe(JobState.running);
  });
});

describe("JobStore.claim", () => {
  test("takes due jobs oldest run_at first, then by id, and never a future one", () => {
    const { store, clock } = setup();
    const t = clock.t;
    const later = store.enqueue({ kind: "k", payload: "later", runAt: t + 5_000 }).job;
    const b = store.enqueue({ kind: "k", payload: "b", runAt: t - 10 }).job;
    const c = store.enqueue({ kind: "k", payload: "c", runAt: t - 10 }).job;
    const a = store.enqueue({ kind: "k", payload: "a", runAt: t - 20 }).job;
    const done = store.enqueue({ kind: "k", payload: "done" }).job;
    store.cancel(done.id);

    const first = store.claim("w1", LEASE);
    expect(first).toMatchObject({ id: a.id, state: JobState.running, attempts: 1, lockedBy: "w1", lockedUntil: t + LEASE, updatedAt: t });
    expect(store.claim("w2", LEASE)?.id).toBe(b.id);
    expect(store.claim("w1", LEASE)?.id).toBe(c.id);
    expect(store.claim("w1", LEASE)).toBeUndefined();
    expect(store.get(later.id)?.state).toBe(JobState.queued);
    expect(store.get(done.id)?.state).toBe(JobState.cancelled);

    clock.advance(5_000);
    expect(store.claim("w1", LEASE)?.id).toBe(later.id);
  });

  test("two stores on two connections to one file, claiming in turn, never get the same job", () => {
    const path = tempDbPath();
    const clock = fakeClock();
    const one = new JobStore(openTestDb(path), clock);
    const two = new JobStore(openDatabase(path), clock);
    const ids = new Set<number>();
    for (let i = 0; i < 200; i++) ids.add(one.enqueue({ kind: "k", payload: i }).job.id);

    const claimed: number[] = [];
    for (let turn = 0; ; turn++) {
      const store = turn % 2 === 0 ? one : two;
      const job = store.claim(`w${turn % 2}`, LEASE);
      if (!job) break;
      claimed.push(job.id);
      // The other connection sees the claim at once.
      expect((turn % 2 === 0 ? two : one).get(job.id)?.state).toBe(JobState.running);
    }
    expect(claimed.length).toBe(200);
    expect(new Set(claimed)).toEqual(ids);
  });

  test("four threads claiming concurrently from their own connections claim every job exactly once", async () => {
    const path = tempDbPath();
    const store = new JobStore(openTestDb(path));
    const n = 2_000;
    for (let i = 0; i < n; i++) store.enqueue({ kind: "k", payload: i });

    const results = await Promise.all(
      ["t1", "t2", "t3", "t4"].map(
        (name) =>
          new Promise<number[]>((resolve, reject) => {
            const worker = new Worker(new URL("./claim-race.fixture.ts", import.meta.url));
            worker.onmessage = (e: MessageEvent<number[]>) => {
              resolve(e.data);
              worker.terminate();
            };
            worker.onerror = (e) => reject(new Error(e.message));
            worker.postMessage({ path, worker: name });
          }),
      ),
    );

    const all = results.flat();
    expect(all.length).toBe(n);
    expect(new Set(all).size).toBe(n);
    expect(store.list({ state: JobState.succeeded, limit: n }).length).toBe(n);
    // Several threads took part (not a proof of overlap, but the run is meaningless if one thread did it all).
    expect(results.filter((r) => r.length > 0).length).toBeGreaterThan(1);
  });
});

describe("JobStore leases", () => {
  test("heartbeat extends the lease only for the holding worker of a running job", () => {
    const { store, clock } = setup();
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    const bystander = store.enqueue({ kind: "k", payload: 2 }).job;
    expect(store.heartbeat(job.id, "w", LEASE)).toBe(false); // still queued
    store.claim("w", LEASE);
    const before = others(store, job.id);

    clock.advance(20_000);
    expect(store.heartbeat(job.id, "w", LEASE)).toBe(true);
    expect(store.get(job.id)?.lockedUntil).toBe(clock.t + LEASE);
    expect(store.heartbeat(job.id, "intruder", LEASE)).toBe(false);
    expect(store.heartbeat(9_999, "w", LEASE)).toBe(false);
    expect(store.get(job.id)?.lockedUntil).toBe(clock.t + LEASE);
    expect(others(store, job.id)).toEqual(before);
    expect(store.get(bystander.id)?.state).toBe(JobState.queued);

    // Extended, so not reaped where the first lease would have ended.
    clock.advance(LEASE - 1);
    expect(store.reapExpired()).toEqual([]);
  });

  test("reapExpired re-queues expired jobs with attempts left, fails the others, and leaves live ones alone", () => {
    const { store, clock } = setup();
    const retryable = store.enqueue({ kind: "k", payload: 1, maxAttempts: 2 }).job;
    const once = store.enqueue({ kind: "k", payload: 2 }).job;
    const live = store.enqueue({ kind: "k", payload: 3 }).job;
    const queued = store.enqueue({ kind: "k", payload: 4 }).job;
    store.claim("dead", LEASE);
    store.claim("dead", LEASE);
    clock.advance(10_000);
    store.claim("alive", LEASE);
    const liveBefore = store.get(live.id);

    clock.advance(LEASE - 10_000);
    expect(store.reapExpired()).toEqual([]); // exactly at the end of the lease it still holds

    clock.advance(1);
    const reaped = store.reapExpired();
    expect(reaped.map((j) => [j.id, j.state, j.lastError, j.lockedUntil])).toEqual([
      [retryable.id, JobState.queued, LEASE_EXPIRED_MESSAGE, null],
      [once.id, JobState.failed, LEASE_EXPIRED_MESSAGE, null],
    ]);
    expect(store.get(retryable.id)).toMatchObject({ runAt: clock.t, lockedBy: null, attempts: 1 });
    expect(store.get(live.id)).toEqual(liveBefore!);
    expect(store.get(queued.id)?.state).toBe(JobState.queued);
    // The dead worker's late calls change nothing.
    expect(store.complete(once.id, "dead")).toBe(false);
    expect(store.heartbeat(retryable.id, "dead", LEASE)).toBe(false);
    // The re-queued job is due again, after the one that waited all along.
    expect(store.claim("w2", LEASE)?.id).toBe(queued.id);
    expect(store.claim("w2", LEASE)).toMatchObject({ id: retryable.id, attempts: 2 });
  });
});

describe("JobStore.complete and fail", () => {
  test("complete marks the job succeeded once, only for its holder", () => {
    const { store } = setup();
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    const other = store.enqueue({ kind: "k", payload: 2 }).job;
    store.claim("w", LEASE);
    store.claim("v", LEASE);
    expect(store.complete(job.id, "v")).toBe(false);
    expect(store.complete(job.id, "w")).toBe(true);
    expect(store.complete(job.id, "w")).toBe(false);
    expect(store.get(job.id)).toMatchObject({ state: JobState.succeeded, lockedBy: "w", lockedUntil: null });
    expect(store.get(other.id)?.state).toBe(JobState.running);
  });

  test("a transient error is retried after 1 s, then 2 s, and fails after the last attempt", () => {
    const { store, clock } = setup();
    const job = store.enqueue({ kind: "fetch", payload: 1, maxAttempts: 3 }).job;
    const bystander = store.enqueue({ kind: "k", payload: 2, runAt: clock.t + 100_000 }).job;

    expect(store.claim("w", LEASE)?.attempts).toBe(1);
    expect(store.fail(job.id, "w", new TransientError("git fetch: connection reset"))).toBe("retrying");
    expect(store.get(job.id)).toMatchObject({
      state: JobState.queued,
      runAt: clock.t + 1_000,
      lastError: "git fetch: connection reset",
      lockedBy: null,
      lockedUntil: null,
    });
    clock.advance(999);
    expect(store.claim("w", LEASE)).toBeUndefined();
    clock.advance(1);
    expect(store.claim("w", LEASE)).toMatchObject({ id: job.id, attempts: 2 });

    expect(store.fail(job.id, "w", new TransientError("again"))).toBe("retrying");
    expect(store.get(job.id)?.runAt).toBe(clock.t + 2_000);
    clock.advance(2_000);
    expect(store.claim("w", LEASE)).toMatchObject({ id: job.id, attempts: 3 });

    expect(store.fail(job.id, "w", new TransientError("still down"))).toBe("failed");
    expect(store.get(job.id)).toMatchObject({ state: JobState.failed, attempts: 3, lastError: "still down", lockedBy: "w" });
    expect(store.get(bystander.id)).toMatchObject({ state: JobState.queued, attempts: 0 });
  });

  test("a non-transient error fails at once even with attempts left", () => {
    const { store } = setup();
    const job = store.enqueue({ kind: "k", payload: 1, maxAttempts: 5 }).job;
    store.claim("w", LEASE);
    expect(store.fail(job.id, "w", new Error("cell 3 raised ValueError"))).toBe("failed");
    expect(store.get(job.id)).toMatchObject({ state: JobState.failed, attempts: 1, lastError: "cell 3 raised ValueError" });
    expect(store.claim("w", LEASE)).toBeUndefined();
  });

  test("fail by a worker that no longer holds the job changes nothing", () => {
    const { store } = setup();
    const job = store.enqueue({ kind: "k", payload: 1, maxAttempts: 3 }).job;
    store.claim("w", LEASE);
    store.cancel(job.id);
    const before = store.get(job.id);
    expect(store.fail(job.id, "w", new TransientError("x"))).toBe("lost");
    expect(store.fail(9_999, "w", "x")).toBe("lost");
    expect(store.get(job.id)).toEqual(before!);
  });

  test("backoff doubles from 1 s and stops at 60 s; thrown non-errors are recorded as text", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    const { store, clock } = setup();
    const job = store.enqueue({ kind: "k", payload: 1, maxAttempts: 100 }).job;
    for (let attempt = 1; attempt <= 9; attempt++) {
      store.claim("w", LEASE);
      store.fail(job.id, "w", new TransientError("down"));
      expect(store.get(job.id)?.runAt).toBe(clock.t + retryDelayMs(attempt));
      clock.advance(retryDelayMs(attempt));
    }
    store.claim("w", LEASE);
    store.fail(job.id, "w", "a string");
    expect(store.get(job.id)).toMatchObject({ state: JobState.failed, lastError: "a string" });
  });
});

describe("JobStore.requeue", () => {
  test("puts a running job back in the queue, due now, its attempt given back, only for its holder", () => {
    const { store, clock } = setup();
    const job = store.enqueue({ kind: "notebook", payload: 1 }).job;
    const bystander = store.enqueue({ kind: "notebook", payload: 2 }).job;
    store.claim("w", LEASE);
    store.claim("v", LEASE);
    const untouched = others(store, job.id);
    clock.advance(5_000);

    expect(store.requeue(job.id, "v", "stopped")).toBe(false);
    expect(store.get(job.id)?.state).toBe(JobState.running);
    expect(store.requeue(job.id, "w", "stopped by a server shutdown")).toBe(true);
    expect(store.get(job.id)).toMatchObject({
      state: JobState.queued,
      attempts: 0,
      maxAttempts: 1,
      runAt: clock.t,
      lockedBy: null,
      lockedUntil: null,
      lastError: "stopped by a server shutdown",
    });
    expect(store.requeue(job.id, "w", "again")).toBe(false); // no longer running
    expect(others(store, job.id)).toEqual(untouched);
    expect(store.get(bystander.id)?.state).toBe(JobState.running);

    // Claimed again like any queued job; a job of one attempt still has it.
    expect(store.claim("w2", LEASE)).toMatchObject({ id: job.id, attempts: 1 });
    expect(store.fail(job.id, "w2", new TransientError("down"))).toBe("failed");
  });

  test("a cancelled job is not brought back", () => {
    const { store } = setup();
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    store.claim("w", LEASE);
    store.cancel(job.id);
    expect(store.requeue(job.id, "w", "stopped")).toBe(false);
    expect(store.get(job.id)?.state).toBe(JobState.cancelled);
  });
});

describe("JobStore.cancel", () => {
  test("cancels a queued job once, and leaves the others alone", () => {
    const { store } = setup();
    const finished = store.enqueue({ kind: "k", payload: 1 }).job;
    store.enqueue({ kind: "k", payload: 2 });
    const target = store.enqueue({ kind: "k", payload: 3 }).job;
    store.claim("w", LEASE);
    store.complete(finished.id, "w");
    const before = others(store, target.id);
    const told: number[] = [];
    store.onCancel((j) => told.push(j.id));

    expect(store.cancel(target.id)).toBe(true);
    expect(store.get(target.id)?.state).toBe(JobState.cancelled);
    expect(store.cancel(target.id)).toBe(false);
    expect(store.cancel(finished.id)).toBe(false);
    expect(store.cancel(9_999)).toBe(false);
    expect(told).toEqual([target.id]);
    expect(others(store, target.id)).toEqual(before);
    expect(store.claim("w", LEASE)?.payload).toBe(2);
  });

  test("cancels a running job: its worker's heartbeat and completion are refused", () => {
    const { store } = setup();
    const job = store.enqueue({ kind: "k", payload: 1 }).job;
    store.claim("w", LEASE);
    const told: Job[] = [];
    const unsubscribe = store.onCancel((j) => told.push(j));
    expect(store.cancel(job.id)).toBe(true);
    expect(told.map((j) => [j.id, j.state])).toEqual([[job.id, JobState.cancelled]]);
    expect(store.heartbeat(job.id, "w", LEASE)).toBe(false);
    expect(store.complete(job.id, "w")).toBe(false);
    expect(store.get(job.id)).toMatchObject({ state: JobState.cancelled, lockedUntil: null });
    unsubscribe();
    const second = store.enqueue({ kind: "k", payload: 2 }).job;
    store.cancel(second.id);
    expect(told.length).toBe(1);
  });
});

describe("JobStore start-up and reads", () => {
  test("recoverInterrupted fails every running job with the reason and returns them; the rest is untouched", () => {
    const path = tempDbPath();
    const clock = fakeClock();
    const before = new JobStore(openTestDb(path), clock);
    const a = before.enqueue({ kind: "pipeline", payload: { pipelineId: 1 }, maxAttempts: 3 }).job;
    const b = before.enqueue({ kind: "pipeline", payload: { pipelineId: 2 } }).job;
    const ok = before.enqueue({ kind: "pipeline", payload: { pipelineId: 3 } }).job;
    const waiting = before.enqueue({ kind: "pipeline", payload: { pipelineId: 4 } }).job;
    before.claim("old", LEASE);
    before.claim("old", LEASE);
    before.claim("old", LEASE);
    before.complete(ok.id, "old");

    // A new process opens the same file.
    const after = new JobStore(openDatabase(path), clock);
    const untouched = others(after, a.id, b.id);
    const recovered = after.recoverInterrupted("interrupted: the server restarted");
    expect(recovered.map((j) => [j.id, j.state, j.lastError, j.payload])).toEqual([
      [a.id, JobState.failed, "interrupted: the server restarted", { pipelineId: 1 }],
      [b.id, JobState.failed, "interrupted: the server restarted", { pipelineId: 2 }],
    ]);
    expect(others(after, a.id, b.id)).toEqual(untouched);
    expect(after.get(waiting.id)?.state).toBe(JobState.queued);
    expect(after.recoverInterrupted("again")).toEqual([]);
  });

  test("depth counts queued and running jobs only", () => {
    const { store } = setup();
    expect(store.depth()).toBe(0);
    const ids = Array.from({ length: 5 }, (_, i) => store.enqueue({ kind: "k", payload: i }).job.id);
    store.claim("w", LEASE);
    store.claim("w", LEASE);
    store.complete(ids[0]!, "w");
    store.cancel(ids[2]!);
    expect(store.depth()).toBe(3); // 1 running + 2 queued
  });

  test("get returns undefined for a missing job; list filters by state and kind, newest first, up to limit", () => {
    const { store } = setup();
    expect(store.get(1)).toBeUndefined();
    const a = store.enqueue({ kind: "a", payload: 1 }).job;
    const b = store.enqueue({ kind: "b", payload: 2 }).job;
    const c = store.enqueue({ kind: "a", payload: 3 }).job;
    store.cancel(b.id);
    expect(store.list().map((j) => j.id)).toEqual([c.id, b.id, a.id]);
    expect(store.list({ kind: "a" }).map((j) => j.id)).toEqual([c.id, a.id]);
    expect(store.list({ state: JobState.cancelled }).map((j) => j.id)).toEqual([b.id]);
    expect(store.list({ state: JobState.queued, kind: "a", limit: 1 }).map((j) => j.id)).toEqual([c.id]);
  });

  test("findByPayload returns the newest job of a kind with a payload value at a JSON path", () => {
    const { store } = setup();
    const first = store.enqueue({ kind: "pipeline", payload: { pipelineId: 7 } }).job;
    const newest = store.enqueue({ kind: "pipeline", payload: { pipelineId: 7 } }).job;
    store.enqueue({ kind: "pipeline", payload: { pipelineId: 8 } });
    store.enqueue({ kind: "push", payload: { pipelineId: 7 } });
    store.enqueue({ kind: "pipeline", payload: "not an object" });
    expect(store.findByPayload("pipeline", "$.pipelineId", 7)?.id).toBe(newest.id);
    expect(store.findByPayload("pipeline", "$.pipelineId", 9)).toBeUndefined();
    expect(first.id).toBeLessThan(newest.id);
  });
});

describe("claim by kind", () => {
  test("a claim limited to some kinds leaves the other kinds queued", () => {
    const { store } = setup();
    const a = store.enqueue({ kind: "pipeline", payload: 1 }).job;
    const b = store.enqueue({ kind: "push", payload: 2 }).job;
    expect(store.claim("w", 1000, ["push"])?.id).toBe(b.id);
    expect(store.claim("w", 1000, ["push"])).toBeUndefined();
    expect(store.get(a.id)?.state).toBe("queued");
    expect(store.claim("w", 1000)?.id).toBe(a.id);
  });
});

describe("JobStore.pruneEnded", () => {
  test("deletes only jobs that ended longer ago than the age; waiting, running and recently ended ones stay", () => {
    const { store, clock } = setup();
    const DAY = 24 * 3600 * 1000;
    const old = store.enqueue({ kind: "k", payload: "old" }).job;
    store.claim("w", LEASE);
    store.complete(old.id, "w");
    const oldCancelled = store.enqueue({ kind: "k", payload: "old-cancelled" }).job;
    store.cancel(oldCancelled.id);
    const waiting = store.enqueue({ kind: "k", payload: "waiting", runAt: clock.t + 30 * DAY }).job;
    const running = store.enqueue({ kind: "r", payload: "running" }).job;
    store.claim("w", LEASE, ["r"]);
    clock.advance(8 * DAY);
    const recent = store.enqueue({ kind: "k", payload: "recent" }).job;
    store.cancel(recent.id);

    expect(store.pruneEnded(7 * DAY)).toBe(2);
    expect(store.get(old.id)).toBeUndefined();
    expect(store.get(oldCancelled.id)).toBeUndefined();
    expect(store.get(waiting.id)?.state).toBe(JobState.queued);
    expect(store.get(running.id)?.state).toBe(JobState.running);
    expect(store.get(recent.id)?.state).toBe(JobState.cancelled);
    expect(store.pruneEnded(7 * DAY)).toBe(0);
  });
});

describe("JobStore failure kinds", () => {
  test("each way a job does not succeed is recorded as data: error, transient, interrupted, expired, superseded", () => {
    const { store, clock } = setup();
    const k = (payload: number) => store.enqueue({ kind: "k", payload, maxAttempts: payload === 2 ? 3 : 1 }).job;
    const [failing, retrying, stopped, requeued, expiring] = [1, 2, 3, 4, 5].map(k) as [Job, Job, Job, Job, Job];
    for (let i = 0; i < 5; i++) store.claim(`w${i}`, LEASE);
    const holder = (j: Job) => store.get(j.id)!.lockedBy!;
    store.fail(failing.id, holder(failing), new Error("boom"));
    store.fail(retrying.id, holder(retrying), new TransientError("try later"));
    store.fail(stopped.id, holder(stopped), new Error("stopping"), "interrupted");
    store.requeue(requeued.id, holder(requeued), "stopped; queued again");
    clock.advance(LEASE + 1);
    expect(store.reapExpired().map((j) => j.id)).toEqual([expiring.id]);
    const superseding = store.enqueue({ kind: "d", payload: 1, dedupeKey: "x" }).job;
    store.enqueue({ kind: "d", payload: 2, dedupeKey: "x", supersede: true });
    const kinds = Object.fromEntries(
      [failing, retrying, stopped, requeued, expiring].map((j) => [j.payload as number, [store.get(j.id)!.state, store.get(j.id)!.failureKind]]),
    );
    expect(kinds).toEqual({
      1: ["failed", "error"],
      2: ["queued", "transient"],
      3: ["failed", "interrupted"],
      4: ["queued", "interrupted"],
      5: ["failed", "expired"],
    });
    expect(store.get(superseding.id)).toMatchObject({ state: "superseded", failureKind: "superseded" });
    // start-up recovery of a job left running: interrupted
    const running = store.claim("w9", LEASE)!;
    expect(store.recoverInterrupted("interrupted: the server stopped").map((j) => [j.id, j.failureKind])).toEqual([[running.id, "interrupted"]]);
  });
});
