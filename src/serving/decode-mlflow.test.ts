import { describe, expect, test } from "bun:test";
import { AppError } from "../lib/errors.ts";
import { decodeMlflowJson } from "./decode-mlflow.ts";
import { decodeCsv, parseCsv } from "./decode-table.ts";
import type { ModelSignature } from "./model-session.ts";

const matrix: ModelSignature = { inputs: [{ name: "input", type: "float32", shape: [null, 2] }], outputs: [{ name: "label", type: "int64", shape: [null] }] };
const columns: ModelSignature = {
  inputs: [
    { name: "age", type: "float32", shape: [null, 1] },
    { name: "city", type: "string", shape: [null, 1] },
  ],
  outputs: [{ name: "label", type: "string", shape: [null] }],
};
const limits = { maxBatchRows: 100 };

const floats = (f: { data: unknown }) => Array.from(f.data as Float32Array);

function refused(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("decoded without complaint");
}

describe("MLflow JSON formats into a one-input model (columns in order)", () => {
  const same = [
    {
      dataframe_split: {
        columns: ["a", "b"],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
    },
    {
      dataframe_split: {
        index: [0, 1],
        data: [
          [1, 2],
          [3, 4],
        ],
      },
    },
    {
      dataframe_records: [
        { a: 1, b: 2 },
        { a: 3, b: 4 },
      ],
    },
    {
      instances: [
        [1, 2],
        [3, 4],
      ],
    },
    { instances: [{ input: [1, 2] }, { input: [3, 4] }] },
    {
      inputs: [
        [1, 2],
        [3, 4],
      ],
    },
    {
      inputs: {
        input: [
          [1, 2],
          [3, 4],
        ],
      },
    },
    { inputs: { a: [1, 3], b: [2, 4] } },
    {
      inputs: [
        [1, 2],
        [3, 4],
      ],
      params: { anything: 1 },
    },
  ];
  for (const body of same) {
    test(Object.keys(body).join("+") + " " + JSON.stringify(body).slice(0, 60), () => {
      const feeds = decodeMlflowJson(body, matrix, limits);
      expect(feeds.input!.dims).toEqual([2, 2]);
      expect(floats(feeds.input!)).toEqual([1, 2, 3, 4]);
    });
  }
});

describe("MLflow JSON formats into a model with one input per column (by name)", () => {
  const same = [
    {
      dataframe_split: {
        columns: ["city", "age"],
        data: [
          ["paris", 30],
          ["nice", 40],
        ],
      },
    },
    {
      dataframe_records: [
        { age: 30, city: "paris" },
        { city: "nice", age: 40 },
      ],
    },
    {
      instances: [
        { age: 30, city: "paris" },
        { age: 40, city: "nice" },
      ],
    },
    { inputs: { age: [30, 40], city: ["paris", "nice"] } },
  ];
  for (const body of same) {
    test(JSON.stringify(body).slice(0, 70), () => {
      const feeds = decodeMlflowJson(body, columns, limits);
      expect(floats(feeds.age!)).toEqual([30, 40]);
      expect(feeds.city).toEqual({ type: "string", data: ["paris", "nice"], dims: [2, 1] });
    });
  }
});

describe("MLflow bodies that are refused", () => {
  const cases: [string, unknown, ModelSignature, number, string[]][] = [
    ["two formats", { inputs: [[1, 2]], instances: [[1, 2]] }, matrix, 400, ["exactly one of the fields", "got fields inputs, instances"]],
    ["no format", { data: [[1, 2]] }, matrix, 400, ["exactly one of the fields dataframe_split, dataframe_records, instances, inputs"]],
    ["a list", [[1, 2]], matrix, 400, ["got a list"]],
    ["split without data", { dataframe_split: { columns: ["a", "b"] } }, matrix, 400, ["dataframe_split must be"]],
    ["split with a row that is not a list", { dataframe_split: { data: [1, 2] } }, matrix, 400, ["dataframe_split.data[0] must be a list"]],
    ["wrong number of columns", { dataframe_split: { columns: ["a", "b", "c"], data: [[1, 2, 3]] } }, matrix, 422, ["takes 2 columns", "got 3: a, b, c"]],
    [
      "a missing value in records",
      { dataframe_records: [{ a: 1, b: 2 }, { a: 3 }] },
      matrix,
      422,
      ["dataframe_records[1][1]", "null (a missing value such as NaN)"],
    ],
    ["a missing column", { dataframe_records: [{ age: 30 }] }, columns, 422, ["missing column city"]],
    ["an unknown column", { dataframe_split: { columns: ["age", "city", "zip"], data: [[1, "x", 2]] } }, columns, 422, ["unknown column zip"]],
    ["a text age", { inputs: { age: ["old"], city: ["x"] } }, columns, 422, ["inputs.age[0] must be a finite number", 'got "old"']],
    ["no rows", { dataframe_split: { columns: ["a", "b"], data: [] } }, matrix, 422, ["is empty"]],
    [
      "text in a number column of a split",
      {
        dataframe_split: {
          columns: ["age", "city"],
          data: [
            [1, "x"],
            ["old", "y"],
          ],
        },
      },
      columns,
      422,
      ['dataframe_split.data[1], column "age" must be a finite number (float32), got "old"'],
    ],
    ["a null in a text column", { dataframe_records: [{ age: 1, city: null }] }, columns, 422, ['dataframe_records[0], column "city" has no value']],
    ["a number in a text column", { dataframe_records: [{ age: 1, city: 7 }] }, columns, 422, ['column "city" must be a string', 'send text in quotes, "7"']],
    [
      "an unknown column in a later record",
      {
        dataframe_records: [
          { age: 1, city: "x" },
          { age: 2, city: "y", zip: 1 },
        ],
      },
      columns,
      422,
      ["unknown column zip"],
    ],
    [
      "columns of the inputs dict with text in a number column",
      { inputs: { city: ["x", "y"], age: [1, "old"], zip: [1, 2] } },
      columns,
      422,
      ["unknown column zip"],
    ],
    [
      "rows of values for a model with one input per column",
      { instances: [[1, "x"]] },
      columns,
      422,
      ["takes 2 named columns, age (float32), city (string), not rows of values", 'send dataframe_records, [{"age": ..., "city": ...}, ...]'],
    ],
    ["a split without column names for a model with one input per column", { dataframe_split: { data: [[1, "x"]] } }, columns, 422, ["name the columns"]],
  ];
  for (const [name, body, signature, status, parts] of cases) {
    test(`${name}: ${status}`, () => {
      const e = refused(() => decodeMlflowJson(body, signature, limits));
      expect(e.status as number).toBe(status);
      for (const p of parts) expect(e.message).toContain(p);
    });
  }
});

describe("CSV", () => {
  test("parses quotes, doubled quotes, CRLF and a trailing newline", () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\r\n1,\n')).toEqual([
      ["a", "b"],
      ["x, y", 'say "hi"'],
      ["1", ""],
    ]);
  });

  test("numbers for float inputs, text for string inputs, columns by name", () => {
    const feeds = decodeCsv("city,age\nparis,30\n007,41.5\n", columns, limits);
    expect(floats(feeds.age!)).toEqual([30, 41.5]);
    expect(feeds.city!.data).toEqual(["paris", "007"]);
    expect(floats(decodeCsv("a,b\n1,2\n3,4e0\n", matrix, limits).input!)).toEqual([1, 2, 3, 4]);
  });

  test("a model with one input per column: numbers parsed for number columns (int64 too), text kept for text columns", () => {
    const mixed: ModelSignature = { ...columns, inputs: [...columns.inputs, { name: "visits", type: "int64", shape: [null, 1] }] };
    const feeds = decodeCsv('visits,city,age\n3,"Paris, 75",30\n 12.0 ,42,1e1\n', mixed, limits);
    expect(feeds.visits).toEqual({ type: "int64", data: new BigInt64Array([3n, 12n]), dims: [2, 1] });
    expect(feeds.city!.data).toEqual(["Paris, 75", "42"]);
    expect(floats(feeds.age!)).toEqual([30, 10]);
  });

  test("a model with one input per column: a bad cell is named by its CSV line and column", () => {
    const e = refused(() => decodeCsv("age,city\n1,x\nold,y\n", columns, limits));
    expect(e.status as number).toBe(422);
    expect(e.message).toContain('CSV line 3, column "age" must be a finite number (float32), got "old"');
    expect(refused(() => decodeCsv("age,city\n1,x\nNaN,y\n", columns, limits)).message).toContain('CSV line 3, column "age" has no value');
    expect(refused(() => decodeCsv("age,town\n1,x\n", columns, limits)).message).toContain("missing column city; unknown column town");
  });

  const cases: [string, string, number, string[]][] = [
    ["an empty body", "", 400, ["the CSV is empty"]],
    ["a short line", "a,b\n1\n", 400, ["CSV line 2 has 1 fields; the header has 2"]],
    ["an unclosed quote", 'a,b\n"1,2\n', 400, ["never closes"]],
    ["an empty cell", "a,b\n1,\n", 422, ["csv[0][1]", "null (a missing value such as NaN)"]],
    ["NaN", "a,b\n1,NaN\n", 422, ["null (a missing value such as NaN)"]],
    ["text in a number column", "a,b\n1,abc\n", 422, ["csv[0][1] must be a finite number", 'got "abc"']],
  ];
  for (const [name, text, status, parts] of cases) {
    test(`refuses ${name} with ${status}`, () => {
      const e = refused(() => decodeCsv(text, matrix, limits));
      expect(e.status as number).toBe(status);
      for (const p of parts) expect(e.message).toContain(p);
    });
  }
});
