import { describe, expect, test } from "bun:test";
import { AppError } from "../lib/errors.ts";
import { decodeMlflowJson } from "./decode-mlflow.ts";
import { decodePredictBody } from "./decode-rows.ts";
import type { ModelSignature } from "./model-session.ts";
import { decodeInferRequest } from "./oip-tensors.ts";
import { show } from "./tensor-input.ts";

// Values nested far deeper than any model's rank, built as objects (no JSON text), so each decoder's own walk is what
// is tested: it must answer 422 without recursing down the nesting (a million levels overflow any recursive walk).
const matrix: ModelSignature = { inputs: [{ name: "input", type: "float32", shape: [null, 4] }], outputs: [{ name: "label", type: "int64", shape: [null] }] };
const columns: ModelSignature = {
  inputs: [
    { name: "age", type: "float32", shape: [null, 1] },
    { name: "city", type: "string", shape: [null, 1] },
  ],
  outputs: [{ name: "label", type: "string", shape: [null] }],
};
const limits = { maxBatchRows: 100 };

function nested(levels: number, inner: unknown = 1): unknown {
  let v = inner;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("decoded without complaint");
}

const oip = (data: unknown, shape = [1, 4]) => ({ inputs: [{ name: "input", datatype: "FP32", shape, data }] });

for (const levels of [10, 1_000_000]) {
  describe(`a value nested ${levels} levels deep is a 422`, () => {
    const cases: [string, () => unknown, string][] = [
      ["predict inputs", () => decodePredictBody({ inputs: nested(levels) }, matrix, limits), "nested deeper than the 2 dimensions"],
      [
        "predict: one element of a row",
        () => decodePredictBody({ inputs: [[1, 2, 3, nested(levels)]] }, matrix, limits),
        "inputs[0][3] must be a finite number",
      ],
      ["predict named input", () => decodePredictBody({ inputs: { age: nested(levels), city: ["x"] } }, columns, limits), "nested deeper"],
      ["MLflow instances", () => decodeMlflowJson({ instances: nested(levels) }, matrix, limits), "nested deeper"],
      ["MLflow inputs", () => decodeMlflowJson({ inputs: nested(levels) }, matrix, limits), "nested deeper"],
      ["MLflow inputs by column", () => decodeMlflowJson({ inputs: { age: nested(levels), city: ["x"] } }, columns, limits), "nested deeper"],
      [
        "MLflow dataframe_split cell",
        () => decodeMlflowJson({ dataframe_split: { data: [[1, 2, 3, nested(levels)]] } }, matrix, limits),
        "must be a finite number",
      ],
      ["MLflow dataframe_records cell", () => decodeMlflowJson({ dataframe_records: [{ age: nested(levels), city: "x" }] }, columns, limits), "nested deeper"],
      [
        "OIP data",
        () => decodeInferRequest(oip(nested(levels, [1, 2, 3, 4])), new Uint8Array(), matrix, limits),
        "data is nested deeper than the 2 dimensions",
      ],
      ["OIP data, deep inside a flat list", () => decodeInferRequest(oip([1, 2, 3, nested(levels)]), new Uint8Array(), matrix, limits), "nested deeper"],
    ];
    test.each(cases)("%s", (_name, decode, message) => {
      const e = refusal(decode);
      expect(e.status as number).toBe(422);
      expect(e.message).toContain(message);
      expect(e.message.length).toBeLessThan(400);
    });
  });
}

describe("nesting within the rank is still accepted", () => {
  test("OIP data nested as the shape, or flat", () => {
    const rows = [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ];
    for (const data of [rows, rows.flat()]) {
      const plan = decodeInferRequest(oip(data, [2, 4]), new Uint8Array(), matrix, limits);
      expect(Array.from(plan.feeds.input!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  });
});

describe("show", () => {
  test("a million levels of nesting, a huge object and a huge string are shown in 40 characters", () => {
    expect(show(nested(1_000_000))).toBe("[[[[[...]]]]]");
    expect(show(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])))).toHaveLength(40);
    expect(show("x".repeat(10_000_000))).toBe(`"${"x".repeat(36)}...`);
  });
  test("small values read as JSON", () => {
    expect(show([1, "a", null, { b: true }])).toBe('[1,"a",null,{"b":true}]');
    expect(show(undefined)).toBe("nothing");
  });
});
