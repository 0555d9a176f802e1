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

  test("rows for a model with several inputs say to name them", () => {
    expect(refused({ inputs: [[1, "x", 2]] }, multi).message).toContain(
      'has 3 inputs, "age" (float32 [?, 1]), "city" (string [?, 1]), "count" (int64 [?, 1]): send them by name',
    );
  });
});
