import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "../db/connection.ts";
import { Deployer } from "../models/deployer.ts";
import { ModelStore } from "../models/model-store.ts";
import { ModelRegistry } from "../serving/model-registry.ts";
import { openModelSession } from "../serving/model-session.ts";
import { makeMixedModels } from "../testing/test-mixed-models.ts";
import { makeTestModel } from "../testing/test-models.ts";
import { ADMIN_TOKEN, signIn } from "../testing/e2e.ts";
import { spawnServerProcess, type ServerProcess } from "../testing/server-process.ts";

// Each attack is sent for real to the server running as its own process, with iris deployed; /health is asked again and
// again while the attack is in flight. Before the fixes, a 100 KB CSV cell froze the server for 10 s (1 MB: 17 minutes)
// and deep nesting answered 500.
const PROMPT_MS = 500;
let pageCookie = "";
let server: ServerProcess;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-hostile-"));
  // iris takes rows of numbers; reviews takes one column per input, text among them (issue 10).
  const [iris, mixed] = await Promise.all([makeTestModel(join(dataDir, "fixture")), makeMixedModels(join(dataDir, "mixed-fixture"))]);
  const db = openDatabase(join(dataDir, "mlops.db"));
  migrate(db);
  const models = new ModelStore(db);
  const registry = new ModelRegistry(openModelSession);
  for (const [name, path] of [
    ["iris", iris.onnxPath],
    ["reviews", mixed.classifierPath],
  ] as const) {
    const { version } = models.register({ modelName: name, status: "registered", path: "", sha256: "test", format: "onnx" }, (v) => {
      const dir = join(dataDir, "models", name, String(v));
      mkdirSync(dir, { recursive: true });
      copyFileSync(path, join(dir, "model.onnx"));
      return join(dir, "model.onnx");
    });
    await new Deployer(models, registry).deploy(name, version, { reason: "manual", actor: "test" });
  }
  await registry.close();
  db.$client.close();
  server = await spawnServerProcess(dataDir);
  pageCookie = await signIn(server.base);
}, 120_000);
afterAll(async () => {
  await server?.kill();
});

/** Send `init` to `path`; ask /health until it settles (at least once). Returns its answer and the slowest /health. */
async function whileInFlight(path: string, init: RequestInit): Promise<{ status: number; text: string; slowestHealthMs: number }> {
  let settled = false;
  const hostile = fetch(server.base + path, init).then(async (res) => ({ status: res.status, text: await res.text() }));
  void hostile.finally(() => (settled = true)).catch(() => undefined);
  let slowest = 0;
  do {
    const started = performance.now();
    const health = await fetch(`${server.base}/health`);
    await health.arrayBuffer();
    slowest = Math.max(slowest, performance.now() - started);
    expect(health.status).toBe(200);
  } while (!settled);
  return { ...(await hostile), slowestHealthMs: slowest };
}

const csv = (cell: string) => ({ method: "POST", headers: { "Content-Type": "text/csv" }, body: `sl,sw,pl,pw\n${cell},1,2,3\n` });
const json = (body: string) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body });
const deep = (levels: number, inner = "1") => "[".repeat(levels) + inner + "]".repeat(levels);
const oip = (data: string) => json(`{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": ${data}}]}`);

type Attack = [string, string, () => RequestInit, number, string];
const attacks: Attack[] = [
  ["a 100 KB CSV cell of digits ending in a letter", "/models/iris/invocations", () => csv(`${"9".repeat(100_000)}x`), 422, "must be a finite number"],
  ["a 1 MB CSV cell of digits ending in a letter", "/models/iris/invocations", () => csv(`${"9".repeat(1_000_000)}x`), 422, "must be a finite number"],
  ["a 1 MB CSV cell of digits and points", "/models/iris/invocations", () => csv("1.".repeat(500_000)), 422, "must be a finite number"],
  ["predict inputs nested a million levels", "/models/iris/predict", () => json(`{"inputs": ${deep(1_000_000)}}`), 422, "more than 64 levels deep"],
  [
    "predict inputs nested 4.5 million levels (9 MB, under MAX_REQUEST_BYTES)",
    "/models/iris/predict",
    () => json(`{"inputs": ${deep(4_500_000)}}`),
    422,
    "more than 64 levels deep",
  ],
  ["a bare million open brackets", "/models/iris/predict", () => json("[".repeat(1_000_000)), 422, "more than 64 levels deep"],
  [
    "predict inputs nested 60 levels (past the rank, under the JSON cap)",
    "/models/iris/predict",
    () => json(`{"inputs": ${deep(60)}}`),
    422,
    "nested deeper than the 2 dimensions",
  ],
  [
    "a deep value in place of one feature",
    "/models/iris/predict",
    () => json(`{"inputs": [[1, 2, 3, ${deep(60)}]]}`),
    422,
    "inputs[0][3] must be a finite number",
  ],
  ["OIP data nested a million levels", "/v2/models/iris/infer", () => oip(deep(1_000_000)), 422, "more than 64 levels deep"],
  ["OIP data nested 60 levels", "/v2/models/iris/infer", () => oip(deep(60)), 422, "nested deeper than the 2 dimensions"],
  ["MLflow instances nested a million levels", "/models/iris/invocations", () => json(`{"instances": ${deep(1_000_000)}}`), 422, "more than 64 levels deep"],
  ["MLflow inputs nested 60 levels", "/models/iris/invocations", () => json(`{"inputs": ${deep(60)}}`), 422, "nested deeper"],
  [
    "MLflow dataframe_split cell nested 60 levels",
    "/models/iris/invocations",
    () => json(`{"dataframe_split": {"columns": ["a","b","c","d"], "data": [[1, 2, 3, ${deep(60)}]]}}`),
    422,
    "must be a finite number",
  ],
  [
    "a 9 MB text cell in a record (under MAX_REQUEST_BYTES): tokenized in the model's worker",
    "/models/reviews/predict",
    () => json(JSON.stringify({ inputs: [{ text: "great slow ".repeat(820_000), city: "Paris", age: 30, visits: 2 }] })),
    200,
    '"predictions":[',
  ],
  [
    "a 9 MB text cell in CSV",
    "/models/reviews/invocations",
    () => ({ method: "POST", headers: { "Content-Type": "text/csv" }, body: `text,city,age,visits\n"${"late, ".repeat(1_500_000)}",Paris,30,2\n` }),
    200,
    '"predictions":[',
  ],
  [
    "a 1 MB CSV cell of digits ending in a letter, in a number column of a model with one input per column",
    "/models/reviews/predict",
    () => ({ method: "POST", headers: { "Content-Type": "text/csv" }, body: `text,city,age,visits\ngreat,Paris,${"9".repeat(1_000_000)}x,2\n` }),
    422,
    'CSV line 2, column \\"age\\" must be a finite number',
  ],
  ["a 50 MB body declared by Content-Length", "/models/iris/predict", () => json(" ".repeat(50 * 1024 * 1024)), 413, "MAX_REQUEST_BYTES"],
  [
    "a 1 MB deploy_threshold of digits on the repository form",
    "/repos",
    () => ({
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: pageCookie, "HX-Request": "true", Accept: "application/json" },
      body: `full_name=acme%2Fx&deploy_threshold=${"9".repeat(900_000)}x`,
    }),
    400,
    "deploy_threshold",
  ],
];

describe("hostile requests: a clear 4xx, and /health answers promptly while they are in flight", () => {
  test.each(attacks)("%s", async (_name, path, init, status, message) => {
    const res = await whileInFlight(path, init());
    expect({ status: res.status, text: res.text.slice(0, 300) }).toMatchObject({ status });
    expect(res.text).toContain(message);
    expect(res.text.length).toBeLessThan(2000);
    expect(res.slowestHealthMs).toBeLessThan(PROMPT_MS);
  });

  test("a 50 MB chunked body is cut off with 413 once it passes MAX_REQUEST_BYTES", async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x20);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 50 * chunk.length) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await whileInFlight("/models/iris/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(50 * chunk.length);
    expect(res.slowestHealthMs).toBeLessThan(PROMPT_MS);
  });

  test("after all of it, iris still predicts", async () => {
    const res = await fetch(`${server.base}/models/iris/predict`, json(JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] })));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
  });
});
