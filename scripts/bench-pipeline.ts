// Benchmark: push-to-serving overhead over bare papermill, the environment phase cold and warm against bare uv, and
// webhook intake rate against a bare verify-and-insert handler. With --ray: push-to-serving with RUNNER_BACKEND=ray on
// a real two-node Ray cluster next to the local runner and bare papermill, for the same notebook (run inside a network
// namespace with loopback alone, which the script enters by itself through `unshare -n`, as scripts/test-ray.sh does).
// Run: node_modules/.bin/bun run scripts/bench-pipeline.ts [--ray]   (needs .venv: scripts/setup-python.sh, and for
// --ray .venv-ray: scripts/setup-ray-python.sh; installs wrk if missing)
import { Database } from "bun:sqlite";
import { Webhooks } from "@octokit/webhooks";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PLATFORM_REQUIREMENTS } from "../src/environments/python-environments.ts";
import { commit, exampleNotebook, makeRepo, sendPush, startTestServer, VENV_BIN, waitForPipelines, WEBHOOK_SECRET } from "../src/testing/e2e.ts";
import { networkInterfaces, startRayCluster } from "../src/testing/ray-cluster.ts";
import { freePort } from "../src/testing/server-process.ts";
import { ensureWrk, median, table, wrk } from "./bench-support.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const nb = exampleNotebook("iris-onnx.ipynb");

async function barePapermill(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "mlops-bench-pm-"));
  Bun.write(join(dir, "in.ipynb"), nb);
  const t = performance.now();
  const r = Bun.spawnSync(
    [
      join(VENV_BIN, "papermill"),
      join(dir, "in.ipynb"),
      join(dir, "out.ipynb"),
      "-r",
      "MODEL_OUTPUT_PATH",
      join(dir, "model.onnx"),
      "-r",
      "METRICS_OUTPUT_PATH",
      join(dir, "m.json"),
      "--log-output",
      "--no-progress-bar",
      "--cwd",
      dir,
    ],
    { stdout: "ignore", stderr: "ignore" },
  );
  if (r.exitCode !== 0) throw new Error("papermill failed");
  return performance.now() - t;
}

/** Push → the new version answers, RUNS times, on a server started with `env` (a fresh data dir each call). */
async function pushToServing(env: Record<string, string> = {}): Promise<number[]> {
  const server = await startTestServer({ WORKER_CONCURRENCY: "1", ...env });
  const repo = makeRepo({ "iris.ipynb": nb });
  await server.api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: "bench/iris", clone_url: repo.dir }) });
  const times: number[] = [];
  let before: string | undefined;
  let sha = repo.sha;
  for (let i = 1; i <= RUNS; i++) {
    if (i > 1) {
      before = sha;
      sha = commit(repo.dir, { "iris.ipynb": nb.replace('VERSION = \\"1.0.0\\"', `VERSION = \\"1.0.${i}\\"`) }, `run ${i}`);
    }
    const t = performance.now();
    await sendPush(server.base, { fullName: "bench/iris", cloneUrl: repo.dir, after: sha, before });
    for (;;) {
      const res = await fetch(`${server.base}/models/iris/predict`, { method: "POST", body: '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}' });
      await res.arrayBuffer();
      if (res.headers.get("x-model-version") === String(i)) break;
      await Bun.sleep(5);
    }
    times.push(performance.now() - t);
  }
  await server.stop();
  return times;
}

// A repository's own requirements for the environment runs: a pinned scikit-learn and a small helper package.
const REQUIREMENTS = "scikit-learn==1.7.2\ntabulate==0.9.0\n";

/** Seconds for what a script would do: a fresh venv and `uv pip install` of the same requirements with `cache`. */
function bareUv(cache: string): number {
  const dir = mkdtempSync(join(tmpdir(), "mlops-bench-uv-"));
  writeFileSync(join(dir, "platform.txt"), PLATFORM_REQUIREMENTS);
  writeFileSync(join(dir, "requirements.txt"), REQUIREMENTS);
  const env = { ...process.env, UV_CACHE_DIR: cache, UV_PYTHON_DOWNLOADS: "never", UV_SYSTEM_CERTS: "1", UV_NO_PROGRESS: "1" };
  const base = Bun.spawnSync([join(VENV_BIN, "python"), "-c", "import sys; print(sys._base_executable)"])
    .stdout.toString()
    .trim();
  const t = performance.now();
  for (const argv of [
    ["venv", "--quiet", "--python", base, join(dir, "venv")],
    [
      "pip",
      "install",
      "--quiet",
      "--python",
      join(dir, "venv", "bin", "python"),
      "--only-binary",
      ":all:",
      "-r",
      join(dir, "platform.txt"),
      "-r",
      join(dir, "requirements.txt"),
    ],
  ]) {
    const r = Bun.spawnSync([join(VENV_BIN, "uv"), ...argv], { env, stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`uv ${argv[0]} failed: ${r.stderr.toString()}`);
  }
  return (performance.now() - t) / 1000;
}

/** The environment phase's seconds for a first push (new environment, empty package cache) and a second (reused). */
async function environmentPhase(): Promise<{ cold: number; warm: number }> {
  const server = await startTestServer({ WORKER_CONCURRENCY: "1" }, undefined, { environmentCache: mkdtempSync(join(tmpdir(), "mlops-bench-cache-")) });
  const repo = makeRepo({ "iris.ipynb": nb, "requirements.txt": REQUIREMENTS });
  const res = await server.api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: "bench/env", clone_url: repo.dir }) });
  const { id } = (await res.json()) as { id: number };
  const phaseSeconds = async (count: number) => {
    const ended = await waitForPipelines(server, `repo=${id}`, count, 600_000);
    const last = ended.sort((a, b) => b.id - a.id)[0]! as unknown as { status: string; phases: { name: string; duration_ms: number }[] };
    if (last.status !== "succeeded") throw new Error(`the environment pipeline ended ${last.status}`);
    return last.phases.find((p) => p.name === "environment")!.duration_ms / 1000;
  };
  await sendPush(server.base, { fullName: "bench/env", cloneUrl: repo.dir, after: repo.sha });
  const cold = await phaseSeconds(1);
  const sha = commit(repo.dir, { "iris.ipynb": nb.replace('VERSION = \\"1.0.0\\"', 'VERSION = \\"1.0.1\\"') }, "again");
  await sendPush(server.base, { fullName: "bench/env", cloneUrl: repo.dir, after: sha, before: repo.sha });
  const warm = await phaseSeconds(2);
  await server.stop();
  return { cold, warm };
}

function intakeLua(): string {
  // Each request gets a fresh delivery id, so every one is stored; the body and signature stay the same.
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: "1".repeat(40),
    repository: { full_name: "nobody/unregistered", clone_url: "https://example.invalid/x.git" },
    commits: [],
  });
  const sig = `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex")}`;
  return `
wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-GitHub-Event"] = "push"
wrk.headers["X-Hub-Signature-256"] = "${sig}"
local n = 0
local prefix = "${randomUUID()}-" .. tostring(math.random(1, 1000000000)) .. "-"
request = function()
  n = n + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. n
  return wrk.format()
end
`;
}

/** The baseline: Bun.serve + @octokit/webhooks verify + one INSERT, nothing else. */
function bareIntakeServer() {
  const db = new Database(join(mkdtempSync(join(tmpdir(), "mlops-bench-bare-")), "bare.db"));
  db.exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
  db.exec("CREATE TABLE d (id TEXT PRIMARY KEY, event TEXT, repo TEXT, outcome TEXT)");
  const insert = db.prepare("INSERT INTO d VALUES (?, ?, ?, ?)");
  const hooks = new Webhooks({ secret: WEBHOOK_SECRET });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const body = await req.text();
      if (!(await hooks.verify(body, req.headers.get("x-hub-signature-256") ?? ""))) return new Response("no", { status: 401 });
      const p = JSON.parse(body);
      insert.run(req.headers.get("x-github-delivery"), req.headers.get("x-github-event"), p.repository.full_name, "ignored");
      return Response.json({ ignored: "unregistered" });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/`,
    count: () => (db.query("SELECT count(*) AS n FROM d").get() as { n: number }).n,
    stop: () => server.stop(true),
  };
}

async function intake() {
  ensureWrk();
  const bare = bareIntakeServer();
  const bareRun = await wrk(bare.url, { connections: 32, seconds: SECONDS, lua: intakeLua() });
  const bareStored = bare.count();
  bare.stop();

  const server = await startTestServer();
  const ours = await wrk(`${server.base}/webhook/github`, { connections: 32, seconds: SECONDS, lua: intakeLua() });
  const db = new Database(join(server.dataDir, "mlops.db"), { readonly: true });
  const stored = (db.query("SELECT count(*) AS n FROM webhook_deliveries").get() as { n: number }).n;
  db.close();
  await server.stop();
  return { bareRun, bareStored, ours, stored };
}

/** Push to serving on Ray next to local and bare papermill, in the same run and on the same notebook. */
async function rayAgainstLocal(): Promise<void> {
  if (networkInterfaces().join() !== "lo") {
    // Ray advertises the machine's non-loopback address: run this mode where loopback is all there is.
    const r = Bun.spawnSync(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], {
      stdout: "inherit",
      stderr: "inherit",
    });
    process.exit(r.exitCode ?? 1);
  }
  console.log(`bench-pipeline --ray: ${RUNS} pushes per backend, iris-onnx notebook, a two-node Ray cluster on loopback\n`);
  const cluster = await startRayCluster();
  try {
    const port = freePort();
    const rayEnv = { RUNNER_BACKEND: "ray", RAY_ADDRESS: cluster.address, PUBLIC_URL: `http://127.0.0.1:${port}`, PORT: String(port) };
    const bare: number[] = [];
    for (let i = 0; i < RUNS; i++) bare.push(await barePapermill());
    const local = await pushToServing();
    const ray = await pushToServing(rayEnv);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const runs = (t: number[]) => `runs: ${t.map((x) => (x / 1000).toFixed(2)).join(", ")}`;
    table([
      ["bare papermill (median)", `${s(median(bare))}   ${runs(bare)}`],
      ["push → serving, RUNNER_BACKEND=local", `${s(median(local))}   ${runs(local)}`],
      ["push → serving, RUNNER_BACKEND=ray", `${s(median(ray))}   ${runs(ray)}`],
      ["ray against local", `+${s(median(ray) - median(local))}  (${(median(ray) / median(local)).toFixed(2)}×)`],
    ]);
  } finally {
    await cluster.stop();
  }
}

if (process.argv.includes("--ray")) {
  await rayAgainstLocal();
  process.exit(0);
}

console.log(`bench-pipeline: ${RUNS} runs each; ${SECONDS} s of load per intake run (wrk, 1 thread, 32 connections)\n`);
const bare: number[] = [];
for (let i = 0; i < RUNS; i++) bare.push(await barePapermill());
const push = await pushToServing();
const bareMs = median(bare);
const pushMs = median(push);
console.log("push to serving (iris-onnx notebook)");
table([
  ["bare papermill (median)", `${(bareMs / 1000).toFixed(2)} s   runs: ${bare.map((t) => (t / 1000).toFixed(2)).join(", ")}`],
  ["push → predict answers new version", `${(pushMs / 1000).toFixed(2)} s   runs: ${push.map((t) => (t / 1000).toFixed(2)).join(", ")}`],
  ["overhead (goal ≤ 1 s)", `${((pushMs - bareMs) / 1000).toFixed(2)} s`],
]);

const bareCache = mkdtempSync(join(tmpdir(), "mlops-bench-cache-"));
const bareCold = bareUv(bareCache);
const bareWarm = bareUv(bareCache);
const env = await environmentPhase();
console.log("\nenvironment phase (requirements.txt: scikit-learn==1.7.2, tabulate; with the platform's packages)");
table([
  ["bare uv: new venv + install, empty cache", `${bareCold.toFixed(2)} s`],
  ["environment phase, first push (empty cache)", `${env.cold.toFixed(2)} s  (${(env.cold / bareCold).toFixed(2)}× bare uv)`],
  ["bare uv: new venv + install, warm cache", `${bareWarm.toFixed(2)} s`],
  ["environment phase, next push (reused)", `${(env.warm * 1000).toFixed(0)} ms  (${(env.warm / bareWarm).toFixed(3)}× bare uv warm)`],
]);

const r = await intake();
console.log("\nwebhook intake (signed pushes to an unregistered repository, each stored)");
table([
  [
    "bare verify-and-insert Bun handler",
    `${r.bareRun.requestsPerSec.toFixed(0)} deliveries/s  (stored ${r.bareStored} of ${r.bareRun.requests}, non-2xx ${r.bareRun.non2xx})`,
  ],
  [
    "mlops POST /webhook/github",
    `${r.ours.requestsPerSec.toFixed(0)} deliveries/s  (stored ${r.stored} of ${r.ours.requests}, non-2xx ${r.ours.non2xx}, p99 ${r.ours.p99Ms.toFixed(2)} ms)`,
  ],
  ["ratio to the bare handler (goal ≥ 5,000/s absolute)", `${(r.ours.requestsPerSec / r.bareRun.requestsPerSec).toFixed(2)}×`],
]);
