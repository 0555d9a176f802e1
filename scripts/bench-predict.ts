// Benchmark: predict throughput and latency of this server against a FastAPI + scikit-learn server built like the
// predecessor's model-server and against a bare Bun server returning a constant (the HTTP ceiling), all in one run;
// then rows/s for 1,000-row requests, and the executable's start-up time with 10 deployed models restored.
// Knobs: BENCH_SECONDS (10) per measured run, BENCH_WARMUP_SECONDS (3), BENCH_ROUNDS (3), BENCH_STEAL_LIMIT (2, percent).
// Run: node_modules/.bin/bun run scripts/bench-predict.ts   (needs .venv; builds a throwaway FastAPI venv in $TMPDIR; installs wrk if missing)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrate, openDatabase } from "../src/db/connection.ts";
import { ModelStore } from "../src/models/model-store.ts";
import { ensureWrk, freePort, median, table, wrk, type WrkResult } from "./bench-support.ts";

const ROOT = resolve(import.meta.dir, "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Every server gets this much load before its measured run: Bun's JIT (and CPython's caches) reach steady state first. */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STEAL_LIMIT_PCT = Number(process.env.BENCH_STEAL_LIMIT ?? 2);
const MAX_TRIES = 4;
const CONNECTIONS = 32;
const BUN = process.execPath;
const ROW = [5.1, 3.5, 1.4, 0.2];

const FASTAPI_REQUIREMENTS = ["fastapi==0.165.0", "uvicorn==0.54.0", "scikit-learn==1.8.0", "joblib==1.6.0", "numpy==2.4.6"];

// The predecessor's model-server: FastAPI, models held in a process-level dict, sklearn predict + predict_proba.
const FASTAPI_SERVER = `
import sys
from typing import Dict, List
import joblib, numpy as np, uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI()
_models: Dict[str, object] = {"iris": joblib.load(sys.argv[1])}

class PredictRequest(BaseModel):
    inputs: List[List[float]]

@app.post("/predict/{model_name}")
def predict(model_name: str, req: PredictRequest):
    model = _models.get(model_name)
    if model is None:
        raise HTTPException(status_code=404, detail="model not loaded")
    X = np.asarray(req.inputs, dtype=np.float64)
    return {"model": model_name, "predictions": model.predict(X).tolist(), "probabilities": model.predict_proba(X).tolist()}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
`;

const BARE_SERVER = `
const body = JSON.stringify({ model: "iris", version: 1, predictions: [0], probabilities: [[0.97, 0.03, 0.0]] });
Bun.serve({ port: Number(process.env.BARE_PORT), hostname: "127.0.0.1", fetch: async (req) => { await req.arrayBuffer(); return new Response(body, { headers: { "Content-Type": "application/json" } }); } });
`;

function run(cmd: string[], opts: { cwd?: string } = {}): void {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} exited ${r.exitCode}`);
}

/** A throwaway venv with FastAPI + scikit-learn, reused across runs while its requirements stay the same. */
function fastapiVenv(): string {
  const dir = join(tmpdir(), `mlops-bench-fastapi-${Bun.hash(FASTAPI_REQUIREMENTS.join(",")).toString(16)}`);
  if (!existsSync(join(dir, ".ready"))) {
    console.log(`building the FastAPI baseline's Python environment in ${dir} …`);
    run(["python3", "-m", "venv", "--clear", dir]);
    run([join(dir, "bin", "pip"), "install", "-q", "--disable-pip-version-check", ...FASTAPI_REQUIREMENTS]);
    writeFileSync(join(dir, ".ready"), "");
  }
  return join(dir, "bin", "python");
}

async function waitHttp(url: string, init?: RequestInit, timeoutMs = 30_000): Promise<number> {
  const t = performance.now();
  for (;;) {
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return performance.now() - t;
    } catch {
      // not listening yet
    }
    if (performance.now() - t > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

const postLua = (body: string) => `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`;

/** A data dir with `names` deployed, each a copy of `onnx`. */
function dataDirWith(onnx: string, names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "mlops-bench-data-"));
  const db = openDatabase(join(dir, "mlops.db"));
  migrate(db);
  const store = new ModelStore(db);
  for (const name of names) {
    const v = store.register({ modelName: name, status: "registered", path: "", sha256: "bench", format: "onnx" }, (version) => {
      const d = join(dir, "models", name, String(version));
      mkdirSync(d, { recursive: true });
      copyFileSync(onnx, join(d, "model.onnx"));
      return join(d, "model.onnx");
    });
    store.recordDeployment({ modelName: name, version: v.version, reason: "manual" });
  }
  db.$client.close();
  return dir;
}

function startOurs(exe: string[], dataDir: string, port: number) {
  return Bun.spawn([...exe, "serve"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
      ADMIN_TOKEN: "bench-admin-token-0123456789",
      LOG_LEVEL: "warn",
      WORKER_CONCURRENCY: "1",
    },
    stdout: "ignore",
    stderr: "inherit",
  });
}

/**
 * One wrk run, repeated (up to MAX_TRIES times) while the hypervisor stole more than STEAL_LIMIT_PCT of the CPU
 * during it: such a run measures the host's other tenants, not the server (seen here: 30% steal halved every server's
 * throughput and multiplied its p99 by five). Every discarded run is printed; the last try is kept whatever its steal.
 */
async function quietRun(url: string, opts: { connections: number; lua: string; seconds: number }): Promise<WrkResult> {
  for (let attempt = 1; ; attempt++) {
    const r = await wrk(url, opts);
    if (!(r.stealPct > STEAL_LIMIT_PCT) || attempt === MAX_TRIES) return r;
    console.log(
      `  (discarded a run of ${url}: steal ${r.stealPct.toFixed(1)}%, ${r.requestsPerSec.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms; running it again)`,
    );
  }
}

/**
 * Measure every server of `urls` ROUNDS times, interleaved (a, b, c, a, b, c, ...), each after one warm-up run with the
 * same load; per server, each figure is the median of its rounds. Interleaving spreads the host's slow spells
 * (this is a shared VM: CPU steal comes and goes) over all servers instead of landing on one.
 */
async function rounds<K extends string>(
  urls: Record<K, string>,
  opts: { connections: number; lua: string },
): Promise<Record<K, { median: WrkResult; all: WrkResult[] }>> {
  const names = Object.keys(urls) as K[];
  if (WARMUP_SECONDS > 0) for (const k of names) await wrk(urls[k], { ...opts, seconds: WARMUP_SECONDS });
  const all = Object.fromEntries(names.map((k) => [k, [] as WrkResult[]])) as Record<K, WrkResult[]>;
  for (let i = 0; i < ROUNDS; i++) for (const k of names) all[k].push(await quietRun(urls[k], { ...opts, seconds: SECONDS }));
  const pick = (rs: WrkResult[]): WrkResult => ({
    requestsPerSec: median(rs.map((r) => r.requestsPerSec)),
    p50Ms: median(rs.map((r) => r.p50Ms)),
    p99Ms: median(rs.map((r) => r.p99Ms)),
    stealPct: median(rs.map((r) => r.stealPct)),
    requests: rs.reduce((a, r) => a + r.requests, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
  });
  return Object.fromEntries(names.map((k) => [k, { median: pick(all[k]), all: all[k] }])) as Record<K, { median: WrkResult; all: WrkResult[] }>;
}

const fmt = (r: WrkResult) =>
  `${r.requestsPerSec.toFixed(0).padStart(7)} req/s   p50 ${r.p50Ms.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms   errors ${r.errors + r.non2xx}`;
/** Say so when runs were kept although the host stole CPU during each try: their figures describe the host. */
function warnIfHostBusy(groups: WrkResult[][]): void {
  const busy = groups.flat().filter((r) => r.stealPct > STEAL_LIMIT_PCT);
  if (!busy.length) return;
  const worst = Math.max(...busy.map((r) => r.stealPct));
  console.log(
    `  warning: ${busy.length} kept run(s) lost more than ${STEAL_LIMIT_PCT}% of the CPU to the hypervisor (up to ${worst.toFixed(0)}%) in every try:`,
  );
  console.log("  these figures measure a busy host, not the servers; run the benchmark again later");
}

const fmtRounds = (rs: WrkResult[]) =>
  rs.map((r) => `${r.requestsPerSec.toFixed(0)}/s p99 ${r.p99Ms.toFixed(2)} ms steal ${r.stealPct.toFixed(1)}%`).join("; ");

ensureWrk();
const modelDir = mkdtempSync(join(tmpdir(), "mlops-bench-model-"));
run([join(ROOT, ".venv", "bin", "python"), join(ROOT, "scripts", "make-test-model.py"), modelDir]);
const onnx = join(modelDir, "model.onnx");
const python = fastapiVenv();

const ports = { ours: freePort(), fastapi: freePort(), bare: freePort() };
const ours = startOurs([BUN, join(ROOT, "src", "main.ts")], dataDirWith(onnx, ["iris"]), ports.ours);
const fastapi = Bun.spawn([python, "-c", FASTAPI_SERVER, join(modelDir, "model.joblib"), String(ports.fastapi)], { stdout: "ignore", stderr: "inherit" });
const bare = Bun.spawn([BUN, "-e", BARE_SERVER], { env: { ...process.env, BARE_PORT: String(ports.bare) }, stdout: "ignore", stderr: "inherit" });
const oneRow = JSON.stringify({ inputs: [ROW] });
const rows1000 = JSON.stringify({ inputs: Array.from({ length: 1000 }, (_, i) => ROW.map((x) => x + (i % 7) * 0.1)) });
const urls = {
  ours: `http://127.0.0.1:${ports.ours}/models/iris/predict`,
  fastapi: `http://127.0.0.1:${ports.fastapi}/predict/iris`,
  bare: `http://127.0.0.1:${ports.bare}/`,
};
try {
  for (const url of Object.values(urls)) await waitHttp(url, { method: "POST", body: oneRow, headers: { "Content-Type": "application/json" } });
  console.log(
    `\npredict, one row per request (wrk: 1 thread, ${CONNECTIONS} connections; ${ROUNDS} interleaved rounds of ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up; medians of the rounds; same machine)`,
  );
  const r1 = await rounds(urls, { connections: CONNECTIONS, lua: postLua(oneRow) });
  table([
    ["mlops /models/iris/predict", fmt(r1.ours.median)],
    ["FastAPI + scikit-learn", fmt(r1.fastapi.median)],
    ["bare Bun constant (ceiling)", fmt(r1.bare.median)],
    ["mlops ÷ FastAPI (goal ≥ 15×)", `${(r1.ours.median.requestsPerSec / r1.fastapi.median.requestsPerSec).toFixed(1)}×`],
    ["mlops ÷ ceiling (goal ≥ 25%)", `${((100 * r1.ours.median.requestsPerSec) / r1.bare.median.requestsPerSec).toFixed(0)}%`],
    ["mlops p99 (goal < 5 ms)", `${r1.ours.median.p99Ms.toFixed(2)} ms`],
    ["rounds: mlops", fmtRounds(r1.ours.all)],
    ["rounds: FastAPI", fmtRounds(r1.fastapi.all)],
    ["rounds: ceiling", fmtRounds(r1.bare.all)],
  ]);
  warnIfHostBusy([r1.ours.all, r1.fastapi.all, r1.bare.all]);

  console.log(`\npredict, 1,000 rows per request (8 connections; ${ROUNDS} interleaved rounds of ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up)`);
  const r1k = await rounds({ ours: urls.ours, fastapi: urls.fastapi }, { connections: 8, lua: postLua(rows1000) });
  const rowsPerSec = (r: WrkResult) => r.requestsPerSec * 1000;
  const fmtRows = (r: WrkResult) => `${rowsPerSec(r).toFixed(0).padStart(9)} rows/s   p99 ${r.p99Ms.toFixed(1)} ms   errors ${r.errors + r.non2xx}`;
  table([
    ["mlops", fmtRows(r1k.ours.median)],
    ["FastAPI + scikit-learn", fmtRows(r1k.fastapi.median)],
    ["mlops ÷ FastAPI (goal ≥ 10×)", `${(rowsPerSec(r1k.ours.median) / rowsPerSec(r1k.fastapi.median)).toFixed(1)}×`],
  ]);
  warnIfHostBusy([r1k.ours.all, r1k.fastapi.all]);
} finally {
  for (const p of [ours, fastapi, bare]) p.kill();
}

// Start-up of the compiled executable with 10 deployed models restored: spawn → first predict answered by the 10th model.
const exe = join(ROOT, "dist", "mlops");
run([BUN, "run", join(ROOT, "scripts", "build.ts")]); // always: a stale executable would measure old code
const names = Array.from({ length: 10 }, (_, i) => `model-${i}`);
const startups: number[] = [];
for (let i = 0; i < 5; i++) {
  const dir = dataDirWith(onnx, names);
  const port = freePort();
  const t = performance.now();
  const p = startOurs([exe], dir, port);
  await waitHttp(`http://127.0.0.1:${port}/models/model-9/predict`, { method: "POST", body: oneRow, headers: { "Content-Type": "application/json" } });
  startups.push(performance.now() - t);
  p.kill();
  await p.exited;
}
console.log("\nstart-up of dist/mlops with 10 deployed models (spawn → 10th model answers predict)");
table([
  ["median (goal < 500 ms)", `${median(startups).toFixed(0)} ms`],
  ["runs", startups.map((t) => `${t.toFixed(0)} ms`).join(", ")],
]);
