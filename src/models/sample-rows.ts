// Sample rows kept with a model version: the first rows the converter's parity check fed the converted model, as a
// predict request takes them (lists of numbers for a model with one input, records {"<column>": value} for a model with
// one input per column). They prefill the model page's "Try it" form. Imports nothing of the app.

/** One value of a sample row. */
export type SampleValue = number | string | boolean;
/** A row: values in input order (one input), or input name → value (one input per column). */
export type SampleRow = SampleValue[] | Record<string, SampleValue>;

/** At most this many rows are kept. */
export const MAX_SAMPLE_ROWS = 3;
/** Their JSON is at most this long; rows that would make it longer are dropped. */
export const MAX_SAMPLE_ROWS_CHARS = 16_000;

const isValue = (v: unknown): v is SampleValue => (typeof v === "number" && Number.isFinite(v)) || typeof v === "string" || typeof v === "boolean";

/**
 * `value` as sample rows when it is a list of rows of one layout (all lists of values, or all records of values); the
 * first MAX_SAMPLE_ROWS, fewer when their JSON would pass MAX_SAMPLE_ROWS_CHARS. Null for anything else (never throws).
 */
export function parseSampleRows(value: unknown): SampleRow[] | null {
  if (!Array.isArray(value) || !value.length) return null;
  const lists = value.every((r) => Array.isArray(r) && r.length > 0 && r.every(isValue));
  const records = value.every((r) => typeof r === "object" && r !== null && !Array.isArray(r) && Object.keys(r).length > 0 && Object.values(r).every(isValue));
  if (!lists && !records) return null;
  const rows = (value as SampleRow[]).slice(0, MAX_SAMPLE_ROWS);
  while (rows.length && JSON.stringify(rows).length > MAX_SAMPLE_ROWS_CHARS) rows.pop();
  return rows.length ? rows : null;
}

/** The stored column's text as sample rows; null when absent or not sample rows (never throws). */
export function readSampleRows(text: string | null | undefined): SampleRow[] | null {
  if (!text) return null;
  try {
    return parseSampleRows(JSON.parse(text));
  } catch {
    return null;
  }
}
