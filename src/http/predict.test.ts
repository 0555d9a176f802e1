import { beforeAll, describe, expect, test } from "bun:test";
import { addVersion, deployVersion, makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";

let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;
const MAX_ROWS = 50;
const MAX_BYTES = 64 * 1024;

beforeAll(async () => {
  f = await makeServingFixtures();
  t = makeTestApp({ MAX_BATCH_ROWS: String(MAX_ROWS), MAX_REQUEST_BYTES: String(MAX_BYTES) });
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "multi", f.multi.onnxPath);
  await deployVersion(t.deps, "regressor", f.regressor.onnxPath);
  addVersion(t.deps, "stored", f.iris.onnxPath);
}, 90_000);

const predict = (body: unknown, name = "iris") => t.app.request(`/models/${name}/predict`, postJson(body));

/** A good request, answered as scikit-learn answered. */
async function expectGoodAnswer() {
  const res = await predict({ inputs: f.iris.expected.rows });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { predictions: unknown }).predictions).toEqual(f.iris.expected.labels);
}

describe("POST /models/{name}/predict", () => {
  test("rows: labels and probabilities as scikit-learn gave them, the version in the body and X-Model-Version", async () => {
    const res = await predict({ inputs: f.iris.expected.rows });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Model-Version")).toBe("1");
    const body = (await res.json()) as { model: string; version: number; predictions: number[]; probabilities: number[][] };
    expect(body.model).toBe("iris");
    expect(body.version).toBe(1);
    expect(body.predictions).toEqual(f.iris.expected.labels as number[]);
    body.probabilities.forEach((row, i) => row.forEach((p, j) => expect(Math.abs(p - f.iris.expected.probabilities[i]![j]!)).toBeLessThan(1e-5)));
  });

  test("a single flat row", async () => {
    const res = await predict({ inputs: f.iris.expected.rows[0] });
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual([f.iris.expected.labels[0]]);
  });

  test("a regressor: one number per row, no probabilities", async () => {
    const body = (await (await predict({ inputs: f.regressor.rows }, "regressor")).json()) as { predictions: number[]; probabilities?: unknown };
    body.predictions.forEach((p, i) => expect(Math.abs(p - f.regressor.predictions[i]!)).toBeLessThan(1e-4));
    expect(body.probabilities).toBeUndefined();
  });

  test("named inputs for a model with several inputs; string labels", async () => {
    const [age, income, city] = [0, 1, 2].map((j) => f.multi.rows.map((r) => r[j]));
    const res = await predict({ inputs: { age, income, city } }, "multi");
    expect(res.status).toBe(200);
    const body = (await res.json()) as { predictions: string[]; probabilities: number[][] };
    expect(body.predictions).toEqual(f.multi.labels);
    body.probabilities.forEach((row, i) => row.forEach((p, j) => expect(Math.abs(p - f.multi.probabilities[i]![j]!)).toBeLessThan(1e-5)));
  });

  // docs/faults.md: each bad request gets its status and a message naming what was expected and what came,
  // and the next good request still succeeds.
  const huge = JSON.stringify({ inputs: Array.from({ length: 6000 }, () => [5.1, 3.5, 1.4, 0.2]) });
  const bad: [string, () => Response | Promise<Response>, number, string[]][] = [
    ["unknown model", () => predict({ inputs: [[1, 2, 3, 4]] }, "nope"), 404, ['no model named "nope"', "models serving:", "iris"]],
    // Never deployed: its versions are not named to anonymous callers (src/http/pinned-versions.test.ts).
    ["a model stored but never deployed", () => predict({ inputs: [[1, 2, 3, 4]] }, "stored"), 404, ['no model named "stored"']],
    ["wrong number of features", () => predict({ inputs: [[1, 2, 3]] }), 422, ["3 features per row", "the model expects 4", '"input" (float32 [?, 4])']],
    [
      "ragged rows",
      () =>
        predict({
          inputs: [
            [1, 2, 3, 4],
            [1, 2, 3],
          ],
        }),
      422,
      ["inputs[1] has 3 values but inputs[0] has 4"],
    ],
    ["a string where a number goes", () => predict({ inputs: [[1, "two", 3, 4]] }), 422, ["inputs[0][1] must be a finite number", 'got "two"']],
    ["NaN (as Python's json.dumps writes it)", () => predict('{"inputs": [[1.0, NaN, 3.0, 4.0]]}'), 422, ["NaN or Infinity", "finite numbers"]],
    ["Infinity", () => predict('{"inputs": [[1.0, -Infinity, 3.0, 4.0]]}'), 422, ["NaN or Infinity"]],
    ["null (NaN as pandas writes it)", () => predict({ inputs: [[1, null, 3, 4]] }), 422, ["inputs[0][1]", "missing value"]],
    ["empty inputs", () => predict({ inputs: [] }), 422, ["inputs is empty: send at least one row"]],
    ["no inputs field", () => predict({ data: [[1, 2, 3, 4]] }), 422, ['expected {"inputs"', 'no "inputs" (keys: data)']],
    ["a missing named input", () => predict({ inputs: { age: [1], income: [2] } }, "multi"), 422, ['missing input "city"', '"city" (string [?, 1])']],
    [
      "more rows than MAX_BATCH_ROWS",
      () => predict({ inputs: Array.from({ length: MAX_ROWS + 1 }, () => [1, 2, 3, 4]) }),
      413,
      [`${MAX_ROWS + 1} rows`, `at most ${MAX_ROWS}`],
    ],
    ["a body over MAX_REQUEST_BYTES", () => predict(huge), 413, [`larger than ${MAX_BYTES} bytes`, "MAX_REQUEST_BYTES"]],
    [
      "a streamed body over MAX_REQUEST_BYTES (no Content-Length)",
      () => t.app.request("/models/iris/predict", { method: "POST", body: new Blob([huge]).stream(), headers: { "Content-Type": "application/json" } }),
      413,
      [`larger than ${MAX_BYTES} bytes`],
    ],
    ["malformed JSON", () => predict('{"inputs": [[1, 2, 3, 4]'), 400, ["not valid JSON"]],
    ["an empty body", () => predict(""), 400, ["the request body is empty"]],
    [
      "a pinned version that does not exist",
      () => t.app.request("/models/iris/versions/9/predict", postJson({ inputs: [[1, 2, 3, 4]] })),
      404,
      ['model "iris" has no version 9'],
    ],
    [
      "a pinned version that is not a number",
      () => t.app.request("/models/iris/versions/latest/predict", postJson({ inputs: [[1, 2, 3, 4]] })),
      400,
      ['got "latest"'],
    ],
  ];
  for (const [name, send, status, parts] of bad) {
    test(`${name}: ${status} with what was expected, then a good request succeeds`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string };
      for (const p of parts) expect(body.error).toContain(p);
      expect(JSON.stringify(body)).not.toContain("    at "); // never a stack trace
      await expectGoodAnswer();
    });
  }

  test("bad requests mixed with good ones, concurrently: every good one is answered", async () => {
    const good = Array.from({ length: 30 }, () => predict({ inputs: f.iris.expected.rows }));
    const wrong = Array.from({ length: 30 }, (_, i) => predict(i % 3 === 0 ? { inputs: [[1, 2]] } : i % 3 === 1 ? "{bad" : { inputs: [] }));
    const [goods, wrongs] = await Promise.all([Promise.all(good), Promise.all(wrong)]);
    expect(goods.map((r) => r.status)).toEqual(new Array(30).fill(200));
    expect(new Set(wrongs.map((r) => r.status))).toEqual(new Set([422, 400]));
  });
});

describe("POST /models/{name}/versions/{v}/predict", () => {
  test("answers with the pinned stored version while another serves, loading it on demand", async () => {
    const { app, deps } = makeTestApp();
    await deployVersion(deps, "iris", f.iris.onnxPath);
    await deployVersion(deps, "iris", f.iris.onnxPath);
    expect(deps.registry.version("iris")).toBe(2);
    const res = await app.request("/models/iris/versions/1/predict", postJson({ inputs: f.iris.expected.rows }));
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Model-Version")).toBe("1");
    const body = (await res.json()) as { version: number; predictions: unknown[] };
    expect(body.version).toBe(1);
    expect(body.predictions).toEqual(f.iris.expected.labels);
    expect(deps.registry.pinnedCount()).toBe(1);
    const serving = await app.request("/models/iris/versions/2/predict", postJson({ inputs: f.iris.expected.rows }));
    expect(serving.headers.get("X-Model-Version")).toBe("2");
    expect(deps.registry.pinnedCount()).toBe(1); // the serving version is not loaded twice
  });

  test("a stored version of a model that does not serve at all (with the admin token: it was never deployed)", async () => {
    const res = await t.app.request("/models/stored/versions/1/predict", postJson({ inputs: f.iris.expected.rows }, t.auth));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual(f.iris.expected.labels);
  });
});
