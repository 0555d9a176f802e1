import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openModelSession, type ModelSignature } from "../serving/model-session.ts";
import { makeMixedModels, type MixedModels, type MixedRecord } from "../testing/test-mixed-models.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { deployVersion, postJson } from "../testing/serving-test-support.ts";
import { makeTestApp, SIGNED_IN, TEST_ADMIN_TOKEN } from "../testing/test-app.ts";

// Issue 10: scikit-learn Pipelines over DataFrames (TF-IDF text, one-hot city, scaled float32 and int64 columns),
// converted with one ONNX input per column, served through every protocol; answers compared with what scikit-learn
// itself predicted for the same records (computed in Python by scripts/make-mixed-model.py).
let m: MixedModels;
let iris: TestModel;
let t: ReturnType<typeof makeTestApp>;
let signature: ModelSignature;
const MAX_ROWS = 20;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-mixed-"));
  [m, iris] = await Promise.all([makeMixedModels(join(dir, "mixed")), makeTestModel(join(dir, "iris"))]);
  const session = await openModelSession(m.classifierPath);
  signature = session.signature;
  await session.release();
  t = makeTestApp({ MAX_BATCH_ROWS: String(MAX_ROWS) });
  await deployVersion(t.deps, "reviews", m.classifierPath, signature);
  await deployVersion(t.deps, "spend", m.regressorPath);
  await deployVersion(t.deps, "iris", iris.onnxPath);
}, 90_000);

type Answer = { predictions: unknown[]; probabilities?: number[][] };
const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => t.app.request(path, postJson(body, headers));
const csvPost = async (path: string, text: string) => t.app.request(path, { method: "POST", headers: { "Content-Type": "text/csv" }, body: text });
const ADMIN = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

/** The sample records as CSV, text quoted (one holds a comma) and the columns in another order than the model's. */
function toCsv(records: MixedRecord[]): string {
  const lines = records.map((r) => `${r.visits},"${r.text.replaceAll('"', '""')}",${r.age},${r.city}`);
  return `visits,text,age,city\n${lines.join("\n")}\n`;
}

function expectClassifierAnswer(a: Answer) {
  expect(a.predictions).toEqual(m.labels);
  expect(a.probabilities).toHaveLength(m.labels.length);
  a.probabilities!.forEach((row, i) => row.forEach((p, j) => expect(Math.abs(p - m.probabilities[i]![j]!)).toBeLessThan(1e-5)));
}

function expectRegressorAnswer(values: unknown[]) {
  expect(values).toHaveLength(m.values.length);
  // float32 all the way through the ONNX graph against float64 in scikit-learn: equal to float32 rounding.
  values.forEach((v, i) => expect(Math.abs((v as number) - m.values[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(m.values[i]!))));
}

const columnsOf = (records: MixedRecord[]) => ({
  text: records.map((r) => r.text),
  city: records.map((r) => r.city),
  age: records.map((r) => r.age),
  visits: records.map((r) => r.visits),
});

describe("a model with one input per column, through every protocol: the answers scikit-learn gave", () => {
  test("the test model's sample holds a category never seen in training and text with a comma", () => {
    expect(m.records.map((r) => r.city)).toContain("Marseille");
    expect(m.records.some((r) => r.text.includes(","))).toBe(true);
    expect(new Set(m.labels).size).toBeGreaterThan(1);
  });

  test("/predict, JSON records", async () => {
    const res = await post("/models/reviews/predict", { inputs: m.records });
    expect(res.status).toBe(200);
    expectClassifierAnswer((await res.json()) as Answer);
  });

  test("/predict, JSON records with the keys in any order, and one list per column", async () => {
    const shuffled = m.records.map((r) => ({ visits: r.visits, age: r.age, city: r.city, text: r.text }));
    expectClassifierAnswer((await (await post("/models/reviews/predict", { inputs: shuffled })).json()) as Answer);
    expectClassifierAnswer((await (await post("/models/reviews/predict", { inputs: columnsOf(m.records) })).json()) as Answer);
  });

  test("/predict, CSV with a header line naming the columns (numbers parsed, text kept)", async () => {
    const res = await csvPost("/models/reviews/predict", toCsv(m.records));
    expect(res.status).toBe(200);
    expectClassifierAnswer((await res.json()) as Answer);
  });

  test("/predict, a regressor: one value per row", async () => {
    const res = await post("/models/spend/predict", { inputs: m.records });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Answer;
    expectRegressorAnswer(body.predictions);
    expect(body.probabilities).toBeUndefined();
    expectRegressorAnswer(((await (await csvPost("/models/spend/predict", toCsv(m.records))).json()) as Answer).predictions);
  });

  test("/invocations: dataframe_split, dataframe_records, inputs as a dict of columns, and CSV", async () => {
    const split = { dataframe_split: { columns: m.columns, data: m.records.map((r) => m.columns.map((c) => r[c as keyof MixedRecord])) } };
    for (const body of [split, { dataframe_records: m.records }, { inputs: columnsOf(m.records) }]) {
      const res = await post("/models/reviews/invocations", body);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Answer).predictions).toEqual(m.labels);
      expectRegressorAnswer(((await (await post("/models/spend/invocations", body)).json()) as Answer).predictions);
    }
    const csv = await csvPost("/models/reviews/invocations", toCsv(m.records));
    expect(((await csv.json()) as Answer).predictions).toEqual(m.labels);
  });

  test("OIP v2: one request input per model input, strings as BYTES, FP32 and INT64 per the signature", async () => {
    const n = m.records.length;
    const cols = columnsOf(m.records);
    const res = await post("/v2/models/reviews/infer", {
      inputs: [
        { name: "text", datatype: "BYTES", shape: [n, 1], data: cols.text },
        { name: "city", datatype: "BYTES", shape: [n, 1], data: cols.city },
        { name: "age", datatype: "FP32", shape: [n, 1], data: cols.age },
        { name: "visits", datatype: "INT64", shape: [n, 1], data: cols.visits },
      ],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[] };
    const label = body.outputs.find((o) => o.name === "label")!;
    expect([label.datatype, label.shape, label.data]).toEqual(["BYTES", [n], m.labels]);
    const probabilities = body.outputs.find((o) => o.name === "probabilities")!;
    expect(probabilities.shape).toEqual([n, 3]);
    probabilities.data.forEach((p, k) => expect(Math.abs((p as number) - m.probabilities[Math.floor(k / 3)]![k % 3]!)).toBeLessThan(1e-5));
  });

  test("OIP v2: the text column as binary BYTES data (4-byte little-endian length, then UTF-8)", async () => {
    const n = m.records.length;
    const parts = m.records.map((r) => new TextEncoder().encode(r.text));
    const bytes = new Uint8Array(parts.reduce((a, p) => a + 4 + p.length, 0));
    let at = 0;
    for (const p of parts) {
      new DataView(bytes.buffer).setUint32(at, p.length, true);
      bytes.set(p, at + 4);
      at += 4 + p.length;
    }
    const cols = columnsOf(m.records);
    const json = new TextEncoder().encode(
      JSON.stringify({
        inputs: [
          { name: "text", datatype: "BYTES", shape: [n, 1], parameters: { binary_data_size: bytes.length } },
          { name: "city", datatype: "BYTES", shape: [n, 1], data: cols.city },
          { name: "age", datatype: "FP32", shape: [n, 1], data: cols.age },
          { name: "visits", datatype: "INT64", shape: [n, 1], data: cols.visits },
        ],
        outputs: [{ name: "label" }],
      }),
    );
    const res = await t.app.request("/v2/models/reviews/infer", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": String(json.length) },
      body: new Uint8Array([...json, ...bytes]),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outputs: { data: unknown[] }[] }).outputs[0]!.data).toEqual(m.labels);
  });

  test("concurrent requests of one record each (micro-batched together) each get their own record's answer", async () => {
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post("/models/reviews/predict", { inputs: [m.records[i % m.records.length]] }).then((r) => r.json() as Promise<Answer>),
      ),
    );
    answers.forEach((a, i) => expect(a.predictions).toEqual([m.labels[i % m.labels.length]]));
  });
});

describe("the signature lists each named input with its type", () => {
  test("GET /api/models/{name}: the version's signature", async () => {
    const body = (await (await t.app.request("/api/models/reviews", { headers: ADMIN })).json()) as { versions: { signature: ModelSignature }[] };
    expect(body.versions[0]!.signature.inputs).toEqual([
      { name: "text", type: "string", shape: [null, 1] },
      { name: "city", type: "string", shape: [null, 1] },
      { name: "age", type: "float32", shape: [null, 1] },
      { name: "visits", type: "int64", shape: [null, 1] },
    ]);
  });

  test("the model page: each input with its type and shape, and a records body that the model takes", async () => {
    const html = await (await t.app.request("/models/reviews", { headers: SIGNED_IN })).text();
    const section = html.slice(html.indexOf('<div id="model-inputs">'));
    expect(section).toContain("<h3>Inputs (v1)</h3>");
    const rows = [...section.matchAll(/<tr><td><code>(\w+)<\/code><\/td><td>(\w+)<\/td><td>([^<]+)<\/td><\/tr>/g)].map((r) => r.slice(1));
    expect(rows).toEqual([
      ["text", "string", "[?, 1]"],
      ["city", "string", "[?, 1]"],
      ["age", "float32", "[?, 1]"],
      ["visits", "int64", "[?, 1]"],
    ]);
    const example = section.match(/<pre>POST \/models\/reviews\/predict\n([^<]+)<\/pre>/)?.[1]?.replaceAll("&quot;", '"');
    expect(example).toBe('{"inputs": [{"text": "", "city": "", "age": 0, "visits": 0}]}');
    const res = await post("/models/reviews/predict", example);
    expect(res.status).toBe(200);
    expect(m.classes).toContain(((await res.json()) as { predictions: string[] }).predictions[0]!);
  });

  test("OIP model metadata: BYTES for the text columns, FP32 and INT64 for the numbers", async () => {
    const body = (await (await t.app.request("/v2/models/reviews")).json()) as { inputs: unknown[] };
    expect(body.inputs).toEqual([
      { name: "text", datatype: "BYTES", shape: [-1, 1] },
      { name: "city", datatype: "BYTES", shape: [-1, 1] },
      { name: "age", datatype: "FP32", shape: [-1, 1] },
      { name: "visits", datatype: "INT64", shape: [-1, 1] },
    ]);
  });
});

describe("bad input: a 4xx naming the column and what was expected, and nothing changed on the server", () => {
  const good = () => m.records[0]!;
  type Case = [string, () => Promise<Response>, number, string[]];
  const cases: Case[] = [
    [
      "a missing column (records)",
      () => post("/models/reviews/predict", { inputs: [{ text: "great", city: "Paris", age: 30 }] }),
      422,
      ["missing column visits", "text (string), city (string), age (float32), visits (int64)"],
    ],
    ["a missing column (CSV)", () => csvPost("/models/reviews/predict", "text,city,age\ngreat,Paris,30\n"), 422, ["missing column visits", "visits (int64)"]],
    [
      "an unknown column (dataframe_records)",
      () => post("/models/reviews/invocations", { dataframe_records: [{ ...good(), zip: "75001" }] }),
      422,
      ["unknown column zip", "the model takes one column per input"],
    ],
    [
      "an unknown column (dataframe_split)",
      () => post("/models/reviews/invocations", { dataframe_split: { columns: ["text", "city", "age", "visits", "zip"], data: [["a", "Paris", 1, 2, 3]] } }),
      422,
      ["unknown column zip"],
    ],
    [
      "a number column given text (records)",
      () => post("/models/reviews/predict", { inputs: [good(), { ...good(), age: "thirty" }] }),
      422,
      ['inputs[1], column "age" must be a finite number (float32), got "thirty"'],
    ],
    [
      "a number column given text (CSV)",
      () => csvPost("/models/reviews/predict", "text,city,age,visits\ngreat,Paris,30,2\ngreat,Paris,30,many\n"),
      422,
      ['CSV line 3, column "visits" must be a whole number', 'got "many"'],
    ],
    [
      "a fraction in an int64 column",
      () => post("/models/reviews/invocations", { dataframe_records: [{ ...good(), visits: 2.5 }] }),
      422,
      ['dataframe_records[0], column "visits" must be a whole number', "got 2.5"],
    ],
    [
      "a number for a text column",
      () => post("/models/reviews/predict", { inputs: [{ ...good(), city: 75 }] }),
      422,
      ['column "city" must be a string (string), got 75: send text in quotes, "75"'],
    ],
    ["a null (records)", () => post("/models/reviews/predict", { inputs: [{ ...good(), text: null }] }), 422, ['inputs[0], column "text" has no value']],
    [
      "a null (dataframe_split, as pandas writes NaN)",
      () => post("/models/reviews/invocations", { dataframe_split: { columns: m.columns, data: [["great", "Paris", null, 2]] } }),
      422,
      ['dataframe_split.data[0], column "age" has no value', "pandas writes NaN as null"],
    ],
    [
      "rows of numbers sent to the named-input model",
      () => post("/models/reviews/predict", { inputs: [[1, 2, 3, 4]] }),
      422,
      [
        "this model takes 4 named columns, text (string), city (string), age (float32), visits (int64), not rows of values",
        'send records, {"inputs": [{"text": ...',
      ],
    ],
    [
      "rows of numbers sent to the named-input model (MLflow instances)",
      () => post("/models/reviews/invocations", { instances: [[1, 2, 3, 4]] }),
      422,
      ["takes 4 named columns", "send dataframe_records"],
    ],
    [
      "a record sent to a one-input model",
      () => post("/models/iris/predict", { inputs: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] }),
      422,
      ['this model takes "input" (float32 [?, 4]), not records with named columns', 'send rows, {"inputs": [[4 numbers], ...]}'],
    ],
    [
      "OIP: a number column sent as BYTES",
      () =>
        post("/v2/models/reviews/infer", {
          inputs: [
            { name: "text", datatype: "BYTES", shape: [1, 1], data: ["a"] },
            { name: "city", datatype: "BYTES", shape: [1, 1], data: ["Paris"] },
            { name: "age", datatype: "BYTES", shape: [1, 1], data: ["30"] },
            { name: "visits", datatype: "INT64", shape: [1, 1], data: [2] },
          ],
        }),
      422,
      ['("age") is BYTES', '"age" (float32 [?, 1]) takes FP32'],
    ],
    [
      "OIP: a missing input",
      () => post("/v2/models/reviews/infer", { inputs: [{ name: "text", datatype: "BYTES", shape: [1, 1], data: ["a"] }] }),
      422,
      ['missing inputs "city" (string [?, 1]), "age" (float32 [?, 1]), "visits" (int64 [?, 1])'],
    ],
    [
      "more records than MAX_BATCH_ROWS",
      () => post("/models/reviews/predict", { inputs: Array.from({ length: MAX_ROWS + 1 }, good) }),
      413,
      [`${MAX_ROWS + 1} rows`, "MAX_BATCH_ROWS"],
    ],
  ];

  for (const [name, send, status, parts] of cases) {
    test(`${name}: ${status}`, async () => {
      const before = await (await t.app.request("/api/models/reviews", { headers: ADMIN })).text();
      const res = await send();
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string };
      for (const p of parts) expect(body.error).toContain(p);
      expect(JSON.stringify(body)).not.toContain("    at ");
      // Nothing changed: the same versions, deployments and serving version, and the model still answers as before.
      expect(await (await t.app.request("/api/models/reviews", { headers: ADMIN })).text()).toBe(before);
      expectClassifierAnswer((await (await post("/models/reviews/predict", { inputs: m.records })).json()) as Answer);
    });
  }

  test("the one-input model still takes rows of numbers unchanged", async () => {
    const res = await post("/models/iris/predict", { inputs: iris.expected.rows });
    expect(((await res.json()) as Answer).predictions).toEqual(iris.expected.labels);
  });
});
