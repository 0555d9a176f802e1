// End to end through a real server: signed push → git fetch → papermill → register → deploy → predict.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../db/connection.ts";
import { waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";
import {
  commit,
  exampleNotebook,
  makeRepo,
  notebook,
  python,
  sendPush,
  startTestServer,
  waitForPipelines,
  waitForStatus,
  type TestServer,
} from "../testing/e2e.ts";

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
  [6.3, 2.8, 5.1, 1.5],
  [4.9, 2.5, 4.5, 1.7],
  [7.7, 2.6, 6.9, 2.3],
];

/** scikit-learn's own answer: run the notebook's data/preprocessing/training cells in plain Python, then predict. */
function sklearnPredict(notebookText: string, rows: number[][]): number[] {
  const code = `
import json, sys
nb = json.loads(open(sys.argv[1]).read())
ns = {"MODEL_OUTPUT_PATH": "/dev/null", "METRICS_OUTPUT_PATH": "/dev/null"}
for c in nb["cells"]:
    tags = c.get("metadata", {}).get("tags", [])
    if c["cell_type"] == "code" and any(t in tags for t in ("mlops:config", "mlops:data", "mlops:preprocessing", "mlops:training")):
        exec("".join(c["source"]), ns)
import numpy as np
print(json.dumps(ns["model"].predict(np.array(json.loads(sys.argv[2]), dtype=np.float32)).tolist()))
`;
  const file = `${process.env.TMPDIR ?? "/tmp"}/mlops-nb-${Bun.hash(notebookText)}.ipynb`;
  require("node:fs").writeFileSync(file, notebookText);
  return python<number[]>(code, [file, JSON.stringify(rows)]);
}

async function predict(server: TestServer, model: string, rows: number[][]) {
  const res = await fetch(`${server.base}/models/${model}/predict`, { method: "POST", body: JSON.stringify({ inputs: rows }) });
  return {
    status: res.status,
    header: res.headers.get("x-model-version"),
    body: (await res.json()) as { version: number; predictions: number[]; probabilities?: number[][]; error?: string },
  };
}

async function register(server: TestServer, fullName: string, cloneUrl: string, extra: object = {}) {
  const res = await server.api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: fullName, clone_url: cloneUrl, ...extra }) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: number };
}

/** Processes whose command line mentions the pipeline's work dir (papermill, the kernel). */
function processesOf(server: TestServer, pipelineId: number): number[] {
  const marker = `${server.dataDir}/pipelines/${pipelineId}/`;
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const onnxNb = exampleNotebook("iris-onnx.ipynb");
const joblibNb = exampleNotebook("iris-joblib.ipynb");

describe("push to deployed model", () => {
  test("both example notebooks deploy and predict exactly what scikit-learn predicts; untagged notebooks are skipped", async () => {
    const repo = makeRepo({ "iris-onnx.ipynb": onnxNb, "iris-joblib.ipynb": joblibNb, "scratch.ipynb": notebook([{ tags: [], source: "print(1)" }]) });
    const { id } = await register(server, "acme/iris", repo.dir);
    const res = await sendPush(server.base, { fullName: "acme/iris", cloneUrl: repo.dir, after: repo.sha, deliveryId: "push-1" });
    expect(res.status).toBe(202);

    const pipelines = await waitForPipelines(server, `repo=${id}`, 2);
    expect(pipelines.map((p) => [p.notebook_path, p.status, p.error]).sort()).toEqual([
      ["iris-joblib.ipynb", "succeeded", null],
      ["iris-onnx.ipynb", "succeeded", null],
    ]);
    for (const p of pipelines) {
      expect(p.phases.map((ph) => `${ph.name}:${ph.status}`)).toEqual([
        "download:succeeded",
        "validate:succeeded",
        "environment:skipped",
        "execute:succeeded",
        "register:succeeded",
        "deploy:succeeded",
      ]);
      expect(p.metrics?.accuracy).toBeGreaterThan(0.85);
      expect(p.model_version).toBe(1);
    }

    for (const [model, text] of [
      ["iris", onnxNb],
      ["iris-joblib", joblibNb],
    ] as const) {
      const out = await predict(server, model, ROWS);
      expect(out.status).toBe(200);
      expect(out.header).toBe("1");
      expect(out.body.version).toBe(1);
      const expected = sklearnPredict(text, ROWS);
      expect(out.body.predictions).toEqual(expected);
      expect(out.body.probabilities).toHaveLength(ROWS.length);

      // the same models through the other protocols
      const mlflow = await fetch(`${server.base}/models/${model}/invocations`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ dataframe_split: { columns: ["sl", "sw", "pl", "pw"], data: ROWS } }),
      });
      expect(mlflow.status).toBe(200);
      expect(((await mlflow.json()) as { predictions: number[] }).predictions).toEqual(expected);
      const csv = await fetch(`${server.base}/models/${model}/invocations`, {
        method: "POST",
        headers: { "Content-Type": "text/csv" },
        body: `sl,sw,pl,pw\n${ROWS.map((r) => r.join(",")).join("\n")}\n`,
      });
      expect(((await csv.json()) as { predictions: number[] }).predictions).toEqual(expected);
      const oip = await fetch(`${server.base}/v2/models/${model}/infer`, {
        method: "POST",
        body: JSON.stringify({ id: "e2e", inputs: [{ name: "input", shape: [ROWS.length, 4], datatype: "FP32", data: ROWS.flat() }] }),
      });
      expect(oip.status).toBe(200);
      const infer = (await oip.json()) as { id: string; outputs: { name: string; data: number[] }[] };
      expect(infer.id).toBe("e2e");
      expect(infer.outputs.find((o) => o.name === "label")?.data).toEqual(expected);
    }

    // The joblib version keeps the first rows its conversion was checked on (they prefill the page's Try it), and they
    // predict as sent; a model pushed as ONNX was never checked on rows, so has none.
    const newest = async (model: string) =>
      ((await (await server.api(`/api/models/${model}`)).json()) as { versions: { sample_rows: number[][] | null }[] }).versions[0]!;
    const samples = (await newest("iris-joblib")).sample_rows!;
    expect(samples).toHaveLength(3);
    for (const row of samples) {
      expect(row).toHaveLength(4);
      for (const v of row) expect(Number.isFinite(v)).toBe(true);
    }
    expect(new Set(samples.map((r) => JSON.stringify(r))).size).toBe(3);
    expect((await predict(server, "iris-joblib", samples)).body.predictions).toHaveLength(3);
    expect((await newest("iris")).sample_rows).toBeNull();

    const deliveries = (await (await server.api("/api/deliveries")).json()) as { deliveries: { id: string; outcome: string; detail: string }[] };
    const d = deliveries.deliveries.find((x) => x.id === "push-1")!;
    expect(d.outcome).toBe("accepted");
    expect(d.detail).toContain("skipped scratch.ipynb: no mlops:* cell tags");

    const log = await (await server.api(`/api/pipelines/${pipelines[0]!.id}/logs`)).text();
    expect(log).toContain("[training]");
    expect(log).toContain("registered");

    const models = (await (await server.api("/api/models/iris")).json()) as {
      serving_version: number;
      versions: { lineage: { commit: string; notebook_path: string } }[];
    };
    expect(models.serving_version).toBe(1);
    expect(models.versions[0]!.lineage).toMatchObject({ commit: repo.sha, notebook_path: "iris-onnx.ipynb" });

    // the same delivery again starts nothing new
    const again = await sendPush(server.base, { fullName: "acme/iris", cloneUrl: repo.dir, after: repo.sha, deliveryId: "push-1" });
    expect(await again.json()).toMatchObject({ duplicate: true });
    // A duplicate is decided when it arrives: no intake job was queued for it, so no pipeline can follow.
    const jobs = openDatabase(join(server.dataDir, "mlops.db"));
    try {
      expect(jobs.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM jobs WHERE kind = 'push'").get()!.n).toBe(1);
    } finally {
      jobs.$client.close();
    }
    expect(((await (await server.api(`/api/pipelines?repo=${id}`)).json()) as { pipelines: unknown[] }).pipelines).toHaveLength(2);
  }, 180_000);

  test("failures leave serving untouched: missing tags and bad JSON fail at validate, a raising cell at execute, a low metric is rejected", async () => {
    const before = await predict(server, "iris", ROWS);
    expect(before.status).toBe(200);
    const raising = notebook([
      { tags: ["mlops:config"], source: 'MODEL_NAME = "iris"\nVERSION = "9"' },
      { tags: ["mlops:preprocessing"], source: "x = 1" },
      { tags: ["mlops:training"], source: 'raise ValueError("the training data is empty")' },
      { tags: ["mlops:export"], source: "pass" },
    ]);
    const lowAccuracy = onnxNb.replace("float(accuracy_score(y_test, y_pred))", "0.5");
    expect(lowAccuracy).not.toBe(onnxNb);
    const repo = makeRepo({
      "missing.ipynb": notebook([{ tags: ["mlops:training"], source: "pass" }]),
      "garbage.ipynb": "{ this is not json",
      "raising.ipynb": raising,
      "low.ipynb": lowAccuracy,
    });
    const { id } = await register(server, "acme/broken", repo.dir);
    // iris belongs to acme/iris, whose pipeline registered it first: give it to acme/broken so its notebooks get past validate.
    expect((await server.api("/api/models/iris/owner", { method: "POST", body: JSON.stringify({ full_name: "acme/broken" }) })).status).toBe(200);
    expect((await sendPush(server.base, { fullName: "acme/broken", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const byPath = Object.fromEntries((await waitForPipelines(server, `repo=${id}`, 4)).map((p) => [p.notebook_path, p]));

    const phaseOf = (p: (typeof byPath)[string]) => p.phases.find((ph) => ph.status === "failed")?.name;
    expect(byPath["missing.ipynb"]).toMatchObject({ status: "failed" });
    expect(byPath["missing.ipynb"]!.error).toContain("missing required cell tags: mlops:config, mlops:preprocessing, mlops:export");
    expect(phaseOf(byPath["missing.ipynb"]!)).toBe("validate");
    expect(byPath["garbage.ipynb"]!.error).toContain("not valid notebook JSON");
    expect(phaseOf(byPath["garbage.ipynb"]!)).toBe("validate");
    expect(byPath["raising.ipynb"]!.status).toBe("failed");
    expect(phaseOf(byPath["raising.ipynb"]!)).toBe("execute");
    expect(byPath["raising.ipynb"]!.error).toContain("the training data is empty");
    const log = await (await server.api(`/api/pipelines/${byPath["raising.ipynb"]!.id}/logs`)).text();
    expect(log).toContain("ValueError");

    expect(byPath["low.ipynb"]!.status).toBe("succeeded");
    expect(byPath["low.ipynb"]!.phases.find((ph) => ph.name === "deploy")).toMatchObject({
      status: "skipped",
      error: "accuracy 0.5 is below the deploy threshold 0.7",
    });
    const model = (await (await server.api("/api/models/iris")).json()) as {
      serving_version: number;
      versions: { version: number; status: string; reason: string }[];
    };
    expect(model.serving_version).toBe(1);
    expect(model.versions.find((v) => v.version === 2)).toMatchObject({ status: "rejected", reason: "accuracy 0.5 is below the deploy threshold 0.7" });

    const after = await predict(server, "iris", ROWS);
    expect(after).toEqual(before);
  }, 180_000);

  test("cancel kills the notebook's whole process tree; the pipeline ends cancelled", async () => {
    const sleeper = notebook([
      { tags: ["mlops:config"], source: 'MODEL_NAME = "sleepy"\nVERSION = "1"' },
      { tags: ["mlops:preprocessing"], source: "import time" },
      { tags: ["mlops:training"], source: 'print("training forever", flush=True)\ntime.sleep(300)' },
      { tags: ["mlops:export"], source: "pass" },
    ]);
    const repo = makeRepo({ "sleepy.ipynb": sleeper });
    const { id: repoId } = await register(server, "acme/sleepy", repo.dir);
    await sendPush(server.base, { fullName: "acme/sleepy", cloneUrl: repo.dir, after: repo.sha });
    const pipelineId = (await waitForCreated(server, repoId))[0]!.id;
    // wait until the kernel prints, so papermill and the kernel both run
    await waitForLog(server, pipelineId, "training forever", 30_000);
    expect(processesOf(server, pipelineId).length).toBeGreaterThanOrEqual(2);
    const res = await server.api(`/api/pipelines/${pipelineId}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const p = await waitForStatus(server, pipelineId, ["cancelled", "failed", "succeeded"]);
    expect(p.status).toBe("cancelled");
    expect(p.phases.find((ph) => ph.name === "execute")?.status).toBe("failed");
    expect(processesOf(server, pipelineId)).toEqual([]);
    expect((await server.api(`/api/pipelines/${pipelineId}/cancel`, { method: "POST" })).status).toBe(409);
    expect((await predict(server, "sleepy", ROWS)).status).toBe(404);
  }, 120_000);
});
