// POST /models/{name}/predict bodies → tensors: {"inputs": [[...], ...]} (rows) or {"inputs": {"<input>": [...]}} (named).
import { UnprocessableError } from "../lib/errors.ts";
import type { ModelSignature, TensorSpec } from "./model-session.ts";
import { describeInput, nestedTensor, show, type InputLimits } from "./tensor-input.ts";
import type { TensorValue } from "./tensor-types.ts";

const USAGE = 'expected {"inputs": [[number, ...], ...]} (rows), or {"inputs": {"<input name>": [...], ...}} for a model with named inputs';

/**
 * The tensors of a predict body, checked against `signature`. Rows feed a model with one input; a single flat row
 * (`[5.1, 3.5, 1.4, 0.2]`) is one row. Throws UnprocessableError (422) saying what the model expects and what came,
 * PayloadTooLargeError (413) for more rows than allowed.
 */
export function decodePredictBody(body: unknown, signature: ModelSignature, limits: InputLimits): Record<string, TensorValue> {
  const inputs = isObject(body) ? body.inputs : undefined;
  if (Array.isArray(inputs)) return rowsToFeeds(signature, inputs, "inputs", limits);
  if (isObject(inputs)) return namedToFeeds(signature, inputs, "inputs", limits);
  const got = isObject(body)
    ? inputs === undefined
      ? `no "inputs" (keys: ${Object.keys(body).join(", ") || "none"})`
      : `"inputs": ${show(inputs)}`
    : show(body);
  throw new UnprocessableError(`${USAGE}; got ${got}`, { expected_inputs: signature.inputs.map(describeInput) });
}

/** Rows (or one flat row) for a model with exactly one input. */
export function rowsToFeeds(signature: ModelSignature, rows: unknown[], where: string, limits: InputLimits): Record<string, TensorValue> {
  const spec = onlyInput(signature);
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

/** The model's single input; throws UnprocessableError naming the inputs when it has several. */
export function onlyInput(signature: ModelSignature): TensorSpec {
  const [spec, ...others] = signature.inputs;
  if (!spec) throw new UnprocessableError("this model takes no inputs");
  if (others.length) {
    throw new UnprocessableError(
      `this model has ${signature.inputs.length} inputs, ${signature.inputs.map(describeInput).join(", ")}: send them by name, {"inputs": {"${spec.name}": [...], ...}}`,
      { expected_inputs: signature.inputs.map((i) => i.name) },
    );
  }
  return spec;
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
