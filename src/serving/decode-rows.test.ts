import { describe, expect, test } from "bun:test";
import { PayloadTooLargeError, UnprocessableError } from "../lib/errors.ts";
import { decodePredictBody } from "./decode-rows.ts";
import type { ModelSignature } from "./model-session.ts";

const iris: ModelSignature = {
  inputs: [{ name: "input", type: "float32", shape: [null, 4] }],
  outputs: [{ name: "label", type: "int64", shape: [null] }],
};
const multi: ModelSignature = {
  inputs: [
    { name: "age", type: "float32", shape: [null, 1] },
    { name: "city", type: "string", shape: [null, 1] },
    { name: "count", type: "int64", shape: [null, 1] },
  ],
  outputs: [{ name: "label", type: "string", shape: [null] }],
};
const limits = { maxBatchRows: 3 };

function refused(body: unknown, signature = iris): UnprocessableError | PayloadTooLargeError {
  try {
    decodePredictBody(body, signature, limits);
  } catch (e) {
    if (e instanceof UnprocessableError || e instanceof PayloadTooLargeError) return e;
    throw e;
  }
  throw new Error(`decoded ${JSON.stringify(body)} without complaint`);
}

describe("decodePredictBody: rows", () => {
  test("rows become one float32 tensor of [rows, features]", () => {
    const feeds = decodePredictBody(
      {
        inputs: [
          [1, 2, 3, 4],
          [5, 6, 7, 8.5],
        ],
      },
      iris,
      limits,
    );
    expect(feeds.input!.dims).toEqual([2, 4]);
    expect(feeds.input!.type).toBe("float32");
    expect(Array.from(feeds.input!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8.5]);
  });

  test("a single flat row is one row", () => {
    expect(decodePredictBody({ inputs: [1, 2, 3, 4] }, iris, limits).input!.dims).toEqual([1, 4]);
  });

  // Each case: body, status, substrings of the message (what was expected and what came).
  const cases: [string, unknown, number, string[]][] = [
    ["wrong number of features", { inputs: [[1, 2, 3]] }, 422, ["3 features per row", "expects 4", "float32 [?, 4]"]],
    [
      "ragged rows",
      {
        inputs: [
          [1, 2, 3, 4],
          [1, 2],
        ],
      },
      422,
      ["inputs[1] has 2 values", "inputs[0] has 4"],
    ],
    ["a string among numbers", { inputs: [[1, "x", 3, 4]] }, 422, ["inputs[0][1] must be a finite number", 'got "x"']],
    ["null (NaN as pandas writes it)", { inputs: [[1, null, 3, 4]] }, 422, ["inputs[0][1]", "null (a missing value such as NaN)"]],
    ["a boolean", { inputs: [[1, true, 3, 4]] }, 422, ["inputs[0][1] must be a finite number", "got true"]],
    ["no rows", { inputs: [] }, 422, ["inputs is empty"]],
    ["rows of nothing", { inputs: [[]] }, 422, ["inputs is empty"]],
    ["too deep", { inputs: [[[1, 2, 3, 4]]] }, 422, ["must be a list of rows", "got shape [1, 1, 4]"]],
    ["no inputs field", { rows: [[1, 2, 3, 4]] }, 422, ['no "inputs" (keys: rows)']],
    ["inputs is a number", { inputs: 5 }, 422, ['"inputs": 5']],
    ["not an object", [1, 2], 422, ["expected {"]],
    [
      "too many rows",
      {
        inputs: [
          [1, 2, 3, 4],
          [1, 2, 3, 4],
          [1, 2, 3, 4],
          [1, 2, 3, 4],
        ],
      },
      413,
      ["4 rows", "at most 3", "MAX_BATCH_ROWS"],
    ],
  ];
  for (const [name, body, status, parts] of cases) {
    test(`refuses ${name} with ${status}`, () => {
      const e = refused(body);
      expect(e.status as number).toBe(status);
      for (const p of parts) expect(e.message).toContain(p);
    });
  }

  test("a wrong-shape error carries the expected signature as details", () => {
    expect(refused({ inputs: [[1, 2]] }).details).toMatchObject({ input: "input", expected: { datatype: "FP32", shape: [-1, 4] }, got: { shape: [1, 2] } });
  });
});

describe("decodePredictBody: named inputs", () => {
  test("columns feed [N, 1] inputs by name, strings and integers included", () => {
    const feeds = decodePredictBody({ inputs: { age: [30, 40.5], city: ["paris", "nice"], count: [[1], [2]] } }, multi, limits);
    expect(feeds.age!.dims).toEqual([2, 1]);
    expect(Array.from(feeds.age!.data as Float32Array)).toEqual([30, 40.5]);
    expect(feeds.city).toEqual({ type: "string", data: ["paris", "nice"], dims: [2, 1] });
    expect(feeds.count!.data).toEqual(new BigInt64Array([1n, 2n]));
  });

  const cases: [string, unknown, string[]][] = [
    ["a missing input", { age: [1], city: ["x"] }, ['missing input "count"', '"age" (float32 [?, 1])']],
    ["an unknown input", { age: [1], city: ["x"], count: [1], colour: ["red"] }, ['no input named "colour"']],
    ["a number for a string input", { age: [1], city: [3], count: [1] }, ["inputs.city[0] must be a string", "got 3"]],
    ["a fraction for an integer input", { age: [1], city: ["x"], count: [1.5] }, ["inputs.count[0] must be a whole number"]],
    ["inputs of different lengths", { age: [1, 2], city: ["x"], count: [1, 2] }, ["different numbers of rows", '"age" has 2', '"city" has 1']],
  ];
  for (const [name, inputs, parts] of cases) {
    test(`refuses ${name} with 422`, () => {
      const e = refused({ inputs }, multi);
      expect(e.status).toBe(422);
      for (const p of parts) expect(e.message).toContain(p);
    });
  }

  test("rows for a model with one input per column name its columns and say how to send them", () => {
    const e = refused({ inputs: [[1, "x", 2]] }, multi);
    expect(e.message).toContain("this model takes 3 named columns, age (float32), city (string), count (int64), not rows of values");
    expect(e.message).toContain('send records, {"inputs": [{"age": ..., "city": ..., "count": ...}, ...]}');
    expect(e.details).toEqual({ expected_columns: multi.inputs.map(({ name, type }) => ({ name, type })) });
  });
});

describe("decodePredictBody: records", () => {
  test("records feed one input per column by name, in any key order", () => {
    const feeds = decodePredictBody(
      {
        inputs: [
          { city: "paris", age: 30, count: 1 },
          { count: 2, age: 40.5, city: "nice" },
        ],
      },
      multi,
      limits,
    );
    expect(feeds.age).toEqual({ type: "float32", data: new Float32Array([30, 40.5]), dims: [2, 1] });
    expect(feeds.city).toEqual({ type: "string", data: ["paris", "nice"], dims: [2, 1] });
    expect(feeds.count).toEqual({ type: "int64", data: new BigInt64Array([1n, 2n]), dims: [2, 1] });
  });

  const good = { age: 30, city: "paris", count: 1 };
  const cases: [string, unknown[], string[], Record<string, unknown>][] = [
    ["a missing column", [{ age: 30, city: "paris" }], ["missing column count", "count (int64)"], { got: ["age", "city"] }],
    ["an unknown column", [{ ...good, colour: "red" }], ["unknown column colour"], {}],
    ["an unknown column in a later record only", [good, { ...good, zip: 75001 }], ["unknown column zip"], {}],
    ["a column missing from a later record", [good, { age: 31, city: "nice" }], ['inputs[1], column "count" has no value'], { column: "count", row: 1 }],
    [
      "text in a number column",
      [good, { ...good, age: "old" }],
      ['inputs[1], column "age" must be a finite number (float32), got "old"'],
      { column: "age", row: 1 },
    ],
    ["a number given as text", [{ ...good, age: "31" }], ['column "age" must be a finite number (float32), got "31"'], {}],
    ["a number in a text column", [{ ...good, city: 75 }], ['inputs[0], column "city" must be a string (string), got 75: send text in quotes, "75"'], {}],
    ["a null", [{ ...good, city: null }], ['inputs[0], column "city" has no value (null or missing; pandas writes NaN as null)'], {}],
    ["a fraction for an integer column", [{ ...good, count: 1.5 }], ['column "count" must be a whole number'], {}],
    ["a record that is not an object", [good, [1, "x", 2]], ['inputs[1] is [1,"x",2]: every record must be an object'], {}],
  ];
  for (const [name, records, parts, details] of cases) {
    test(`refuses ${name} with 422`, () => {
      const e = refused({ inputs: records }, multi);
      expect(e.status).toBe(422);
      for (const p of parts) expect(e.message).toContain(p);
      expect(e.details).toMatchObject(details);
    });
  }

  test("more records than the row limit: 413", () => {
    expect(refused({ inputs: Array.from({ length: 4 }, () => good) }, multi).status).toBe(413);
  });

  test("a record for a model that takes rows of numbers names its input and says to send rows", () => {
    const e = refused({ inputs: [{ sepal_length: 5.1, sepal_width: 3.5 }] });
    expect(e.message).toContain('this model takes "input" (float32 [?, 4]), not records with named columns (got sepal_length, sepal_width)');
    expect(e.message).toContain('send rows, {"inputs": [[4 numbers], ...]}');
  });
});
