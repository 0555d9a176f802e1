import { describe, expect, test } from "bun:test";
import { MAX_SAMPLE_ROWS_CHARS, parseSampleRows, readSampleRows } from "./sample-rows.ts";

describe("sample rows", () => {
  test("rows of numbers and records of typed values are kept, at most three", () => {
    expect(
      parseSampleRows([
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ]),
    ).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(parseSampleRows([{ age: 3, city: "paris", ok: true }])).toEqual([{ age: 3, city: "paris", ok: true }]);
  });

  test("anything else is none: mixed layouts, nested values, nulls, empty rows, not a list", () => {
    for (const bad of [[[1], { a: 1 }], [[[1, 2]]], [[null]], [{ a: null }], [[]], [{}], [], "rows", null, 3, [[Number.NaN]]])
      expect(parseSampleRows(bad)).toBeNull();
  });

  test("rows that would make the JSON too long are dropped; a single row too long keeps nothing", () => {
    const wide = "x".repeat(MAX_SAMPLE_ROWS_CHARS / 2);
    expect(parseSampleRows([{ t: wide }, { t: wide }, { t: wide }])).toEqual([{ t: wide }]);
    expect(parseSampleRows([{ t: "x".repeat(MAX_SAMPLE_ROWS_CHARS) }])).toBeNull();
  });

  test("the stored column: absent, corrupt or the wrong shape reads as none", () => {
    expect(readSampleRows(null)).toBeNull();
    expect(readSampleRows("{not json")).toBeNull();
    expect(readSampleRows('{"a": 1}')).toBeNull();
    expect(readSampleRows("[[0.5, 1]]")).toEqual([[0.5, 1]]);
  });
});
