import { beforeAll, describe, expect, test } from "bun:test";
import { deployVersion, makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";

let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;

beforeAll(async () => {
  f = await makeServingFixtures();
  t = makeTestApp();
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "multi", f.multi.onnxPath);
}, 90_000);

type InferResponse = {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
};

const irisInput = () => ({ name: "input", shape: [f.iris.expected.rows.length, 4], datatype: "FP32", data: f.iris.expected.rows.flat() });
const infer = (body: unknown, path = "/v2/models/iris/infer") => t.app.request(path, postJson(body));
const output = (r: InferResponse, name: string) => r.outputs.find((o) => o.name === name)!;

describe("Open Inference Protocol v2: health and metadata", () => {
  test("server metadata, liveness and readiness", async () => {
    expect(await (await t.app.request("/v2")).json()).toEqual({ name: "mlops", version: "0.0.0-test", extensions: ["binary_tensor_data"] });
    const live = await t.app.request("/v2/health/live");
    expect([live.status, await live.json()]).toEqual([200, { live: true }]);
    const ready = await t.app.request("/v2/health/ready");
    expect([ready.status, await ready.json()]).toEqual([200, { ready: true }]);
    const starting = makeTestApp({}, { lifecycle: { phase: "starting" } });
    const notReady = await starting.app.request("/v2/health/ready");
    expect([notReady.status, await notReady.json()]).toEqual([503, { ready: false }]);
  });

  test("model metadata: versions, platform, OIP datatypes, -1 for dynamic dimensions", async () => {
    const res = await t.app.request("/v2/models/iris");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      name: "iris",
      versions: ["2", "1"],
      platform: "onnxruntime",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "label", datatype: "INT64", shape: [-1] },
        { name: "probabilities", datatype: "FP32", shape: [-1, 3] },
      ],
    });
    const multi = (await (await t.app.request("/v2/models/multi/versions/1")).json()) as { inputs: unknown[]; outputs: unknown[] };
    expect(multi.inputs).toContainEqual({ name: "city", datatype: "BYTES", shape: [-1, 1] });
    expect(multi.outputs).toContainEqual({ name: "label", datatype: "BYTES", shape: [-1] });
  });

  test("model readiness, with and without a version; unknown models and versions are 404 with an error", async () => {
    expect(await (await t.app.request("/v2/models/iris/ready")).json()).toEqual({ name: "iris", ready: true });
    expect((await t.app.request("/v2/models/iris/versions/1/ready")).status).toBe(200);
    for (const path of ["/v2/models/nope", "/v2/models/nope/ready", "/v2/models/iris/versions/7", "/v2/models/iris/versions/7/ready"]) {
      const res = await t.app.request(path);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/no model named "nope"|has no version 7/);
    }
  });
});

describe("Open Inference Protocol v2: infer", () => {
  test("flat row-major data: outputs with datatypes and shapes, the id echoed, the version in body and header", async () => {
    const res = await infer({ id: "req-1", inputs: [irisInput()] });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Model-Version")).toBe("2");
    const body = (await res.json()) as InferResponse;
    expect(body).toMatchObject({ model_name: "iris", model_version: "2", id: "req-1" });
    expect(output(body, "label")).toEqual({ name: "label", datatype: "INT64", shape: [5], data: f.iris.expected.labels });
    const probs = output(body, "probabilities");
    expect([probs.datatype, probs.shape]).toEqual(["FP32", [5, 3]]);
    (probs.data as number[]).forEach((p, k) => expect(Math.abs(p - f.iris.expected.probabilities.flat()[k]!)).toBeLessThan(1e-5));
  });

  test("nested data, an outputs filter, and a pinned version", async () => {
    const res = await infer({ inputs: [{ ...irisInput(), data: f.iris.expected.rows }], outputs: [{ name: "label" }] }, "/v2/models/iris/versions/1/infer");
    const body = (await res.json()) as InferResponse;
    expect(body.model_version).toBe("1");
    expect(body.id).toBeUndefined();
    expect(body.outputs.map((o) => o.name)).toEqual(["label"]);
    expect(body.outputs[0]!.data).toEqual(f.iris.expected.labels);
  });

  test("several inputs, BYTES in and out", async () => {
    const n = f.multi.rows.length;
    const col = (j: number) => f.multi.rows.map((r) => r[j]);
    const res = await infer(
      {
        inputs: [
          { name: "age", shape: [n, 1], datatype: "FP32", data: col(0) },
          { name: "income", shape: [n, 1], datatype: "FP32", data: col(1) },
          { name: "city", shape: [n, 1], datatype: "BYTES", data: col(2) },
        ],
      },
      "/v2/models/multi/infer",
    );
    expect(res.status).toBe(200);
    expect(output((await res.json()) as InferResponse, "label")).toEqual({ name: "label", datatype: "BYTES", shape: [n], data: f.multi.labels });
  });

  test("binary tensor data: a binary input, binary and JSON outputs, Inference-Header-Content-Length", async () => {
    const rows = f.iris.expected.rows;
    const raw = new Uint8Array(Float32Array.from(rows.flat()).buffer);
    const header = JSON.stringify({
      inputs: [{ name: "input", shape: [rows.length, 4], datatype: "FP32", parameters: { binary_data_size: raw.length } }],
      outputs: [
        { name: "label", parameters: { binary_data: true } },
        { name: "probabilities", parameters: { binary_data: false } },
      ],
    });
    const head = new TextEncoder().encode(header);
    const res = await t.app.request("/v2/models/iris/infer", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(head.length) },
      body: Buffer.concat([head, raw]),
    });
    expect(res.status).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const n = Number(res.headers.get("Inference-Header-Content-Length"));
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))) as InferResponse & { outputs: { parameters?: { binary_data_size: number } }[] };
    const label: unknown = json.outputs.find((o) => o.name === "label");
    expect(label).toEqual({ name: "label", datatype: "INT64", shape: [rows.length], parameters: { binary_data_size: rows.length * 8 } });
    expect(Array.from(new BigInt64Array(bytes.slice(n).buffer), Number)).toEqual(f.iris.expected.labels as number[]);
    expect(json.outputs.find((o) => o.name === "probabilities")!.data).toHaveLength(rows.length * 3);
  });

  const good = async () => {
    const res = await infer({ inputs: [irisInput()] });
    expect(res.status).toBe(200);
    expect(output((await res.json()) as InferResponse, "label").data).toEqual(f.iris.expected.labels);
  };
  const bad: [string, () => Response | Promise<Response>, number, string[]][] = [
    ["an unknown model", () => infer({ inputs: [irisInput()] }, "/v2/models/nope/infer"), 404, ['no model named "nope"']],
    ["an unknown version", () => infer({ inputs: [irisInput()] }, "/v2/models/iris/versions/5/infer"), 404, ["has no version 5"]],
    ["FP64 for an FP32 input", () => infer({ inputs: [{ ...irisInput(), datatype: "FP64" }] }), 422, ['inputs[0] ("input") is FP64', "takes FP32"]],
    [
      "a shape with the wrong number of features",
      () => infer({ inputs: [{ name: "input", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] }),
      422,
      ["3 features per row", "expects 4"],
    ],
    [
      "data that does not fill the shape",
      () => infer({ inputs: [{ name: "input", shape: [2, 4], datatype: "FP32", data: [1, 2, 3, 4] }] }),
      422,
      ["has 4 values; shape [2, 4] needs 8"],
    ],
    [
      "a string in FP32 data",
      () => infer({ inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [1, "x", 3, 4] }] }),
      422,
      ["data[1] must be a finite number"],
    ],
    ["an empty batch", () => infer({ inputs: [{ name: "input", shape: [0, 4], datatype: "FP32", data: [] }] }), 422, ["is empty"]],
    [
      "an input the model does not have",
      () => infer({ inputs: [irisInput(), { name: "extra", shape: [1], datatype: "FP32", data: [1] }] }),
      422,
      ['no input "extra"'],
    ],
    [
      "a missing input",
      () => infer({ inputs: [{ name: "age", shape: [1, 1], datatype: "FP32", data: [30] }] }, "/v2/models/multi/infer"),
      422,
      ["missing inputs", '"income"', '"city"'],
    ],
    [
      "an output the model does not have",
      () => infer({ inputs: [irisInput()], outputs: [{ name: "scores" }] }),
      422,
      ['no output "scores"', "label, probabilities"],
    ],
    ["an unknown datatype", () => infer({ inputs: [{ ...irisInput(), datatype: "FP8" }] }), 400, ["unsupported datatype FP8"]],
    ["no inputs", () => infer({ inputs: [] }), 400, ["send at least one input tensor"]],
    ["not an inference request", () => infer({ instances: [[1, 2, 3, 4]] }), 400, ["not an inference request", "inputs"]],
    ["malformed JSON", () => infer("{"), 400, ["not valid JSON"]],
  ];
  for (const [name, send, status, parts] of bad) {
    test(`${name}: ${status} with {"error": ...}, then a good request succeeds`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string };
      expect(typeof body.error).toBe("string");
      for (const p of parts) expect(body.error).toContain(p);
      await good();
    });
  }
});
