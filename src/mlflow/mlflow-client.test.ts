// MlflowClient against a real MLflow server (./.venv-mlflow, SQLite store, proxied artifacts in a temp dir).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { TransientError } from "../lib/errors.ts";
import { freePort, startMlflowServer, type MlflowServer } from "../testing/mlflow-server.ts";
import { MlflowClient, MlflowError } from "./mlflow-client.ts";
import { pace } from "../testing/eventually.ts";

const ROOT = resolve(import.meta.dir, "..", "..");

let server: MlflowServer;
let client: MlflowClient;
let experimentId: string;

beforeAll(async () => {
  server = await startMlflowServer();
  client = new MlflowClient(`${server.url}/`);
  experimentId = await client.getOrCreateExperiment("client-test");
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection");
}

describe("MlflowClient against a real MLflow server", () => {
  test("getOrCreateExperiment is idempotent, also when calls race", async () => {
    expect(client.baseUrl).toBe(server.url);
    expect(await client.getOrCreateExperiment("client-test")).toBe(experimentId);
    const ids = await Promise.all(Array.from({ length: 6 }, () => client.getOrCreateExperiment("raced")));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).not.toBe(experimentId);
  });

  test("createRun sets name and tags; getRun reads them back", async () => {
    const run = await client.createRun(experimentId, { runName: "first", tags: { "mlops.pipeline": "p1", sha: "abc" }, startTime: 1_700_000_000_000 });
    expect(run.experimentId).toBe(experimentId);
    expect(run.status).toBe("RUNNING");
    expect(run.artifactUri).toBe(`mlflow-artifacts:/${experimentId}/${run.runId}/artifacts`);
    const got = await client.getRun(run.runId);
    expect(got.tags).toMatchObject({ "mlops.pipeline": "p1", sha: "abc", "mlflow.runName": "first" });
    expect(got.metrics).toEqual({});
    expect(client.runUrl(run)).toBe(`${server.url}/#/experiments/${experimentId}/runs/${run.runId}`);
  });

  test("logBatch splits >1000 metrics, >100 params and >100 tags into calls MLflow accepts; getRun has the latest value per key", async () => {
    const run = await client.createRun(experimentId);
    const metrics: { key: string; value: number; step?: number }[] = Array.from({ length: 1500 }, (_, i) => ({ key: `m${i}`, value: i / 2 }));
    metrics.push({ key: "loss", value: 0.9, step: 0 }, { key: "loss", value: 0.5, step: 1 }, { key: "loss", value: 0.2, step: 2 }, { key: "nan", value: NaN });
    const params = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, `v${i}`]));
    const tags = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`t${i}`, "x".repeat(i)]));
    await client.logBatch(run.runId, { metrics, params, tags });
    const got = await client.getRun(run.runId);
    expect(Object.keys(got.metrics).length).toBe(1502);
    expect(got.metrics.m1499).toBe(749.5);
    expect(got.metrics.loss).toBe(0.2);
    expect(got.metrics.nan).toBeNaN();
    expect(got.params).toEqual(params);
    expect(got.tags).toMatchObject(tags);
    await client.logBatch(run.runId, {}); // nothing to log: no call, no error
  });

  test("a param keeps its value: the same value again is fine, another one is MlflowError INVALID_PARAMETER_VALUE", async () => {
    const run = await client.createRun(experimentId);
    await client.logBatch(run.runId, { params: { lr: "0.1" } });
    await client.logBatch(run.runId, { params: { lr: "0.1" } });
    const e = await failure(client.logBatch(run.runId, { params: { lr: "0.2" } }));
    expect(e).toBeInstanceOf(MlflowError);
    expect((e as MlflowError).status).toBe(400);
    expect((e as MlflowError).code).toBe("INVALID_PARAMETER_VALUE");
    expect((await client.getRun(run.runId)).params.lr).toBe("0.1");
  });

  test("artifacts round-trip byte for byte under nested paths; listArtifacts lists one level", async () => {
    const run = await client.createRun(experimentId);
    const onnx = new Uint8Array(300_000).map((_, i) => (i * 7919) % 256);
    const odd = new TextEncoder().encode("naïve # ? % bytes\n");
    await client.uploadArtifact(run, "model/model.onnx", onnx);
    await client.uploadArtifact(run, "model/sub dir/naïve 100%.txt", odd);
    await client.uploadArtifact(run, "metrics.json", Buffer.from("{}"));
    expect(await client.downloadArtifact(run, "model/model.onnx")).toEqual(onnx);
    expect(await client.downloadArtifact(run, "model/sub dir/naïve 100%.txt")).toEqual(odd);
    const root = await client.listArtifacts(run.runId);
    expect(root.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: "metrics.json", isDir: false, fileSize: 2 },
      { path: "model", isDir: true },
    ]);
    const model = await client.listArtifacts(run.runId, "model");
    expect(model.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: "model/model.onnx", isDir: false, fileSize: 300_000 },
      { path: "model/sub dir", isDir: true },
    ]);
    const missing = await failure(client.downloadArtifact(run, "model/nope.bin"));
    expect(missing).toBeInstanceOf(MlflowError);
    // MLflow refuses "#" (and ".." segments) in artifact paths.
    const hash = await failure(client.uploadArtifact(run, "model/a#b.txt", odd));
    expect((hash as MlflowError).code).toBe("INVALID_PARAMETER_VALUE");
  });

  test("endRun's status and end time show in getRun", async () => {
    const run = await client.createRun(experimentId);
    await client.endRun(run.runId, "FAILED", Date.now());
    expect((await client.getRun(run.runId)).status).toBe("FAILED");
    await client.endRun(run.runId, "FINISHED");
    expect((await client.getRun(run.runId)).status).toBe("FINISHED");
  });

  test("registered model, versions, search and alias", async () => {
    const run = await client.createRun(experimentId);
    await client.uploadArtifact(run, "model/model.onnx", new Uint8Array([1, 2, 3]));
    await client.ensureRegisteredModel("iris");
    await client.ensureRegisteredModel("iris");
    expect(await client.searchModelVersions("iris")).toEqual([]);
    const source = `${run.artifactUri}/model`;
    const v1 = await client.createModelVersion("iris", { source, runId: run.runId, tags: { sha: "a1" }, description: "first" });
    const v2 = await client.createModelVersion("iris", { source, runId: run.runId });
    expect(v1).toEqual({ name: "iris", version: "1", runId: run.runId, source, tags: { sha: "a1" } });
    expect(v2.version).toBe("2");
    expect((await client.searchModelVersions("iris")).map((v) => v.version)).toEqual(["1", "2"]);
    expect(await client.searchModelVersions("no-such-model")).toEqual([]);
    await client.setAlias("iris", "production", "1");
    await client.setAlias("iris", "production", "2");
    const res = await fetch(`${server.url}/api/2.0/mlflow/registered-models/alias?name=iris&alias=production`);
    expect(((await res.json()) as { model_version: { version: string } }).model_version.version).toBe("2");
    expect((await client.versionByAlias("iris", "production"))?.version).toBe("2");
    expect(await client.registeredModelNames()).toContain("iris");
    await client.deleteAlias("iris", "production");
    expect(await client.versionByAlias("iris", "production")).toBeUndefined();
    await client.deleteAlias("iris", "production"); // already gone: fine
    expect(await client.versionByAlias("no-such-model", "production")).toBeUndefined();
    const e = await failure(client.createModelVersion("not-registered", { source, runId: run.runId }));
    expect(e).toBeInstanceOf(MlflowError);
  });

  test("an unknown run is MlflowError RESOURCE_DOES_NOT_EXIST", async () => {
    const e = await failure(client.getRun("0123456789abcdef0123456789abcdef"));
    expect(e).toBeInstanceOf(MlflowError);
    expect([400, 404]).toContain((e as MlflowError).status);
    expect((e as MlflowError).code).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  test("the notebook runtime's mlflow (./.venv) logs into a run the client created (docs/notebook-contract.md)", async () => {
    const run = await client.createRun(experimentId);
    const script = [
      "import mlflow, os",
      "with mlflow.start_run(run_id=os.environ['MLFLOW_RUN_ID']):",
      "    mlflow.log_metric('accuracy', 0.93)",
      "    mlflow.log_param('depth', '3')",
    ].join("\n");
    const py = Bun.spawnSync([join(ROOT, ".venv", "bin", "python"), "-c", script], {
      env: { ...process.env, MLFLOW_TRACKING_URI: server.url, MLFLOW_RUN_ID: run.runId },
      stderr: "pipe",
    });
    expect(py.stderr.toString()).not.toContain("Traceback");
    expect(py.exitCode).toBe(0);
    const got = await client.getRun(run.runId);
    expect(got.metrics.accuracy).toBe(0.93);
    expect(got.params.depth).toBe("3");
  }, 30_000);
});

describe("failures the queue should retry are TransientError", () => {
  test("a closed port: unreachable, naming the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const e = await failure(new MlflowClient(url).getOrCreateExperiment("x"));
    expect(e).toBeInstanceOf(TransientError);
    expect((e as Error).message).toContain(`MLflow at ${url} is unreachable: connection refused`);
  });

  test("5xx and 429 answers, and no answer within the timeout", async () => {
    const stub = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const path = new URL(req.url).pathname;
        if (path.endsWith("/runs/get")) return Response.json({ error_code: "INTERNAL_ERROR", message: "database is locked" }, { status: 503 });
        if (path.endsWith("/runs/update")) return new Response("slow down", { status: 429 });
        await pace(2000); // answers later than the client waits
        return Response.json({});
      },
    });
    try {
      const c = new MlflowClient(`http://127.0.0.1:${stub.port}`, { timeoutMs: 200 });
      const e503 = await failure(c.getRun("r"));
      expect(e503).toBeInstanceOf(TransientError);
      expect((e503 as Error).message).toContain("answered 503");
      expect((e503 as Error).message).toContain("database is locked");
      expect(await failure(c.endRun("r", "FINISHED"))).toBeInstanceOf(TransientError);
      const slow = await failure(c.createRun("1"));
      expect(slow).toBeInstanceOf(TransientError);
      expect((slow as Error).message).toContain(`MLflow at http://127.0.0.1:${stub.port} is unreachable: no answer within 200 ms`);
    } finally {
      stub.stop(true);
    }
  });

  test("MLflow down, then started on the port handed out earlier: the same client works", async () => {
    const port = await freePort();
    const c = new MlflowClient(`http://127.0.0.1:${port}`);
    expect(await failure(c.getOrCreateExperiment("later"))).toBeInstanceOf(TransientError);
    const later = await startMlflowServer({ port });
    try {
      expect(later.port).toBe(port);
      expect(await c.getOrCreateExperiment("later")).toMatch(/^\d+$/);
    } finally {
      await later.stop();
    }
    expect(await failure(c.getOrCreateExperiment("later"))).toBeInstanceOf(TransientError);
  }, 60_000);
});
