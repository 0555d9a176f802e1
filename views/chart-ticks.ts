// Axis ticks for the metric charts: round steps (1, 2 or 5 × 10^k) and labels that tell neighbouring ticks apart.

/** Ticks of an axis: the values, their step, and a label per value. */
export type Ticks = { values: number[]; step: number; labels: string[] };

/**
 * Round-numbered ticks enclosing [min, max] (finite numbers, either order), about `target` intervals apart.
 * One value (min = max) gets a band around it (±5 %, or ±1 around 0) so its ticks still differ. Labels use as many
 * decimals as the step needs (0.85, 0.90, 0.95), and exponent notation for huge or tiny magnitudes (1.2e+12).
 */
export function niceTicks(min: number, max: number, target = 4): Ticks {
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`ticks need finite bounds, got [${min}, ${max}]`);
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    const pad = Math.abs(min) * 0.05 || 1;
    [min, max] = [min - pad, max + pad];
  }
  const step = niceStep((max - min) / Math.max(1, target));
  const first = Math.floor(min / step + 1e-9) * step;
  // The epsilon keeps float error from adding a tick past max.
  const count = Math.max(1, Math.ceil((max - first) / step - 1e-9));
  const values = Array.from({ length: count + 1 }, (_, i) => Number((first + i * step).toPrecision(12)));
  return { values, step, labels: values.map((v) => tickLabel(v, step)) };
}

/** The smallest of 1, 2, 5 or 10 × 10^k at least `rough` (> 0). */
export function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= rough * (1 - 1e-12)) ?? 10) * magnitude;
  return Number(step.toPrecision(12));
}

/** `value` written with the precision `step` calls for: enough decimals to tell ticks `step` apart, no more. */
export function tickLabel(value: number, step: number): string {
  if (value === 0) return "0";
  const abs = Math.abs(value);
  const stepExp = Math.floor(Math.log10(step) + 1e-9);
  if (abs >= 1e6 || abs < 1e-4) return value.toExponential(Math.max(0, Math.floor(Math.log10(abs) + 1e-9) - stepExp));
  return value.toFixed(Math.max(0, -stepExp));
}
