// Graceful shutdown with the server as a real child process: SIGTERM while a real notebook runs. During the grace
// period /health says "stopping" (503), predictions and webhook deliveries are still answered, no new work starts;
// then the notebook's whole process tree is killed, its pipeline goes back to queued and the process exits 0. The
// next start runs that same pipeline (and the push accepted during the grace). A notebook that ends within the grace
// finishes normally; a second signal cuts the grace short.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./db/connection.ts";
import { isAlive, processStartTime, type ProcessRecord } from "./lib/process-tree.ts";
import { JobKind } from "./pipeline/pipeline-service.ts";
import { PHASES } from "./pipeline/pipeline-states.ts";
import { PipelineStore } from "./pipeline/pipeline-store.ts";
import { REQUEUED_BY_STOP } from "./pipeline/run-pipeline.ts";
import { JobStore } from "./queue/job-store.ts";
import { makeRepo, sendPush } from "./testing/e2e.ts";
import {
  gate,
  gatedNotebook,
  modelNotebook,
  predict,
  processesMentioning,
  registerRepo,
  tinyOnnxBase64,
  waitForCreated,
  waitForLog,
  workDirOf,
} from "./testing/pipeline-fixtures.ts";
import { freePort, spawnServer, waitForReady, waitUntil, type ServerProcess } from "./testing/server-process.ts";

const spawned: ServerProcess[] = [];
const gates: ReturnType<typeof gate>[] = [];
const notebookPids: ProcessRecord[] = [];

afterAll(async () => {
  for (const g of gates) g.stop();
  // Only when a test failed half-way: never leave a server or a waiting kernel behind.
  for (const s of spawned) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill("SIGKILL");
    await s.proc.exited;
  }
  for (const p of notebookPids) {
    if (processStartTime(p.pid) === p.startTime) process.kill(p.pid, "SIGKILL");
  }
});

function start(dataDir: string, port: number, name: string, env: Record<string, string>): ServerProcess {
  const s = spawnServer({ dataDir, port, name, env: { WORKER_CONCURRENCY: "1", ...env } });
  spawned.push(s);
  return s;
}

type PipelineJson = { id: number; status: string; error: string | null; phases: { name: string; status: string }[] };
const pipeline = async (s: ServerProcess, id: number) => (await (await s.api(`/api/pipelines/${id}`)).json()) as PipelineJson;

async function waitForEnd(s: ServerProcess, id: number, timeoutMs = 60_000): Promise<PipelineJson> {
  return waitUntil(
    `pipeline ${id} to end`,
    async () => {
      const p = await pipeline(s, id);
      return ["queued", "running"].includes(p.status) ? undefined : p;
    },
    timeoutMs,
  );
}

/** The processes the server recorded for a running pipeline (papermill, then the kernel), once there are at least two. */
async function recordedProcesses(dataDir: string, id: number): Promise<ProcessRecord[]> {
  const db = openDatabase(join(dataDir, "mlops.db"));
  try {
    const store = new PipelineStore(db);
    return await waitUntil(
      "papermill and its kernel to be recorded",
      async () => {
        const procs = store.processes(id);
        return procs.length >= 2 ? procs : undefined;
      },
      30_000,
    );
  } finally {
    db.$client.close();
  }
}

/** Recorded processes still alive (same pid and start time: a reused pid is another process; a zombie is dead). */
const stillAlive = (procs: ProcessRecord[]) => procs.filter((p) => processStartTime(p.pid) === p.startTime && isAlive(p.pid));

/** Wait for the process to exit; returns its exit code and the milliseconds since `since`. */
async function exited(s: ServerProcess, since: number): Promise<{ code: number | null; signal: unknown; afterMs: number }> {
  await s.proc.exited;
  return { code: s.proc.exitCode, signal: s.proc.signalCode, afterMs: performance.now() - since };
}

/** Read the database of a stopped server. */
function inDatabase<T>(dataDir: string, read: (store: PipelineStore, jobs: JobStore) => T): T {
  const db = openDatabase(join(dataDir, "mlops.db"));
  try {
    return read(new PipelineStore(db), new JobStore(db));
  } finally {
    db.$client.close();
  }
}

test("SIGTERM while a notebook runs: 503 stopping at once, predict and webhooks still answered, exit 0 after the grace, nothing left running, the same pipeline runs at the next start", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-shutdown-"));
  const go = gate();
  gates.push(go);
  const port = freePort();
  const GRACE_S = 2;
  const first = start(dataDir, port, "first", { SHUTDOWN_GRACE_SECONDS: String(GRACE_S) });
  await waitForReady(first);

  // A deployed model to keep serving through the stop, and a repository whose push will arrive during it.
  const iris = makeRepo({ "iris.ipynb": modelNotebook("iris", onnxB64) });
  const irisRepo = await registerRepo(first, "acme/iris", iris.dir);
  await sendPush(first.base, { fullName: "acme/iris", cloneUrl: iris.dir, after: iris.sha });
  expect((await waitForEnd(first, (await waitForCreated(first, irisRepo))[0]!.id)).status).toBe("succeeded");
  const served = await predict(first.base, "iris");
  expect(served.status).toBe(200);
  const late = makeRepo({ "late.ipynb": modelNotebook("late", onnxB64) });
  const lateRepo = await registerRepo(first, "acme/late", late.dir);

  const slow = makeRepo({ "slow.ipynb": gatedNotebook("slow", onnxB64, "training slowly", go.url) });
  const slowRepo = await registerRepo(first, "acme/slow", slow.dir);
  await sendPush(first.base, { fullName: "acme/slow", cloneUrl: slow.dir, after: slow.sha });
  const id = (await waitForCreated(first, slowRepo))[0]!.id;
  await waitForLog(first, id, "training slowly");
  const procs = await recordedProcesses(dataDir, id);
  notebookPids.push(...procs);
  // A client following the live log.
  const following = first.api(`/api/pipelines/${id}/events`).then((r) => r.text());

  const signalledAt = performance.now();
  first.proc.kill("SIGTERM");
  const health = await waitUntil(
    "/health to say stopping",
    async () => {
      const res = await fetch(`${first.base}/health`);
      return res.status === 503 ? { afterMs: performance.now() - signalledAt, body: (await res.json()) as { status: string } } : undefined;
    },
    5_000,
    10,
  );
  console.log(`/health answered 503 ${Math.round(health.afterMs)} ms after SIGTERM`);
  expect(health.body.status).toBe("stopping");
  expect(health.afterMs).toBeLessThan(1_500); // "at once", with room for a loaded machine

  // During the grace period: predictions are served, a signed push is stored (and only stored).
  expect(await predict(first.base, "iris")).toEqual(served);
  const delivery = await sendPush(first.base, { fullName: "acme/late", cloneUrl: late.dir, after: late.sha });
  expect(delivery.status).toBe(202);

  const exit = await exited(first, signalledAt);
  console.log(`exited ${exit.code} ${Math.round(exit.afterMs)} ms after SIGTERM (grace ${GRACE_S} s)`);
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(exit.afterMs).toBeLessThan(GRACE_S * 1000 + 10_000);
  expect(exit.afterMs).toBeGreaterThanOrEqual(GRACE_S * 1000); // the notebook had its grace
  expect(stillAlive(procs)).toEqual([]);
  expect(processesMentioning(workDirOf(dataDir, id))).toEqual([]);
  expect(first.output()).not.toContain("stop failed");
  // The live log stream was ended by the stop (the HTTP server could not have closed otherwise), after saying why.
  const streamed = await following;
  expect(streamed).toContain(REQUEUED_BY_STOP);
  expect(streamed).not.toContain("event: done");

  // Stored for the next start: the pipeline queued as if it had not started, its job waiting; the push's intake waiting.
  inDatabase(dataDir, (store, jobs) => {
    expect(store.get(id)).toMatchObject({ status: "queued", error: null, shutdownRequeues: 1 });
    expect(store.phases(id).map((ph) => ph.status)).toEqual(PHASES.map(() => "pending"));
    expect(jobs.findByPayload(JobKind.pipeline, "$.pipelineId", id)?.state).toBe("queued");
    expect(jobs.list({ kind: JobKind.push, state: "queued" })).toHaveLength(1);
    expect(store.list({ repoId: lateRepo })).toEqual([]); // stored, not taken up: no new work started
  });

  // The next start: the same pipeline runs (this time the test lets it finish), and so does the stored push.
  go.open();
  const second = start(dataDir, port, "second", { SHUTDOWN_GRACE_SECONDS: String(GRACE_S) });
  await waitForReady(second);
  const rerun = await waitForEnd(second, id);
  expect(rerun.status).toBe("succeeded");
  expect(rerun.phases.map((ph) => ph.status)).toEqual(PHASES.map((name) => (name === "environment" ? "skipped" : "succeeded")));
  const log = await (await second.api(`/api/pipelines/${id}/logs`)).text();
  expect(log).toContain(`execute ${REQUEUED_BY_STOP}`);
  expect(log.split("training slowly").length - 1).toBe(2);
  expect(await waitForCreated(second, slowRepo)).toHaveLength(1); // the same pipeline, not a new one
  expect((await predict(second.base, "slow")).status).toBe(200);
  const lateRun = (await waitForCreated(second, lateRepo))[0]!;
  expect((await waitForEnd(second, lateRun.id)).status).toBe("succeeded");
  expect(await predict(second.base, "iris")).toEqual(served);

  second.proc.kill("SIGTERM");
  expect((await exited(second, performance.now())).code).toBe(0);
}, 180_000);

test("a notebook that ends within the grace period finishes normally (succeeded, deployed) and the server then exits 0", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-shutdown-finish-"));
  const go = gate();
  gates.push(go);
  const server = start(dataDir, freePort(), "server", { SHUTDOWN_GRACE_SECONDS: "120" });
  await waitForReady(server);
  const repo = makeRepo({ "slow.ipynb": gatedNotebook("finisher", onnxB64, "almost done", go.url) });
  const repoId = await registerRepo(server, "acme/finisher", repo.dir);
  await sendPush(server.base, { fullName: "acme/finisher", cloneUrl: repo.dir, after: repo.sha });
  const id = (await waitForCreated(server, repoId))[0]!.id;
  await waitForLog(server, id, "almost done");
  const procs = await recordedProcesses(dataDir, id);
  notebookPids.push(...procs);

  const signalledAt = performance.now();
  server.proc.kill("SIGTERM");
  await waitUntil("/health to say stopping", async () => ((await fetch(`${server.base}/health`)).status === 503 ? true : undefined), 5_000, 10);
  // Still running in the grace period: the stop waits for it rather than killing it.
  expect(stillAlive(procs).length).toBeGreaterThan(0);
  go.open();

  const exit = await exited(server, signalledAt);
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(exit.afterMs).toBeLessThan(120_000); // it left as soon as the notebook was done, not at the grace's end
  expect(stillAlive(procs)).toEqual([]);
  inDatabase(dataDir, (store) => {
    const p = store.get(id);
    expect(p).toMatchObject({ status: "succeeded", error: null, modelVersion: 1, shutdownRequeues: 0 });
    expect(store.phases(id).map((ph) => ph.status)).toEqual(PHASES.map((name) => (name === "environment" ? "skipped" : "succeeded")));
    expect(store.logs(id).map((l) => l.line)).not.toContain(`execute ${REQUEUED_BY_STOP}`);
  });
  expect(existsSync(join(dataDir, "pipelines", String(id), "executed.ipynb"))).toBe(true);
}, 120_000);

test("a second SIGTERM during a long grace period stops the notebook at once; the pipeline is queued again and the server exits 0", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-shutdown-twice-"));
  const GRACE_S = 600;
  const server = start(dataDir, freePort(), "server", { SHUTDOWN_GRACE_SECONDS: String(GRACE_S) });
  await waitForReady(server);
  const never = gate();
  gates.push(never);
  const repo = makeRepo({ "slow.ipynb": gatedNotebook("impatient", onnxB64, "taking my time", never.url) });
  const repoId = await registerRepo(server, "acme/impatient", repo.dir);
  await sendPush(server.base, { fullName: "acme/impatient", cloneUrl: repo.dir, after: repo.sha });
  const id = (await waitForCreated(server, repoId))[0]!.id;
  await waitForLog(server, id, "taking my time");
  const procs = await recordedProcesses(dataDir, id);
  notebookPids.push(...procs);

  const signalledAt = performance.now();
  server.proc.kill("SIGTERM");
  await waitUntil("/health to say stopping", async () => ((await fetch(`${server.base}/health`)).status === 503 ? true : undefined), 5_000, 10);
  expect(stillAlive(procs).length).toBeGreaterThan(0); // waiting out its grace
  server.proc.kill("SIGTERM");

  const exit = await exited(server, signalledAt);
  expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  expect(exit.afterMs).toBeLessThan(60_000); // far from the 600 s grace
  expect(stillAlive(procs)).toEqual([]);
  expect(server.output()).toContain("second stop signal");
  inDatabase(dataDir, (store, jobs) => {
    expect(store.get(id)).toMatchObject({ status: "queued", shutdownRequeues: 1 });
    expect(jobs.findByPayload(JobKind.pipeline, "$.pipelineId", id)?.state).toBe("queued");
  });
}, 120_000);
