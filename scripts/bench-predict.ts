// Benchmark: predict throughput and latency of this server against a FastAPI + scikit-learn server built like the
// predecessor's model-server and against a bare Bun server returning a constant (the HTTP ceiling), all in one run;
// then rows/s for 1,000-row requests, and the executable's start-up time with 10 deployed models restored.
// Run: node_modules/.bin/bun run scripts/bench-predict.ts   (needs .venv; builds a throwaway FastAPI venv in $TMPDIR; installs wrk if missing)
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrate, openDatabase } from "../src/db/connection.ts";
import { ModelStore } from "../src/models/model-store.ts";
import { ensureWrk, freePort, median, table, wrk, type WrkResult } from "./bench-support.ts";

const ROOT = resolve(import.meta.dir, "..");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
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
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", ADMIN_TOKEN: "bench-admin-token-0123456789", LOG_LEVEL: "warn", WORKER_CONCURRENCY: "1" },
    stdout: "ignore",
    stderr: "inherit",
  });
}

const fmt = (r: WrkResult) => `${r.requestsPerSec.toFixed(0).padStart(7)} req/s   p50 ${r.p50Ms.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms   errors ${r.errors + r.non2xx}`;

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
const urls = { ours: `http://127.0.0.1:${ports.ours}/models/iris/predict`, fastapi: `http://127.0.0.1:${ports.fastapi}/predict/iris`, bare: `http://127.0.0.1:${ports.bare}/` };
try {
  for (const url of Object.values(urls)) await waitHttp(url, { method: "POST", body: oneRow, headers: { "Content-Type": "application/json" } });
  console.log(`\npredict, one row per request (wrk: 1 thread, ${CONNECTIONS} connections, ${SECONDS} s each, same machine)`);
  const r1 = {
    ours: await wrk(urls.ours, { connections: CONNECTIONS, seconds: SECONDS, lua: postLua(oneRow) }),
    fastapi: await wrk(urls.fastapi, { connections: CONNECTIONS, seconds: SECONDS, lua: postLua(oneRow) }),
    bare: await wrk(urls.bare, { connections: CONNECTIONS, seconds: SECONDS, lua: postLua(oneRow) }),
  };
  table([
    ["mlops /models/iris/predict", fmt(r1.ours)],
    ["FastAPI + scikit-learn", fmt(r1.fastapi)],
    ["bare Bun constant (ceiling)", fmt(r1.bare)],
    ["mlops ÷ FastAPI (goal ≥ 15×)", `${(r1.ours.requestsPerSec / r1.fastapi.requestsPerSec).toFixed(1)}×`],
    ["mlops ÷ ceiling (goal ≥ 25%)", `${((100 * r1.ours.requestsPerSec) / r1.bare.requestsPerSec).toFixed(0)}%`],
  ]);

  console.log(`\npredict, 1,000 rows per request (8 connections, ${SECONDS} s each)`);
  const r1k = {
    ours: await wrk(urls.ours, { connections: 8, seconds: SECONDS, lua: postLua(rows1000) }),
    fastapi: await wrk(urls.fastapi, { connections: 8, seconds: SECONDS, lua: postLua(rows1000) }),
  };
  const rowsPerSec = (r: WrkResult) => r.requestsPerSec * 1000;
  table([
    ["mlops", `${rowsPerSec(r1k.ours).toFixed(0).padStart(9)} rows/s   p99 ${r1k.ours.p99Ms.toFixed(1)} ms   errors ${r1k.ours.errors + r1k.ours.non2xx}`],
    ["FastAPI + scikit-learn", `${rowsPerSec(r1k.fastapi).toFixed(0).padStart(9)} rows/s   p99 ${r1k.fastapi.p99Ms.toFixed(1)} ms   errors ${r1k.fastapi.errors + r1k.fastapi.non2xx}`],
    ["mlops ÷ FastAPI (goal ≥ 10×)", `${(rowsPerSec(r1k.ours) / rowsPerSec(r1k.fastapi)).toFixed(1)}×`],
  ]);
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
