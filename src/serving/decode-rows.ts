// POST /models/{name}/predict bodies → tensors: {"inputs": [[...], ...]} (rows), {"inputs": [{"<column>": ...}, ...]}
// (records, for a model with one input per column) or {"inputs": {"<input>": [...]}} (named).
import { UnprocessableError } from "../lib/errors.ts";
import { columnDetails, describeColumns, recordsToFeeds, takesColumns } from "./decode-table.ts";
import type { ModelSignature, TensorSpec } from "./model-session.ts";
import { describeInput, nestedTensor, show, type InputLimits } from "./tensor-input.ts";
import type { TensorValue } from "./tensor-types.ts";

const USAGE =
  'expected {"inputs": [[number, ...], ...]} (rows), {"inputs": [{"<column>": value, ...}, ...]} (records, for a model with one input per column), or {"inputs": {"<input name>": [...], ...}} (a list per input)';

/**
 * The tensors of a predict body, checked against `signature`. Rows feed a model with one input; a single flat row
 * (`[5.1, 3.5, 1.4, 0.2]`) is one row. Records (a list of objects) feed a model with one input per column, by name.
 * Throws UnprocessableError (422) saying what the model expects and what came, PayloadTooLargeError (413) for more
 * rows than allowed.
 */
export function decodePredictBody(body: unknown, signature: ModelSignature, limits: InputLimits): Record<string, TensorValue> {
  const inputs = isObject(body) ? body.inputs : undefined;
  if (Array.isArray(inputs)) {
    if (inputs.length > 0 && isObject(inputs[0])) return predictRecords(signature, inputs, limits);
    return rowsToFeeds(signature, inputs, "inputs", limits);
  }
  if (isObject(inputs)) return namedToFeeds(signature, inputs, "inputs", limits);
  const got = isObject(body)
    ? inputs === undefined
      ? `no "inputs" (keys: ${Object.keys(body).join(", ") || "none"})`
      : `"inputs": ${show(inputs)}`
    : show(body);
  throw new UnprocessableError(`${USAGE}; got ${got}`, { expected_inputs: signature.inputs.map(describeInput) });
}

function predictRecords(signature: ModelSignature, records: unknown[], limits: InputLimits): Record<string, TensorValue> {
  if (!takesColumns(signature)) {
    const [spec, ...others] = signature.inputs;
    const send = spec && !others.length ? `send rows, {"inputs": [[${spec.shape[1] ?? "n"} numbers], ...]}` : "send each input by name";
    const got = Object.keys(records[0] as object);
    throw new UnprocessableError(
      `this model takes ${signature.inputs.map(describeInput).join(", ") || "no inputs"}, not records with named columns (got ${got.join(", ") || "an empty record"}): ${send}`,
      { expected_inputs: signature.inputs.map(describeInput), got },
    );
  }
  records.forEach((r, i) => {
    if (!isObject(r)) throw new UnprocessableError(`inputs[${i}] is ${show(r)}: every record must be an object of column → value, as inputs[0] is`);
  });
  return recordsToFeeds(signature, records as Record<string, unknown>[], "inputs", limits);
}

/**
 * Rows (or one flat row) for a model with exactly one input. `hint` says how to send a model with one input per
 * column instead (the protocol's own forms); throws UnprocessableError naming the columns for such a model.
 */
export function rowsToFeeds(signature: ModelSignature, rows: unknown[], where: string, limits: InputLimits, hint?: string): Record<string, TensorValue> {
  const spec = onlyInput(signature, hint);
  if (spec.shape.length === 2 && rows.length > 0 && !rows.some(Array.isArray)) {
    // A flat list: one row, or, for an input of one value per row ([N, 1]), one value per row.
    rows = spec.shape[1] === 1 ? rows.map((v) => [v]) : [rows];
  }
  return { [spec.name]: nestedTensor(spec, rows, where, limits) };
}

/** One value per model input, by name; a flat list feeds an input of shape [N, 1]. Unknown and missing names are refused. */
export function namedToFeeds(signature: ModelSignature, named: Record<string, unknown>, where: string, limits: InputLimits): Record<string, TensorValue> {
  const known = new Set(signature.inputs.map((i) => i.name));
  const unknown = Object.keys(named).filter((k) => !known.has(k));
  if (unknown.length) {
    throw new UnprocessableError(
      `the model has no input named ${unknown.map((n) => `"${n}"`).join(", ")}; its inputs are ${signature.inputs.map(describeInput).join(", ")}`,
      {
        expected_inputs: signature.inputs.map((i) => i.name),
        got: Object.keys(named),
      },
    );
  }
  const feeds: Record<string, TensorValue> = {};
  for (const spec of signature.inputs) {
    if (!(spec.name in named)) {
      throw new UnprocessableError(`missing input "${spec.name}"; the model takes ${signature.inputs.map(describeInput).join(", ")}`, {
        expected_inputs: signature.inputs.map((i) => i.name),
        got: Object.keys(named),
      });
    }
    feeds[spec.name] = nestedTensor(spec, named[spec.name], `${where}.${spec.name}`, limits, { column: true });
  }
  checkSameBatch(signature, feeds);
  return feeds;
}

/**
 * The model's single input. Throws UnprocessableError naming the inputs when it has several: for a model with one
 * input per column, its columns and `hint` (how to send them; by default the /predict forms).
 */
export function onlyInput(signature: ModelSignature, hint?: string): TensorSpec {
  const [spec, ...others] = signature.inputs;
  if (!spec) throw new UnprocessableError("this model takes no inputs");
  if (others.length && takesColumns(signature)) {
    throw new UnprocessableError(
      `this model takes ${signature.inputs.length} named columns, ${describeColumns(signature)}, not rows of values: ${hint ?? predictColumnsHint(signature)}`,
      { expected_columns: columnDetails(signature) },
    );
  }
  if (others.length) {
    throw new UnprocessableError(
      `this model has ${signature.inputs.length} inputs, ${signature.inputs.map(describeInput).join(", ")}: send them by name, {"inputs": {"${spec.name}": [...], ...}}`,
      { expected_inputs: signature.inputs.map((i) => i.name) },
    );
  }
  return spec;
}

/** A record of `signature`'s columns with placeholder values, for messages: {"text": ..., "age": ...} (the first few columns). */
export function exampleRecord(signature: ModelSignature): string {
  const names = signature.inputs.map((i) => `"${i.name}": ...`);
  return `{${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}}`;
}

function predictColumnsHint(signature: ModelSignature): string {
  return `send records, {"inputs": [${exampleRecord(signature)}, ...]}, or a list per column, {"inputs": {"${signature.inputs[0]!.name}": [...], ...}}`;
}

/** Inputs whose first dimension is the batch must agree on the number of rows. */
export function checkSameBatch(signature: ModelSignature, feeds: Record<string, TensorValue>): void {
  let first: { name: string; rows: number } | undefined;
  for (const spec of signature.inputs) {
    const f = feeds[spec.name];
    if (!f || spec.shape[0] !== null || f.dims.length === 0) continue;
    if (!first) first = { name: spec.name, rows: f.dims[0]! };
    else if (f.dims[0] !== first.rows) {
      throw new UnprocessableError(`inputs have different numbers of rows: "${first.name}" has ${first.rows}, "${spec.name}" has ${f.dims[0]}`);
    }
  }
}

/** Whether `v` is a plain JSON object (not null, not a list). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
