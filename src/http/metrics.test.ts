import { beforeAll, describe, expect, test } from "bun:test";
import { PipelineStore } from "../pipeline/pipeline-store.ts";
import { deployVersion, makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";

let f: ServingFixtures;
beforeAll(async () => {
  f = await makeServingFixtures();
}, 90_000);

/** The value of one exposition line, e.g. sample(text, 'mlops_queue_depth'); undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  test("requests, errors and latency per model, version and protocol; models loaded; queue depth; pipelines by status", async () => {
    const { app, deps } = makeTestApp({}, { queueDepth: () => 7, pipelineCounts: () => ({ queued: 2, running: 1, succeeded: 5 }) });
    await deployVersion(deps, "iris", f.iris.onnxPath);
    const rows = f.iris.expected.rows;
    for (let i = 0; i < 3; i++) expect((await app.request("/models/iris/predict", postJson({ inputs: rows }))).status).toBe(200);
    expect((await app.request("/models/iris/predict", postJson({ inputs: [[1, 2]] }))).status).toBe(422);
    expect((await app.request("/models/nope/predict", postJson({ inputs: rows }))).status).toBe(404);
    expect((await app.request("/models/iris/invocations", postJson({ instances: rows }))).status).toBe(200);
    const infer = { inputs: [{ name: "input", shape: [rows.length, 4], datatype: "FP32", data: rows.flat() }] };
    expect((await app.request("/v2/models/iris/infer", postJson(infer))).status).toBe(200);
    expect((await app.request("/models/iris/versions/1/predict", postJson({ inputs: rows }))).status).toBe(200);

    const res = await app.request("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const iris = (protocol: string) => `{model="iris",version="1",protocol="${protocol}"}`;
    expect(sample(text, `mlops_predict_requests_total${iris("predict")}`)).toBe(5);
    expect(sample(text, `mlops_predict_requests_total${iris("invocations")}`)).toBe(1);
    expect(sample(text, `mlops_predict_requests_total${iris("v2")}`)).toBe(1);
    expect(sample(text, 'mlops_predict_errors_total{model="iris",version="1",protocol="predict",code="422"}')).toBe(1);
    // An unknown model adds no series of its own: made-up names cannot grow the label set.
    expect(sample(text, 'mlops_predict_errors_total{model="",version="",protocol="predict",code="404"}')).toBe(1);
    expect(text).not.toContain('model="nope"');
    expect(sample(text, `mlops_predict_duration_seconds_count${iris("predict")}`)).toBe(5);
    expect(sample(text, `mlops_predict_duration_seconds_bucket{model="iris",version="1",protocol="predict",le="2.5"}`)).toBe(5);
    expect(text).toContain('mlops_predict_duration_seconds_bucket{model="iris",version="1",protocol="predict",le="0.0001"}');
    expect(sample(text, 'mlops_models_loaded{kind="serving"}')).toBe(1);
    expect(sample(text, 'mlops_models_loaded{kind="pinned"}')).toBe(0);
    expect(sample(text, "mlops_queue_depth")).toBe(7);
    expect(text).not.toContain("mlops_mlflow_syncs"); // MLflow tracking is off
    expect(sample(text, 'mlops_pipelines{status="queued"}')).toBe(2);
    expect(sample(text, 'mlops_pipelines{status="succeeded"}')).toBe(5);
    expect(sample(text, 'mlops_info{version="0.0.0-test"}')).toBe(1);
  });

  test("pipelines are counted from the database by default; every app has its own registry", async () => {
    const a = makeTestApp();
    const b = makeTestApp();
    expect(await (await a.app.request("/metrics")).text()).not.toContain("mlops_pipelines{");
    const store = new PipelineStore(a.db);
    const make = () => store.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "nb.ipynb" });
    make();
    store.finish(make().id, "failed", failure("execute", FailureKind.notebook_error, "boom"));
    const textA = await (await a.app.request("/metrics")).text();
    expect(sample(textA, 'mlops_pipelines{status="queued"}')).toBe(1);
    expect(sample(textA, 'mlops_pipelines{status="failed"}')).toBe(1);
    await deployVersion(a.deps, "iris", f.iris.onnxPath);
    await a.app.request("/models/iris/predict", postJson({ inputs: f.iris.expected.rows }));
    const textB = await (await b.app.request("/metrics")).text();
    expect(textB).not.toContain('model="iris"');
    expect(sample(textB, 'mlops_models_loaded{kind="serving"}')).toBe(0);
  });
});
