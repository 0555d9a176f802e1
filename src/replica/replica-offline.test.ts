// A replica whose primary is away: it starts from its cache (or answers 503 with none), serves only predictions,
// enforces its own PREDICT_TOKEN, refuses bad settings, and drains on SIGTERM. The primary's port is one nothing
// listens on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { seedCache, spawnReplica, startTestReplica, type TestReplica } from "../testing/replica-support.ts";
import { freePort, runMlopsCommand } from "../testing/server-process.ts";
import { makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";

const TOKEN = "replica-token-0123456789abcdef";
const PREDICT_TOKEN = "predict-token-0123456789abcdef";
let f: ServingFixtures;
let away: string;
const started: TestReplica[] = [];

beforeAll(async () => {
  f = await makeServingFixtures();
  away = `http://127.0.0.1:${freePort()}`;
}, 90_000);
afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
});

async function replica(dataDir?: string, env: Record<string, string> = {}): Promise<TestReplica> {
  const r = await startTestReplica(away, TOKEN, { dataDir, env });
  started.push(r);
  return r;
}

function seeded(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "mlops-replica-cache-"));
  return seedCache(dir, 7, { iris: { version: 3, onnxPath: f.iris.onnxPath }, reg: { version: 1, onnxPath: f.regressor.onnxPath } }).then(() => dir);
}

const predict = (base: string, name: string, rows: number[][], headers: Record<string, string> = {}) =>
  fetch(`${base}/models/${name}/predict`, { method: "POST", headers, body: JSON.stringify({ inputs: rows }) });

type Health = {
  status: string;
  role: string;
  models: Record<string, number>;
  primary: { url: string; reachable: boolean; since: string; revision: number | null; error?: string };
  state_source: string | null;
  problems: { model: string; error: string }[];
};

describe("a replica with neither primary nor cache", () => {
  test("listens but answers /health and OIP readiness 503 until its first sync; no model serves", async () => {
    const r = await replica();
    const health = await fetch(`${r.base}/health`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as Health & { reason: string };
    expect(body).toMatchObject({ status: "starting", role: "replica", state_source: null, primary: { url: away, reachable: false, revision: null } });
    expect(body.reason).toContain("cache is empty");
    expect(body.primary.error).toBeTruthy();
    expect((await fetch(`${r.base}/v2/health/ready`)).status).toBe(503);
    const res = await predict(r.base, "iris", f.iris.expected.rows);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain("no model is serving yet");
  });
});

describe("a replica started from its cache with the primary away", () => {
  let r: TestReplica;
  beforeAll(async () => {
    r = await replica(await seeded());
  }, 60_000);

  test("serves what the cache last held, with the same answers as the model gives, and says where it came from", async () => {
    const res = await predict(r.base, "iris", f.iris.expected.rows);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: unknown; version: number };
    expect(body.predictions).toEqual(f.iris.expected.labels);
    expect(body.version).toBe(3);
    const reg = (await (await predict(r.base, "reg", f.regressor.rows)).json()) as { predictions: number[] };
    reg.predictions.forEach((p, i) => expect(p).toBeCloseTo(f.regressor.predictions[i]!, 4));
    const health = await fetch(`${r.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "ok",
      role: "replica",
      models: { iris: 3, reg: 1 },
      state_source: "cache",
      primary: { url: away, reachable: false, revision: 7 },
      problems: [],
    });
  });

  test("answers MLflow invocations and OIP v2 for the serving version", async () => {
    const inv = await fetch(`${r.base}/models/iris/invocations`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: f.iris.expected.rows }),
    });
    expect(inv.status).toBe(200);
    const meta = (await (await fetch(`${r.base}/v2/models/iris`)).json()) as { versions: string[] };
    expect(meta.versions).toEqual(["3"]);
    const infer = await fetch(`${r.base}/v2/models/iris/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: f.iris.expected.rows[0] }] }),
    });
    expect(infer.status).toBe(200);
  });

  test("reports the primary in /metrics", async () => {
    const text = await (await fetch(`${r.base}/metrics`)).text();
    expect(text).toMatch(/^mlops_replica_primary_last_contact_seconds \d/m);
    expect(text).toMatch(/^mlops_replica_revision 7$/m);
    expect(text).toMatch(/^mlops_replica_primary_reachable 0$/m);
    expect(text).toMatch(/^mlops_models_loaded\{kind="serving"\} 2$/m);
  });

  test("every route but serving answers 404 JSON naming the primary, pinned versions included", async () => {
    const cases: [string, string][] = [
      ["GET", "/"],
      ["GET", "/api/models"],
      ["POST", "/api/repos"],
      ["POST", "/webhook/github"],
      ["GET", "/pipelines/1"],
      ["GET", "/login"],
      ["POST", "/models/iris/versions/3/predict"],
      ["GET", "/v2/models/iris/versions/3"],
      ["POST", "/v2/models/iris/versions/3/infer"],
    ];
    for (const [method, path] of cases) {
      const res = await fetch(r.base + path, { method, body: method === "POST" ? "{}" : undefined });
      expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 404`);
      const body = (await res.json()) as { error: string; primary: string };
      expect(body.error).toStartWith(`this server is a replica of ${away}: it only serves predictions; ${path}`);
      expect(body.primary).toBe(away);
    }
    // Still serving after all of them.
    expect((await predict(r.base, "iris", f.iris.expected.rows)).status).toBe(200);
  });
});

test("a cached file that does not match its recorded sha256 is never served; the others are", async () => {
  const dir = await seeded();
  const path = join(dir, "replica", "models", "iris", "3.onnx");
  const bytes = readFileSync(path);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  writeFileSync(path, bytes);
  const r = await replica(dir);
  const res = await predict(r.base, "iris", f.iris.expected.rows);
  expect(res.status).toBe(404);
  expect((await predict(r.base, "reg", f.regressor.rows)).status).toBe(200);
  const health = (await (await fetch(`${r.base}/health`)).json()) as Health;
  expect(health.models).toEqual({ reg: 1 });
  expect(health.problems).toEqual([expect.objectContaining({ model: "iris", wanted: 3, serving: null })]);
  expect(health.problems[0]!.error).toContain("does not match its sha256");
});

test("PREDICT_TOKEN of its own guards predictions and /metrics; /health stays open", async () => {
  const r = await replica(await seeded(), { PREDICT_TOKEN });
  expect((await predict(r.base, "iris", f.iris.expected.rows)).status).toBe(401);
  expect((await predict(r.base, "iris", f.iris.expected.rows, { Authorization: `Bearer ${TOKEN}` })).status).toBe(401);
  expect((await fetch(`${r.base}/metrics`)).status).toBe(401);
  expect((await fetch(`${r.base}/v2/models/iris`)).status).toBe(401);
  const ok = await predict(r.base, "iris", f.iris.expected.rows, { Authorization: `Bearer ${PREDICT_TOKEN}` });
  expect(ok.status).toBe(200);
  expect((await fetch(`${r.base}/health`)).status).toBe(200);
  expect((await fetch(`${r.base}/v2/health/live`)).status).toBe(200);
});

describe("mlops replica as a process", () => {
  test("a missing REPLICA_TOKEN or a bad primary URL stops it with one clear line, exit 2, and leaves its cache alone", async () => {
    const dir = await seeded();
    const state = readFileSync(join(dir, "replica", "state.json"), "utf8");
    const cases: [string[], Record<string, string>, string][] = [
      [["replica", away], { REPLICA_TOKEN: "" }, 'mlops: cannot start: invalid REPLICA_TOKEN="": must be set to a replica token of the primary'],
      [["replica", "ftp://primary"], { REPLICA_TOKEN: TOKEN }, 'mlops: cannot start: invalid primary URL "ftp://primary"'],
      [["replica", away], { REPLICA_TOKEN: TOKEN, PORT: "99999" }, 'mlops: cannot start: invalid PORT="99999"'],
      [["replica"], { REPLICA_TOKEN: TOKEN }, "usage: mlops replica <primary URL>"],
    ];
    for (const [args, env, line] of cases) {
      const { code, err } = await runMlopsCommand(args, { DATA_DIR: dir, ...env });
      expect(code).toBe(2);
      expect(err.trim().split("\n")).toEqual([expect.stringContaining(line)]);
    }
    expect(readFileSync(join(dir, "replica", "state.json"), "utf8")).toBe(state);
  }, 60_000);

  test("SIGTERM drains: /health 503 for the grace period while predictions are served, a request in flight past it finishes, then exit 0", async () => {
    const dir = await seeded();
    const p = spawnReplica(away, TOKEN, dir, { SHUTDOWN_GRACE_SECONDS: "2" });
    try {
      await eventually(async () => (await fetch(`${p.base}/health`)).status === 200, { what: "the replica to serve from its cache", timeoutMs: 30_000 });
      expect(p.output()).toContain("serving what the cache last held");
      // A prediction whose body is still arriving when the signal comes.
      const body = new TextEncoder().encode(JSON.stringify({ inputs: f.iris.expected.rows }));
      let finish!: () => void;
      const rest = new Promise<void>((resolve) => (finish = resolve));
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(body.subarray(0, 10));
          await rest;
          controller.enqueue(body.subarray(10));
          controller.close();
        },
      });
      const inFlight = fetch(`${p.base}/models/iris/predict`, { method: "POST", body: stream, duplex: "half" } as RequestInit);
      p.proc.kill("SIGTERM");
      const draining = await eventually(
        async () => {
          const res = await fetch(`${p.base}/health`);
          return res.status === 503 ? ((await res.json()) as Health) : undefined;
        },
        { what: "/health to answer 503 while draining", timeoutMs: 5_000 },
      );
      expect(draining.status).toBe("stopping");
      // New predictions are still answered while the load balancer takes the replica out.
      expect((await predict(p.base, "iris", f.iris.expected.rows)).status).toBe(200);
      // The grace period ends and the port closes: only a request already in flight can still be answered.
      await eventually(
        async () => {
          try {
            await fetch(`${p.base}/health`);
            return false;
          } catch {
            return true;
          }
        },
        { what: "the replica to close its port after the grace period", timeoutMs: 10_000 },
      );
      finish();
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(((await res.json()) as { predictions: unknown }).predictions).toEqual(f.iris.expected.labels);
      expect(await p.proc.exited).toBe(0);
    } finally {
      await p.kill();
    }
  }, 60_000);
});

test("a prediction body over MAX_REQUEST_BYTES is refused with 413 JSON, and the replica keeps serving", async () => {
  const r = await replica(await seeded(), { MAX_REQUEST_BYTES: "2048" });
  const res = await predict(
    r.base,
    "iris",
    Array.from({ length: 200 }, () => f.iris.expected.rows[0]!),
  );
  expect(res.status).toBe(413);
  expect(((await res.json()) as { error: string }).error).toContain("MAX_REQUEST_BYTES");
  expect((await predict(r.base, "iris", f.iris.expected.rows)).status).toBe(200);
});
