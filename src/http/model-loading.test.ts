// Loading a big model (deploy, rollback, a pinned version on demand) never holds up requests to other models:
// over real HTTP, a client keeps predicting with a small model while a ~40 MB forest loads.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeBigModel } from "../testing/test-big-model.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { addVersion } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";
import { eventually } from "../testing/eventually.ts";

/** Generous: a request to a loaded model takes well under 10 ms here; a load blocking the thread takes hundreds. */
const BOUND_MS = 100;

let iris: TestModel;
let bigPath: string;
let t: ReturnType<typeof makeTestApp>;
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-loading-"));
  [iris, bigPath] = await Promise.all([makeTestModel(join(dir, "iris")), makeBigModel(join(dir, "big.onnx"))]);
  t = makeTestApp();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
  const v = addVersion(t.deps, "iris", iris.onnxPath);
  expect((await api("/api/models/iris/deploy", { version: v })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  server?.stop(true);
  await t?.deps.registry.close();
});

function api(path: string, body?: unknown): Promise<Response> {
  return fetch(base + path, {
    method: "POST",
    headers: { ...t.auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

type Timed = { start: number; ms: number };

/**
 * Predict with iris in a loop while `action` runs; returns how long the action took and the iris requests that were
 * in flight during it. Every iris answer must be right.
 */
async function whileIrisServes(action: () => Promise<Response>): Promise<{ actionMs: number; status: number; during: Timed[] }> {
  const done: Timed[] = [];
  const failures: string[] = [];
  let running = true;
  const client = async () => {
    while (running) {
      const start = performance.now();
      const res = await fetch(`${base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: iris.expected.rows }) });
      const body = (await res.json()) as { predictions?: number[] };
      done.push({ start, ms: performance.now() - start });
      if (res.status !== 200 || JSON.stringify(body.predictions) !== JSON.stringify(iris.expected.labels))
        failures.push(`${res.status} ${JSON.stringify(body)}`);
    }
  };
  const clients = [client(), client()];
  // Let the clients reach their steady pace before the load starts.
  await eventually(() => done.length >= 20, { what: "the clients' first 20 answers", everyMs: 1 });
  const started = performance.now();
  const res = await action();
  const ended = performance.now();
  await res.arrayBuffer();
  running = false;
  await Promise.all(clients);
  expect(failures).toEqual([]);
  return { actionMs: ended - started, status: res.status, during: done.filter((r) => r.start + r.ms > started && r.start < ended) };
}

function expectUnblocked(r: { actionMs: number; status: number; during: Timed[] }): void {
  expect(r.status).toBe(200);
  // The load itself took long: had it run on the serving thread, the requests below would have waited that long.
  expect(r.actionMs).toBeGreaterThan(3 * BOUND_MS);
  // Checked first so that a load on the serving thread fails here, naming how long the other model's requests waited:
  // blocked, nearly all of them would wait for the load, and one of them about as long as the load took. A single
  // pause of the loaded CI machine (GC, scheduling) may slow one request past the bound, so the bound is on the 90th
  // percentile and the slowest is held to half the load's time.
  const ms = r.during.map((d) => d.ms).sort((a, b) => a - b);
  expect(ms[Math.floor(ms.length * 0.9)]!).toBeLessThan(BOUND_MS);
  expect(ms.at(-1)!).toBeLessThan(r.actionMs / 2);
  expect(r.during.length).toBeGreaterThan(5);
}

describe("loading a big model while another model serves", () => {
  test("deploy: the other model's requests keep their latency", async () => {
    const v = addVersion(t.deps, "big", bigPath);
    expectUnblocked(await whileIrisServes(() => api("/api/models/big/deploy", { version: v })));
    const res = await fetch(`${base}/models/big/predict`, { method: "POST", body: JSON.stringify({ inputs: iris.expected.rows }) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { predictions: number[] }).predictions).toHaveLength(iris.expected.rows.length);
  }, 120_000);

  test("rollback to a big version: the other model's requests keep their latency", async () => {
    // big: v1 serving (the big forest, from the test above); deploy a small v2, then roll back to v1.
    const small = addVersion(t.deps, "big", iris.onnxPath);
    expect((await api("/api/models/big/deploy", { version: small })).status).toBe(200);
    expectUnblocked(await whileIrisServes(() => api("/api/models/big/rollback")));
    expect(t.deps.registry.version("big")).toBe(1);
  }, 120_000);

  test("a pinned version loaded on demand: the other model's requests keep their latency", async () => {
    const pinned = addVersion(t.deps, "big", bigPath);
    const r = await whileIrisServes(() =>
      // a version never deployed: only the admin token may pin it
      fetch(`${base}/models/big/versions/${pinned}/predict`, { method: "POST", headers: t.auth, body: JSON.stringify({ inputs: iris.expected.rows }) }),
    );
    expectUnblocked(r);
    expect(t.deps.registry.pinnedCount()).toBe(1);
  }, 120_000);
});
