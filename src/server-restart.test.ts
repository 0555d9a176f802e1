// The server as a real child process, SIGKILLed while a notebook runs and started again on the same data dir:
// deployed models serve again within a second, the interrupted pipeline is failed (not left running), the
// notebook's leftover processes are killed from their recorded pids, and queued work still runs. Unsandboxed
// (NOTEBOOK_SANDBOX=off), so the notebook outlives the server; a sandboxed one dies with it
// (src/pipeline/hostile-notebooks.test.ts).
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./db/connection.ts";
import { JobKind } from "./pipeline/pipeline-service.ts";
import { INTERRUPTED, PHASES } from "./pipeline/pipeline-states.ts";
import { REQUEUED_BY_STOP } from "./pipeline/run-pipeline.ts";
import { PipelineStore } from "./pipeline/pipeline-store.ts";
import { JobStore } from "./queue/job-store.ts";
import { ADMIN_TOKEN, makeRepo, ROOT, sendPush, startTestServer, VENV_BIN, waitForPipelines, WEBHOOK_SECRET } from "./testing/e2e.ts";
import {
  modelNotebook,
  predict,
  processesMentioning,
  registerRepo,
  sleeperNotebook,
  tinyOnnxBase64,
  waitForCreated,
  waitForLog,
  workDirOf,
} from "./testing/pipeline-fixtures.ts";
import { eventually } from "./testing/eventually.ts";

const BUN = process.execPath;
const dataDir = mkdtempSync(join(tmpdir(), "mlops-restart-"));
const port = freePort();
const base = `http://127.0.0.1:${port}`;
const children: Bun.Subprocess[] = [];
let leftovers: number[] = [];

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const p = probe.port!;
  probe.stop(true);
  return p;
}

/** `bun src/main.ts serve` on the shared data dir and port; its output goes to a file in the data dir. */
function spawnServer(n: number): Bun.Subprocess {
  const child = Bun.spawn([BUN, join(ROOT, "src", "main.ts"), "serve"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? dataDir,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
      ADMIN_TOKEN,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PAPERMILL: join(VENV_BIN, "papermill"),
      PYTHON: join(VENV_BIN, "python"),
      LOG_LEVEL: "warn",
      WORKER_CONCURRENCY: "1",
      NOTEBOOK_SANDBOX: "off",
    },
    stdin: "ignore",
    stdout: Bun.file(join(dataDir, `server-${n}.out`)),
    stderr: Bun.file(join(dataDir, `server-${n}.err`)),
  });
  children.push(child);
  return child;
}

const api = {
  api: (path: string, init: RequestInit = {}) =>
    fetch(base + path, {
      ...init,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...(init.headers as Record<string, string>) },
    }),
};

type PipelineJson = { id: number; status: string; error: string | null; phases: { name: string; status: string; error: string | null }[] };
const getPipeline = async (id: number) => (await (await api.api(`/api/pipelines/${id}`)).json()) as PipelineJson;
const pipelineOn = async (server: { api(path: string): Promise<Response> }, id: number) =>
  (await (await server.api(`/api/pipelines/${id}`)).json()) as PipelineJson;

function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  return eventually(probe, { what, timeoutMs, everyMs });
}

async function waitForEnd(id: number, timeoutMs = 60_000): Promise<PipelineJson> {
  return waitUntil(
    `pipeline ${id} to end`,
    async () => {
      const p = await getPipeline(id);
      return ["queued", "running"].includes(p.status) ? undefined : p;
    },
    timeoutMs,
  );
}

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    await c.exited;
  }
  // Only if the test failed before the restart killed them: never leave a sleeping kernel behind.
  for (const pid of leftovers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

test("SIGKILL while a notebook runs, then restart: serving within 1 s, interrupted pipeline failed, its processes killed, queued work runs", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const first = spawnServer(1);
  await waitUntil("the first server", async () => ((await fetch(`${base}/health`)).status === 200 ? true : undefined), 20_000);

  // A deployed model to keep serving across the crash.
  const iris = makeRepo({ "iris.ipynb": modelNotebook("iris", onnxB64) });
  const irisRepo = await registerRepo(api, "acme/iris", iris.dir);
  await sendPush(base, { fullName: "acme/iris", cloneUrl: iris.dir, after: iris.sha });
  const irisPipeline = (await waitForCreated(api, irisRepo))[0]!.id;
  expect((await waitForEnd(irisPipeline)).status).toBe("succeeded");
  const served = await predict(base, "iris");
  expect(served.status).toBe(200);

  // A sleeper holds the only worker; a second notebook waits queued behind it.
  const sleepy = makeRepo({ "sleepy.ipynb": sleeperNotebook("sleepy", "the kernel is sleeping") });
  const sleepyRepo = await registerRepo(api, "acme/sleepy", sleepy.dir);
  await sendPush(base, { fullName: "acme/sleepy", cloneUrl: sleepy.dir, after: sleepy.sha });
  const sleeper = (await waitForCreated(api, sleepyRepo))[0]!.id;
  await waitForLog(api, sleeper, "the kernel is sleeping");
  const later = makeRepo({ "later.ipynb": modelNotebook("later", onnxB64) });
  const laterRepo = await registerRepo(api, "acme/later", later.dir);
  await sendPush(base, { fullName: "acme/later", cloneUrl: later.dir, after: later.sha });
  const queued = (await waitForCreated(api, laterRepo))[0]!.id;
  expect((await getPipeline(queued)).status).toBe("queued");

  const marker = workDirOf(dataDir, sleeper);
  leftovers = processesMentioning(marker);
  expect(leftovers.length).toBeGreaterThanOrEqual(2); // papermill and the kernel

  first.kill("SIGKILL");
  await first.exited;
  expect(first.signalCode).toBe("SIGKILL");
  // That is the point: papermill (its own session) and the kernel (another) outlive the server.
  expect(processesMentioning(marker).sort()).toEqual([...leftovers].sort());

  const spawnedAt = performance.now();
  spawnServer(2);
  const answer = await waitUntil(
    "predict after restart",
    async () => {
      const r = await predict(base, "iris");
      return r.status === 200 ? r : undefined;
    },
    20_000,
    5,
  );
  const startToServe = performance.now() - spawnedAt;
  console.log(`restart: /models/iris/predict answered ${Math.round(startToServe)} ms after the new process was spawned`);
  expect(startToServe).toBeLessThan(1_000);
  expect(answer).toEqual(served);

  // Killed at start from the recorded pids + start times, before the port opened.
  expect(processesMentioning(marker)).toEqual([]);
  leftovers = [];

  const interrupted = await getPipeline(sleeper);
  expect(interrupted.status).toBe("failed");
  expect(interrupted.error).toContain("interrupted");
  expect(interrupted.phases.find((ph) => ph.name === "execute")).toMatchObject({ status: "failed" });
  expect(interrupted.phases.find((ph) => ph.name === "execute")!.error).toContain("interrupted");
  // its checkout is removed at start (the pipeline dir itself stays)
  expect(existsSync(join(dataDir, "pipelines", String(sleeper), "repo"))).toBe(false);
  expect(existsSync(join(dataDir, "pipelines", String(sleeper)))).toBe(true);

  // The queued pipeline runs after the restart; nothing was duplicated or re-run.
  const ran = await waitForEnd(queued);
  expect(ran.status).toBe("succeeded");
  expect((await predict(base, "later")).status).toBe(200);
  for (const repoId of [irisRepo, sleepyRepo, laterRepo]) {
    const list = ((await (await api.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: unknown[] }).pipelines;
    expect(list).toHaveLength(1);
  }
  expect((await getPipeline(sleeper)).status).toBe("failed");
}, 120_000);

test("a push whose git intake was cut off by the crash is taken up again at start: its pipelines are created once and run", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const dir = mkdtempSync(join(tmpdir(), "mlops-restart-intake-"));
  const repo = makeRepo({ "a.ipynb": modelNotebook("recovered", onnxB64), "b.ipynb": modelNotebook("recovered-b", onnxB64) });
  const before = await startTestServer({}, dir);
  const repoId = await registerRepo(before, "acme/recover", repo.dir);
  await before.stop();

  // The state a SIGKILL during intake leaves: the accepted push's job running under a dead worker, and one of
  // its two pipelines already created (queued, its job not yet enqueued).
  const db = openDatabase(join(dir, "mlops.db"));
  const jobs = new JobStore(db);
  jobs.enqueue({ kind: JobKind.push, payload: { deliveryId: "cut-off", repoId, sha: repo.sha, before: null, ref: "refs/heads/main" }, maxAttempts: 4 });
  expect(jobs.claim("dead-server/1", 30_000, [JobKind.push])).toBeDefined();
  const half = new PipelineStore(db).create({
    repoId,
    deliveryId: "cut-off",
    trigger: "push",
    ref: "refs/heads/main",
    commitSha: repo.sha,
    notebookPath: "a.ipynb",
  });
  db.$client.close();

  const after = await startTestServer({}, dir);
  try {
    const ended = await waitForPipelines(after, `repo=${repoId}`, 2, 60_000);
    expect(ended.map((p) => [p.notebook_path, p.status]).sort()).toEqual([
      ["a.ipynb", "succeeded"],
      ["b.ipynb", "succeeded"],
    ]);
    expect(ended.find((p) => p.notebook_path === "a.ipynb")!.id).toBe(half.id); // the half-made one ran; no duplicate
    expect((await predict(after.base, "recovered")).status).toBe(200);
  } finally {
    await after.stop();
  }
}, 60_000);

test("a retry cut off between creating its pipeline and queuing its job runs after the restart, once", async () => {
  const onnxB64 = await tinyOnnxBase64();
  const dir = mkdtempSync(join(tmpdir(), "mlops-restart-retry-"));
  const repo = makeRepo({ "a.ipynb": modelNotebook("retried", onnxB64) });
  const before = await startTestServer({}, dir);
  const repoId = await registerRepo(before, "acme/retried", repo.dir);
  await sendPush(before.base, { fullName: "acme/retried", cloneUrl: repo.dir, after: repo.sha });
  const [first] = await waitForPipelines(before, `repo=${repoId}`, 1, 60_000);
  expect(first!.status).toBe("succeeded");
  await before.stop();

  // What a stop inside retry leaves: the new pipeline row, queued, and no job for it.
  const db = openDatabase(join(dir, "mlops.db"));
  const orphan = new PipelineStore(db).create({
    repoId,
    trigger: "retry",
    ref: "refs/heads/main",
    commitSha: repo.sha,
    notebookPath: "a.ipynb",
    retryOf: first!.id,
  });
  expect(new JobStore(db).findByPayload(JobKind.pipeline, "$.pipelineId", orphan.id)).toBeUndefined();
  db.$client.close();

  const after = await startTestServer({}, dir);
  try {
    const ended = await waitForPipelines(after, `repo=${repoId}`, 2, 60_000);
    expect(ended.map((p) => [p.id, p.status]).sort()).toEqual([
      [first!.id, "succeeded"],
      [orphan.id, "succeeded"],
    ]);
    const versions = ((await (await after.api("/api/models/retried")).json()) as { versions: unknown[] }).versions;
    expect(versions).toHaveLength(2); // the first run's version and the retry's: nothing lost, nothing run twice
  } finally {
    await after.stop();
  }
}, 90_000);

test("a graceful stop (no grace) while a notebook runs kills its tree and queues the pipeline again; the next start runs it; stopped a second time it fails as interrupted", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-restart-graceful-"));
  const first = await startTestServer({}, dir);
  const repo = makeRepo({ "sleepy.ipynb": sleeperNotebook("graceful", "sleeping through the stop") });
  const repoId = await registerRepo(first, "acme/graceful", repo.dir);
  await sendPush(first.base, { fullName: "acme/graceful", cloneUrl: repo.dir, after: repo.sha });
  const id = (await waitForCreated(first, repoId))[0]!.id;
  await waitForLog(first, id, "sleeping through the stop");
  const marker = workDirOf(dir, id);
  leftovers = processesMentioning(marker);
  expect(leftovers.length).toBeGreaterThanOrEqual(2);
  // A client following the live log: the stop must end its stream, or the HTTP server could not close.
  const following = first.api(`/api/pipelines/${id}/events`).then((r) => r.text());

  await first.stop(); // what main.ts does on SIGTERM, here with SHUTDOWN_GRACE_SECONDS=0
  expect(processesMentioning(marker)).toEqual([]);
  leftovers = [];
  const streamed = await following;
  expect(streamed).toContain(REQUEUED_BY_STOP);
  expect(streamed).not.toContain("event: done");

  // Between the two servers: the same pipeline is queued as if it had not started, its job waiting, the log kept.
  const db = openDatabase(join(dir, "mlops.db"));
  const store = new PipelineStore(db);
  expect(store.get(id)).toMatchObject({ status: "queued", error: null, startedAt: null, finishedAt: null, shutdownRequeues: 1 });
  expect(store.phases(id).map((ph) => [ph.name, ph.status, ph.error])).toEqual(PHASES.map((name) => [name, "pending", null]));
  expect(new JobStore(db).findByPayload(JobKind.pipeline, "$.pipelineId", id)).toMatchObject({ state: "queued", attempts: 0 });
  expect(store.logs(id).map((l) => l.line)).toContain(`execute ${REQUEUED_BY_STOP}`);
  db.$client.close();

  const second = await startTestServer({}, dir);
  // It runs again (its marker printed a second time), as the same pipeline.
  await waitUntil(
    "the pipeline to run again",
    async () => {
      const log = await (await second.api(`/api/pipelines/${id}/logs`)).text();
      return log.split("sleeping through the stop").length - 1 >= 2 ? log : undefined;
    },
    60_000,
  );
  expect((await pipelineOn(second, id)).status).toBe("running");
  expect(((await (await second.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: unknown[] }).pipelines).toHaveLength(1);
  leftovers = processesMentioning(marker);

  await second.stop();
  expect(processesMentioning(marker)).toEqual([]);
  leftovers = [];

  const third = await startTestServer({}, dir);
  try {
    const p = await pipelineOn(third, id);
    expect(p.status).toBe("failed");
    expect(p.error).toBe(INTERRUPTED);
    expect(p.phases.find((ph) => ph.name === "execute")).toMatchObject({ status: "failed", error: INTERRUPTED });
    const log = await (await third.api(`/api/pipelines/${id}/logs`)).text();
    expect(log).toContain("a shutdown had already stopped it once, so it is not queued again");
    expect(((await (await third.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: unknown[] }).pipelines).toHaveLength(1);
    expect(third.pipelineStore.get(id).shutdownRequeues).toBe(1);
  } finally {
    await third.stop();
  }
}, 90_000);

test("start-up deletes jobs that ended over a week ago and keeps the rest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-restart-prune-"));
  const first = await startTestServer({}, dir);
  await first.stop();
  const db = openDatabase(join(dir, "mlops.db"));
  const eightDaysAgo = new JobStore(db, { now: () => Date.now() - 8 * 24 * 3600 * 1000 });
  const old = eightDaysAgo.enqueue({ kind: "old", payload: {} }).job;
  eightDaysAgo.cancel(old.id);
  const jobs = new JobStore(db);
  const recent = jobs.enqueue({ kind: "recent", payload: {} }).job;
  jobs.cancel(recent.id);
  db.$client.close();

  const second = await startTestServer({}, dir);
  await second.stop();
  const after = new JobStore(openDatabase(join(dir, "mlops.db")));
  expect(after.get(old.id)).toBeUndefined();
  expect(after.get(recent.id)?.state).toBe("cancelled");
});
