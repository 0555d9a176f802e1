import { beforeAll, describe, expect, test } from "bun:test";
import { contentKind } from "./invocations.ts";
import { deployVersion, makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";

let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;

beforeAll(async () => {
  f = await makeServingFixtures();
  t = makeTestApp({ MAX_BATCH_ROWS: "20" });
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "multi", f.multi.onnxPath);
}, 90_000);

const invoke = (name: string, body: unknown, contentType = "application/json") =>
  t.app.request(`/models/${name}/invocations`, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

async function predictionsOf(res: Response): Promise<unknown[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get("X-Model-Version")).toBe("1");
  const body = (await res.json()) as { predictions: unknown[]; version: number };
  expect(body.version).toBe(1);
  return body.predictions;
}

describe("POST /models/{name}/invocations (MLflow scoring protocol)", () => {
  const irisColumns = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
  const irisBodies: [string, () => unknown][] = [
    ["dataframe_split", () => ({ dataframe_split: { columns: irisColumns, data: f.iris.expected.rows } })],
    ["dataframe_records", () => ({ dataframe_records: f.iris.expected.rows.map((r) => Object.fromEntries(irisColumns.map((c, j) => [c, r[j]]))) })],
    ["instances (rows)", () => ({ instances: f.iris.expected.rows })],
    ["inputs (tensor)", () => ({ inputs: f.iris.expected.rows })],
    ["inputs (by input name)", () => ({ inputs: { input: f.iris.expected.rows } })],
  ];
  for (const [name, body] of irisBodies) {
    test(`${name} → {"predictions": [...]} as scikit-learn predicted`, async () => {
      expect(await predictionsOf(await invoke("iris", body()))).toEqual(f.iris.expected.labels);
    });
  }

  test("text/csv with a header line", async () => {
    const csv = `${irisColumns.join(",")}\n${f.iris.expected.rows.map((r) => r.join(",")).join("\n")}\n`;
    expect(await predictionsOf(await invoke("iris", csv, "text/csv; charset=utf-8"))).toEqual(f.iris.expected.labels);
  });

  test("a model with one input per column: dataframe_split, dataframe_records and CSV by column name, string labels", async () => {
    const { columns, rows, labels } = f.multi;
    expect(await predictionsOf(await invoke("multi", { dataframe_split: { columns, data: rows } }))).toEqual(labels);
    const reversed = rows.map((r) => ({ city: r[2], income: r[1], age: r[0] }));
    expect(await predictionsOf(await invoke("multi", { dataframe_records: reversed }))).toEqual(labels);
    const csv = `city,age,income\n${rows.map((r) => `"${r[2]}",${r[0]},${r[1]}`).join("\n")}`;
    expect(await predictionsOf(await invoke("multi", csv, "text/csv"))).toEqual(labels);
  });

  const bad: [string, () => Response | Promise<Response>, number, string[]][] = [
    ["unknown model", () => invoke("nope", { inputs: [[1, 2, 3, 4]] }), 404, ['no model named "nope"']],
    ["text/plain", () => invoke("iris", "1,2,3,4", "text/plain"), 415, ['unsupported Content-Type "text/plain"', "application/json", "text/csv"]],
    ["a charset other than UTF-8", () => invoke("iris", { inputs: [[1, 2, 3, 4]] }, "application/json; charset=latin-1"), 415, ["only UTF-8"]],
    ["two formats at once", () => invoke("iris", { inputs: [[1, 2, 3, 4]], instances: [[1, 2, 3, 4]] }), 400, ["exactly one of the fields"]],
    [
      "the native predict body",
      () => invoke("iris", { rows: [[1, 2, 3, 4]] }),
      400,
      ["exactly one of the fields dataframe_split, dataframe_records, instances, inputs"],
    ],
    ["malformed JSON", () => invoke("iris", '{"inputs": [[1, 2'), 400, ["not valid JSON"]],
    ["wrong number of columns", () => invoke("iris", { dataframe_split: { columns: ["a", "b"], data: [[1, 2]] } }), 422, ["takes 4 columns", "got 2: a, b"]],
    ["a missing column", () => invoke("multi", { dataframe_records: [{ age: 30, income: 50 }] }), 422, ["missing column city"]],
    ["NaN in CSV", () => invoke("iris", "a,b,c,d\n1,2,NaN,4\n", "text/csv"), 422, ["csv[0][2]", "missing value"]],
    ["too many rows", () => invoke("iris", { instances: Array.from({ length: 21 }, () => [1, 2, 3, 4]) }), 413, ["21 rows", "at most 20"]],
  ];
  for (const [name, send, status, parts] of bad) {
    test(`${name}: ${status}, then a good request succeeds`, async () => {
      const res = await send();
      expect(res.status).toBe(status);
      const body = (await res.json()) as { error: string };
      for (const p of parts) expect(body.error).toContain(p);
      expect(await predictionsOf(await invoke("iris", { instances: f.iris.expected.rows }))).toEqual(f.iris.expected.labels);
    });
  }

  test("contentKind: JSON when absent, parameters allowed, case-insensitive", () => {
    expect(contentKind(undefined)).toBe("json");
    expect(contentKind("Application/JSON; charset=UTF-8")).toBe("json");
    expect(contentKind("text/csv")).toBe("csv");
    expect(() => contentKind("application/x-www-form-urlencoded")).toThrow(/unsupported Content-Type/);
  });
});
