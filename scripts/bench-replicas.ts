// Benchmark: serving replicas. (1) From a deploy on the primary (its API answering) to every replica answering
// predictions with the new version, p50/p99 over DEPLOYS deploys (goal under 200 ms on loopback). (2) Predict
// throughput through HAProxy (deploy/haproxy.cfg) with one and with two replicas, against the primary alone, in the
// same run (on 2 cores the point is the cost of the extra hop, not scaling).
// Run: node_modules/.bin/bun run scripts/bench-replicas.ts   (needs .venv and Debian's haproxy: scripts/setup.sh --test;
// installs wrk if missing)
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer } from "../src/testing/e2e.ts";
import { startHaproxy } from "../src/testing/haproxy.ts";
import { spawnReplica, storeOnPrimary } from "../src/testing/replica-support.ts";
import { freePort } from "../src/testing/server-process.ts";
import { makeServingFixtures } from "../src/testing/serving-test-support.ts";
import { ensureWrk, median, table, wrk } from "./bench-support.ts";

const DEPLOYS = Number(process.env.BENCH_DEPLOYS ?? 40);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 32;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

ensureWrk();
const f = await makeServingFixtures();
const primaryDir = mkdtempSync(join(tmpdir(), "mlops-bench-primary-"));
const primary = await startTestServer({ PORT: String(freePort()), LOG_LEVEL: "silent" }, primaryDir);
const token = ((await (await primary.api("/api/replica-tokens", { method: "POST", body: "{}" })).json()) as { token: string }).token;
for (let i = 0; i < 2; i++) await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath);
const deploy = async (version: number) => {
  const res = await primary.api("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version }) });
  if (res.status !== 200) throw new Error(`deploy v${version}: ${res.status} ${await res.text()}`);
};
await deploy(1);

const ports = [freePort(), freePort()];
const replicas = ports.map((port) => spawnReplica(primary.base, token, mkdtempSync(join(tmpdir(), "mlops-bench-replica-")), { LOG_LEVEL: "warn" }, { port }));
const body = JSON.stringify({ inputs: f.iris.expected.rows.slice(0, 1) });
const versionAt = async (base: string) => {
  const res = await fetch(`${base}/models/iris/predict`, { method: "POST", body }).catch(() => undefined);
  await res?.arrayBuffer();
  return res?.status === 200 ? res.headers.get("x-model-version") : null;
};
for (const r of replicas) while ((await versionAt(r.base)) !== "1") await Bun.sleep(20);

// (1) Deploy → every replica answers the new version, polled every millisecond per replica.
const lags: number[] = [];
for (let i = 0; i < DEPLOYS; i++) {
  const version = i % 2 === 0 ? 2 : 1;
  const t = performance.now();
  await deploy(version);
  await Promise.all(
    replicas.map(async (r) => {
      while ((await versionAt(r.base)) !== String(version)) await Bun.sleep(1);
    }),
  );
  lags.push(performance.now() - t);
}

// (2) Throughput: the primary alone, HAProxy before one replica (both server lines on it), HAProxy before two.
const lua = `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`;
const primaryRun = await wrk(`${primary.base}/models/iris/predict`, { connections: CONNECTIONS, seconds: SECONDS, lua });
const one = await startHaproxy([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[0]}`]);
const oneRun = await wrk(`${one.base}/models/iris/predict`, { connections: CONNECTIONS, seconds: SECONDS, lua });
await one.stop();
const two = await startHaproxy([`127.0.0.1:${ports[0]}`, `127.0.0.1:${ports[1]}`]);
const twoRun = await wrk(`${two.base}/models/iris/predict`, { connections: CONNECTIONS, seconds: SECONDS, lua });
await two.stop();

for (const r of replicas) await r.kill();
await primary.stop();

console.log(`bench-replicas: ${DEPLOYS} deploys alternating two versions; ${SECONDS} s of load per throughput run (wrk, ${CONNECTIONS} connections)\n`);
console.log("deploy on the primary → both replicas answer with the new version (goal p99 < 200 ms)");
table([
  ["p50", `${pct(lags, 50).toFixed(1)} ms`],
  ["p99", `${pct(lags, 99).toFixed(1)} ms`],
  ["median of all", `${median(lags).toFixed(1)} ms`],
]);
console.log("\npredict throughput, 1 row per request");
const line = (r: typeof primaryRun, base?: typeof primaryRun) =>
  `${r.requestsPerSec.toFixed(0)} req/s, p99 ${r.p99Ms.toFixed(2)} ms, non-2xx ${r.non2xx}, errors ${r.errors}${base ? `  (${(r.requestsPerSec / base.requestsPerSec).toFixed(2)}× the primary alone)` : ""}`;
table([
  ["the primary alone (no load balancer)", line(primaryRun)],
  ["HAProxy → one replica", line(oneRun, primaryRun)],
  ["HAProxy → two replicas", line(twoRun, primaryRun)],
]);
