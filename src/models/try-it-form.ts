// What the model page's "Try it" form shows for a version: its fields (from the stored signature), the rows to start
// from (the version's sample rows, else zeros of the right type), the request body they make and the same request as
// a curl line. public/try-it.js builds bodies from edited fields by the same rules (coerce, body).
import type { SampleRow, SampleValue } from "./sample-rows.ts";

type Input = { name: string; type: string; shape: (number | null)[] };

/** How the form sends rows: lists per row (one input), records by input name (one input per column). */
export type TryItLayout = "rows" | "records";

/** The form of one version; `rows` hold the fields' text, a row per line of the table. */
export type TryItForm = {
  layout: TryItLayout;
  columns: { name: string; type: string }[];
  rows: string[][];
  /** Whether `rows` came from the version's sample rows (else zeros). */
  sampled: boolean;
};

/** Widest row the form lays out as fields; wider inputs (images, embeddings) are not offered. */
export const MAX_TRY_IT_COLUMNS = 64;

/**
 * The form for a version with `signature` (as stored) and `samples`; null when the signature holds no inputs the form
 * can lay out (none, several inputs not one value per row, a width unknown or over MAX_TRY_IT_COLUMNS).
 */
export function tryItForm(signature: unknown, samples: SampleRow[] | null): TryItForm | null {
  const inputs = inputsOf(signature);
  if (!inputs?.length) return null;
  const columnInput = (i: Input) => i.shape.length === 1 || (i.shape.length === 2 && i.shape[1] === 1);
  if (inputs.length > 1 || (inputs.length === 1 && columnInput(inputs[0]!) && inputs[0]!.shape.length === 1)) {
    if (!inputs.every(columnInput) || inputs.length > MAX_TRY_IT_COLUMNS) return null;
    const columns = inputs.map((i) => ({ name: i.name, type: i.type }));
    const fromSamples = samples?.filter((r): r is Record<string, SampleValue> => !Array.isArray(r) && columns.every((c) => c.name in r));
    if (fromSamples?.length) return { layout: "records", columns, rows: fromSamples.map((r) => columns.map((c) => text(r[c.name]))), sampled: true };
    return { layout: "records", columns, rows: [columns.map((c) => zero(c.type))], sampled: false };
  }
  const only = inputs[0]!;
  const width = only.shape[1];
  if (only.shape.length !== 2 || typeof width !== "number" || width < 1 || width > MAX_TRY_IT_COLUMNS) return null;
  const columns = Array.from({ length: width }, (_, i) => ({ name: `${only.name}[${i}]`, type: only.type }));
  const fromSamples = samples?.filter((r): r is SampleValue[] => Array.isArray(r) && r.length === width);
  if (fromSamples?.length) return { layout: "rows", columns, rows: fromSamples.map((r) => r.map(text)), sampled: true };
  return { layout: "rows", columns, rows: [columns.map((c) => zero(c.type))], sampled: false };
}

/** A field's text as the request sends it: numbers for number types (the text itself when it is none, so the API says what is wrong), true/false for bool. */
export function coerce(value: string, type: string): string | number | boolean {
  if (type === "string") return value;
  if (type === "bool") return value === "true" ? true : value === "false" ? false : value;
  const n = Number(value);
  return value.trim() !== "" && Number.isFinite(n) ? n : value;
}

/** The predict request body of a form's rows. */
export function tryItBody(form: Pick<TryItForm, "layout" | "columns" | "rows">): { inputs: unknown[] } {
  if (form.layout === "rows") return { inputs: form.rows.map((r) => r.map((v, i) => coerce(v, form.columns[i]!.type))) };
  return { inputs: form.rows.map((r) => Object.fromEntries(form.columns.map((c, i) => [c.name, coerce(r[i] ?? "", c.type)]))) };
}

/** The request as a shell line: the body single-quoted, and the predict token as `$PREDICT_TOKEN` (never its value). */
export function curlLine(url: string, body: string, withToken: boolean): string {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const auth = withToken ? ` -H "Authorization: Bearer $PREDICT_TOKEN"` : "";
  return `curl -X POST ${quote(url)} -H 'Content-Type: application/json'${auth} -d ${quote(body)}`;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : String(v);
}

function zero(type: string): string {
  return type === "string" ? "" : type === "bool" ? "false" : "0";
}

// The signature column holds what the register phase read from the model; older rows may hold none.
function inputsOf(signature: unknown): Input[] | null {
  const inputs = (signature as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return null;
  return inputs.filter((i): i is Input => typeof i?.name === "string" && typeof i?.type === "string" && Array.isArray(i?.shape));
}
