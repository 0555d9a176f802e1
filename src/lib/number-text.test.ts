import { describe, expect, test } from "bun:test";
import { parseNumberText } from "./number-text.ts";

// The pattern the parser replaces: the reference for which cells are numbers (run only on short cells here).
const OLD = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

describe("parseNumberText", () => {
  const numbers: [string, number][] = [
    ["0", 0],
    ["42", 42],
    ["-3", -3],
    ["+7", 7],
    ["5.", 5],
    [".5", 0.5],
    ["-.25", -0.25],
    ["1.5e3", 1500],
    ["2E-2", 0.02],
    ["1e+2", 100],
    ["007", 7],
  ];
  test.each(numbers)("%p is %p", (cell, value) => {
    expect(parseNumberText(cell)).toBe(value);
  });

  const notNumbers = [
    "",
    "+",
    "-",
    ".",
    "+.",
    ".e1",
    "e5",
    "1e",
    "1e+",
    "1.2.3",
    "1,5",
    "abc",
    "12a",
    " 1",
    "1 ",
    "0x10",
    "Infinity",
    "NaN",
    "1_000",
    "--1",
    "1e5.5",
    "١٢",
  ];
  test.each(notNumbers)("%p is not a number", (cell) => {
    expect(parseNumberText(cell)).toBeNull();
  });

  test("accepts exactly what the old pattern accepted, over every short string of the relevant characters", () => {
    const alphabet = ["1", "0", ".", "e", "E", "+", "-", "x"];
    let checked = 0;
    const walk = (s: string) => {
      expect({ s, n: parseNumberText(s) }).toEqual({ s, n: OLD.test(s) ? Number(s) : null });
      checked++;
      if (s.length < 5) for (const c of alphabet) walk(s + c);
    };
    walk("");
    expect(checked).toBeGreaterThan(30000);
  });

  test("a megabyte of digits ending in a letter is refused after one pass", () => {
    // The old pattern took minutes on this; a linear scan is far under the test timeout.
    expect(parseNumberText("9".repeat(1_000_000) + "x")).toBeNull();
    expect(parseNumberText("9".repeat(1_000_000))).toBe(Infinity);
  });
});
