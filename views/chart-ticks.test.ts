import { describe, expect, test } from "bun:test";
import { niceStep, niceTicks, tickLabel } from "./chart-ticks.ts";

/** Every step between neighbouring ticks is the same 1, 2 or 5 × 10^k. */
function expectRoundSteps(values: number[], step: number) {
  const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-9);
  expect([1, 2, 5]).toContain(Number(mantissa.toPrecision(6)));
  for (let i = 1; i < values.length; i++) expect(values[i]! - values[i - 1]!).toBeCloseTo(step, 9);
}

describe("niceTicks", () => {
  test("two accuracies: ticks of 0.2 enclosing both, labelled with one decimal", () => {
    const t = niceTicks(0.22, 0.957);
    expect(t.values).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    expect(t.labels).toEqual(["0.2", "0.4", "0.6", "0.8", "1.0"]);
  });

  test("one value (a model with one version) gets a band of distinct ticks around it, not the value four times", () => {
    const t = niceTicks(0.9333, 0.9333);
    expect(t.labels).toEqual(["0.85", "0.90", "0.95", "1.00"]);
    expect(new Set(t.labels).size).toBe(t.labels.length);
    expect(t.values[0]!).toBeLessThan(0.9333);
    expect(t.values.at(-1)!).toBeGreaterThan(0.9333);
  });

  test("all-equal zeros and all-equal negatives", () => {
    expect(niceTicks(0, 0).values).toEqual([-1, -0.5, 0, 0.5, 1]);
    const neg = niceTicks(-3, -3);
    expect(neg.values[0]!).toBeLessThan(-3);
    expect(neg.values.at(-1)!).toBeGreaterThan(-3);
    expectRoundSteps(neg.values, neg.step);
  });

  test("negative to positive, reversed bounds", () => {
    const t = niceTicks(12, -7.5);
    expect(t.values).toEqual([-10, -5, 0, 5, 10, 15]);
    expect(t.labels).toEqual(["-10", "-5", "0", "5", "10", "15"]);
  });

  test("a loss of 200 and a huge count: round steps, short labels", () => {
    expect(niceTicks(180, 231).values).toEqual([180, 200, 220, 240]);
    const huge = niceTicks(1.23e12, 4.9e12);
    expectRoundSteps(huge.values, huge.step);
    expect(huge.labels).toEqual(["1e+12", "2e+12", "3e+12", "4e+12", "5e+12"]);
    const tiny = niceTicks(0.00001, 0.00004);
    expect(tiny.labels).toEqual(["1e-5", "2e-5", "3e-5", "4e-5"]);
  });

  test("any range, any scale: ticks enclose it, between 2 and 12 of them, steps round, labels distinct", () => {
    for (const [min, max] of [
      [0, 1],
      [0.001, 0.0011],
      [-1e9, 1e9],
      [1 / 3, 2 / 3],
      [99.9, 100.1],
      [-0.5, -0.49],
      [7, 7.000001],
    ] as const) {
      const t = niceTicks(min, max);
      expect(t.values[0]!).toBeLessThanOrEqual(min);
      expect(t.values.at(-1)!).toBeGreaterThanOrEqual(max);
      expect(t.values.length).toBeGreaterThanOrEqual(2);
      expect(t.values.length).toBeLessThanOrEqual(12);
      expectRoundSteps(t.values, t.step);
      expect(new Set(t.labels).size).toBe(t.labels.length);
    }
  });

  test("NaN or infinite bounds are refused, not drawn", () => {
    expect(() => niceTicks(Number.NaN, 1)).toThrow(RangeError);
    expect(() => niceTicks(0, Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  test("niceStep and tickLabel", () => {
    expect([0.7, 1, 1.5, 3, 40, 0.013].map(niceStep)).toEqual([1, 1, 2, 5, 50, 0.02]);
    expect(tickLabel(0.9, 0.05)).toBe("0.90");
    expect(tickLabel(250, 50)).toBe("250");
    expect(tickLabel(0, 0.1)).toBe("0");
  });
});
