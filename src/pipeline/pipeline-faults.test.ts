// Faults end to end (docs/faults.md): bad exports fail at register and a runaway notebook times out; serving stays as it was.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import {
  exportNotebook,
  modelNotebook,
  predict,
  processesMentioning,
  registerRepo,
  sleeperNotebook,
  tinyOnnxBase64,
  waitForCreated,
  waitForLog,
  workDirOf,
} from "../testing/pipeline-fixtures.ts";
import { makeRepo, sendPush, startTestServer, waitForPipelines, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";

const MODEL = "tiny";
let server: TestServer;
let onnxB64: string;

type ModelJson = { serving_version: number; versions: { version: number }[] };
const modelState = async (s: TestServer) => (await (await s.api(`/api/models/${MODEL}`)).json()) as ModelJson;

/** Transfer the model to `fullName` (it belongs to acme/champion, whose pipeline registered it first). */
async function giveModelTo(s: TestServer, fullName: string) {
  const res = await s.api(`/api/models/${MODEL}/owner`, { method: "POST", body: JSON.stringify({ full_name: fullName }) });
  if (res.status !== 200) throw new Error(`transfer to ${fullName}: ${res.status} ${await res.text()}`);
}

beforeAll(async () => {
  [server, onnxB64] = await Promise.all([startTestServer(), tinyOnnxBase64()]);
  // The champion the failures below must leave serving.
  const repo = makeRepo({ "tiny.ipynb": modelNotebook(MODEL, onnxB64) });
  const repoId = await registerRepo(server, "acme/champion", repo.dir);
  await sendPush(server.base, { fullName: "acme/champion", cloneUrl: repo.dir, after: repo.sha });
  const [p] = await waitForPipelines(server, `repo=${repoId}`, 1);
  if (p?.status !== "succeeded") throw new Error(`the champion did not deploy: ${JSON.stringify(p)}`);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("register failures leave serving untouched", () => {
  test("no model, garbage bytes, a joblib dict, metrics that are not JSON: each fails at register with the reason", async () => {
    const before = await predict(server.base, MODEL);
    expect(before.status).toBe(200);
    expect(before.body.version).toBe(1);
    const versionsBefore = (await modelState(server)).versions.map((v) => v.version);

    const repo = makeRepo({
      "nothing.ipynb": exportNotebook(MODEL, "pass"),
      "garbage.ipynb": exportNotebook(MODEL, 'open(MODEL_OUTPUT_PATH, "wb").write(b"\\x08garbage")'),
      "dict.ipynb": exportNotebook(MODEL, 'import joblib\njoblib.dump({"weights": [1, 2, 3]}, MODEL_OUTPUT_PATH)'),
      "metrics.ipynb": modelNotebook(MODEL, onnxB64, "pass", 'open(METRICS_OUTPUT_PATH, "w").write("accuracy: high")'),
    });
    const repoId = await registerRepo(server, "acme/bad-exports", repo.dir);
    await giveModelTo(server, "acme/bad-exports"); // the champion's repository owns it; these notebooks must reach register
    expect((await sendPush(server.base, { fullName: "acme/bad-exports", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, 4, 150_000);
    expect(ended).toHaveLength(4); // one pipeline per notebook, no duplicates
    const byPath = Object.fromEntries(ended.map((p) => [p.notebook_path, p]));

    const expectRegisterFailure = (path: string, reason: string) => {
      const p = byPath[path]!;
      expect(p.status).toBe("failed");
      expect(p.error).toContain(reason);
      expect(p.phases.map((ph) => `${ph.name}:${ph.status}`)).toEqual([
        "download:succeeded",
        "validate:succeeded",
        "environment:skipped",
        "execute:succeeded",
        "register:failed",
        "deploy:skipped",
      ]);
      expect(p.phases.find((ph) => ph.name === "register")!.error).toContain(reason);
      expect(p.model_version).toBeNull();
    };
    expectRegisterFailure("nothing.ipynb", "wrote no model");
    expectRegisterFailure("garbage.ipynb", "not a loadable ONNX model");
    expectRegisterFailure("dict.ipynb", "could not convert the exported model to ONNX");
    // the converter's own reason: what the file holds and why it cannot serve
    expect(byPath["dict.ipynb"]!.error).toContain("holds a builtins.dict, not a fitted scikit-learn estimator");
    expectRegisterFailure("metrics.ipynb", "the metrics file at METRICS_OUTPUT_PATH is not valid JSON");

    // nothing stored, nothing half-written, the champion still answers the same
    const after = await modelState(server);
    expect(after.serving_version).toBe(1);
    expect(after.versions.map((v) => v.version)).toEqual(versionsBefore);
    expect(readdirSync(join(server.dataDir, "models", MODEL)).sort()).toEqual(["1"]);
    expect(await predict(server.base, MODEL)).toEqual(before);
    for (const p of ended) expect(processesMentioning(workDirOf(server.dataDir, p.id))).toEqual([]);
  }, 180_000);
});

describe("timeout", () => {
  test("a notebook past PIPELINE_TIMEOUT_SECONDS ends timed_out with its whole process tree killed; serving is unaffected", async () => {
    // Same data dir, restarted with a 5 s limit: the champion is restored and must keep serving.
    await server.stop();
    server = await startTestServer({ PIPELINE_TIMEOUT_SECONDS: "5" }, server.dataDir);
    const before = await predict(server.base, MODEL);
    expect(before.status).toBe(200);

    const repo = makeRepo({ "sleepy.ipynb": sleeperNotebook(MODEL, "sleeping now") });
    const repoId = await registerRepo(server, "acme/sleepy", repo.dir);
    await giveModelTo(server, "acme/sleepy");
    const started = Date.now();
    await sendPush(server.base, { fullName: "acme/sleepy", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    const marker = workDirOf(server.dataDir, id);
    // Watch the process tree while it runs: papermill, then the kernel, must have been there to be killed.
    let mostSeen = 0;
    let kernelPrinted = false;
    await eventually(
      async () => {
        mostSeen = Math.max(mostSeen, processesMentioning(marker).length);
        const p = (await (await server.api(`/api/pipelines/${id}`)).json()) as { status: string };
        if (!["queued", "running"].includes(p.status)) return true;
        kernelPrinted ||= (await (await server.api(`/api/pipelines/${id}/logs`)).text()).includes("sleeping now");
        return false;
      },
      { what: "the pipeline to end", timeoutMs: 60_000, everyMs: 100 },
    );
    const p = await waitForStatus(server, id, ["timed_out"]);
    expect(p.error).toContain("PIPELINE_TIMEOUT_SECONDS (5 s)");
    expect(p.phases.map((ph) => `${ph.name}:${ph.status}`)).toEqual([
      "download:succeeded",
      "validate:succeeded",
      "environment:skipped",
      "execute:failed",
      "register:skipped",
      "deploy:skipped",
    ]);
    expect(Date.now() - started).toBeLessThan(60_000); // not the notebook's 300 s
    // papermill and, once it printed, the kernel (in a session of its own) were both running
    expect(mostSeen).toBeGreaterThanOrEqual(kernelPrinted ? 2 : 1);
    expect(processesMentioning(marker)).toEqual([]);
    expect(existsSync(join(marker, "executed.ipynb"))).toBe(true);
    await waitForLog(server, id, "execute timed_out");
    expect(await predict(server.base, MODEL)).toEqual(before);
    expect((await modelState(server)).serving_version).toBe(1);
  }, 90_000);
});
