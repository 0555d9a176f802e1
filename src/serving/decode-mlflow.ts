// MLflow scoring-server request bodies → tensors: dataframe_split, dataframe_records, instances, inputs, and CSV.
// Tables feed a one-input model column by column in the order given, or a model with one input per column by name.
import { BadRequestError, UnprocessableError } from "../lib/errors.ts";
import { parseNumberText } from "../lib/number-text.ts";
import { isObject, namedToFeeds, rowsToFeeds } from "./decode-rows.ts";
import type { ModelSignature, TensorSpec } from "./model-session.ts";
import { describeInput, nestedTensor, show, type InputLimits } from "./tensor-input.ts";
import type { TensorValue } from "./tensor-types.ts";

export const MLFLOW_FORMATS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;
const REQUIRED = `the input must be a JSON object with exactly one of the fields ${MLFLOW_FORMATS.join(", ")} (and optionally "params")`;

/**
 * The tensors of an MLflow JSON scoring request. Throws BadRequestError (400) for a body that is not one of MLflow's
 * formats, UnprocessableError (422) when the data does not fit the model, PayloadTooLargeError (413) for too many rows.
 */
export function decodeMlflowJson(body: unknown, signature: ModelSignature, limits: InputLimits): Record<string, TensorValue> {
  if (!isObject(body)) throw new BadRequestError(`${REQUIRED}; got ${Array.isArray(body) ? "a list" : show(body)}`);
  const present = MLFLOW_FORMATS.filter((f) => f in body);
  if (present.length !== 1) throw new BadRequestError(`${REQUIRED}; got fields ${Object.keys(body).join(", ") || "none"}`);
  const format = present[0]!;
  const value = body[format];
  switch (format) {
    case "dataframe_split": {
      if (!isObject(value) || !Array.isArray(value.data)) {
        throw new BadRequestError('dataframe_split must be {"columns": [name, ...], "data": [[value, ...], ...]} (pandas orient="split")');
      }
      const columns = value.columns === undefined ? null : value.columns;
      if (columns !== null && (!Array.isArray(columns) || !columns.every((c) => typeof c === "string" || typeof c === "number"))) {
        throw new BadRequestError("dataframe_split.columns must be a list of column names");
      }
      const rows = value.data as unknown[];
      rows.forEach((r, i) => {
        if (!Array.isArray(r)) throw new BadRequestError(`dataframe_split.data[${i}] must be a list of values (one row), got ${show(r)}`);
      });
      return frameToFeeds(signature, columns?.map(String) ?? null, rows as unknown[][], "dataframe_split.data", limits);
    }
    case "dataframe_records": {
      if (!Array.isArray(value) || !value.every(isObject))
        throw new BadRequestError('dataframe_records must be a list of objects, [{"column": value, ...}, ...] (pandas orient="records")');
      return recordsToFeeds(signature, value as Record<string, unknown>[], "dataframe_records", limits);
    }
    case "instances": {
      if (!Array.isArray(value)) throw new BadRequestError("instances must be a list: rows, or objects keyed by input or column name");
      if (value.length > 0 && value.every(isObject)) {
        const records = value as Record<string, unknown>[];
        // TF-serving row format: each instance names the model's inputs; else the keys are table columns.
        if (namesInputs(signature, Object.keys(records[0]!))) return namedToFeeds(signature, transpose(records, "instances"), "instances", limits);
        return recordsToFeeds(signature, records, "instances", limits);
      }
      return rowsToFeeds(signature, value, "instances", limits);
    }
    case "inputs": {
      if (Array.isArray(value)) return rowsToFeeds(signature, value, "inputs", limits);
      if (!isObject(value)) throw new BadRequestError(`inputs must be a list (a tensor) or an object of name → values; got ${show(value)}`);
      if (namesInputs(signature, Object.keys(value))) return namedToFeeds(signature, value, "inputs", limits);
      return columnsToFeeds(signature, value, "inputs", limits);
    }
  }
}

/** The tensors of a CSV body whose first line names the columns (pandas `to_csv(index=False)`). Throws like decodeMlflowJson. */
export function decodeCsv(text: string, signature: ModelSignature, limits: InputLimits): Record<string, TensorValue> {
  const [header, ...rows] = parseCsv(text);
  if (!header || (header.length === 1 && header[0] === ""))
    throw new BadRequestError("the CSV is empty: send a header line naming the columns, then one line per row");
  rows.forEach((r, i) => {
    if (r.length !== header.length) throw new BadRequestError(`CSV line ${i + 2} has ${r.length} fields; the header has ${header.length}`);
  });
  return frameToFeeds(signature, header, rows, "csv", limits, true);
}

/** A table (column names, or null for positional, and rows) → tensors. `text`: cells are CSV text, numbers parsed per input type. */
function frameToFeeds(
  signature: ModelSignature,
  columns: string[] | null,
  rows: unknown[][],
  where: string,
  limits: InputLimits,
  text = false,
): Record<string, TensorValue> {
  const [single, ...others] = signature.inputs;
  if (single && !others.length && single.shape.length === 2 && single.shape[1] !== 1) {
    // One matrix input: columns in the order given (ONNX models carry no column names).
    const width = single.shape[1];
    if (columns && width != null && columns.length !== width) {
      throw new UnprocessableError(`the model takes ${width} columns (input ${describeInput(single)}); got ${columns.length}: ${columns.join(", ")}`, {
        expected_columns: width,
        got: columns,
      });
    }
    const data = text ? rows.map((r) => r.map((v) => fromText(single, v))) : rows;
    return { [single.name]: nestedTensor(single, data, where, limits) };
  }
  if (!signature.inputs.every(isColumnInput)) {
    throw new UnprocessableError(
      `this model's inputs, ${signature.inputs.map(describeInput).join(", ")}, cannot be fed from a table; send them by name: {"inputs": {"${single?.name ?? "input"}": [...]}}`,
    );
  }
  if (!columns) {
    if (signature.inputs.length !== 1)
      throw new UnprocessableError(`name the columns: the model takes one column per input, ${signature.inputs.map((i) => i.name).join(", ")}`);
    columns = [single!.name];
  }
  const byName = new Map(columns.map((c, i) => [c, i]));
  const missing = signature.inputs.filter((i) => !byName.has(i.name)).map((i) => i.name);
  const unknown = columns.filter((c) => !signature.inputs.some((i) => i.name === c));
  if (missing.length || unknown.length) {
    const parts = [
      missing.length && `missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`,
      unknown.length && `unknown column${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}`,
    ];
    throw new UnprocessableError(
      `${parts.filter(Boolean).join("; ")}: the model takes one column per input, ${signature.inputs.map(describeInput).join(", ")}`,
      {
        expected_columns: signature.inputs.map((i) => i.name),
        got: columns,
      },
    );
  }
  const feeds: Record<string, TensorValue> = {};
  for (const spec of signature.inputs) {
    const j = byName.get(spec.name)!;
    const values = rows.map((r) => (text ? fromText(spec, r[j]) : r[j]));
    feeds[spec.name] = nestedTensor(spec, values, `${where} column "${spec.name}"`, limits, { column: true });
  }
  return feeds;
}

function recordsToFeeds(signature: ModelSignature, records: Record<string, unknown>[], where: string, limits: InputLimits): Record<string, TensorValue> {
  const columns = records.length ? Object.keys(records[0]!) : [];
  // A key missing from a record is a missing value, as pandas reads it (NaN).
  const rows = records.map((r) => columns.map((c) => (c in r ? r[c] : null)));
  return frameToFeeds(signature, columns, rows, where, limits);
}

function columnsToFeeds(signature: ModelSignature, cols: Record<string, unknown>, where: string, limits: InputLimits): Record<string, TensorValue> {
  const columns = Object.keys(cols);
  const lists = columns.map((c) => {
    const v = cols[c];
    if (!Array.isArray(v)) throw new BadRequestError(`${where}.${c} must be a list of values (one per row), got ${show(v)}`);
    return v;
  });
  const n = lists[0]?.length ?? 0;
  lists.forEach((l, i) => {
    if (l.length !== n) throw new UnprocessableError(`${where} columns have different lengths: ${columns[0]} has ${n}, ${columns[i]} has ${l.length}`);
  });
  const rows = Array.from({ length: n }, (_, r) => lists.map((l) => l[r]));
  return frameToFeeds(signature, columns, rows, where, limits);
}

function transpose(records: Record<string, unknown>[], where: string): Record<string, unknown[]> {
  const keys = Object.keys(records[0]!);
  const out: Record<string, unknown[]> = Object.fromEntries(keys.map((k) => [k, []]));
  records.forEach((r, i) => {
    const ks = Object.keys(r);
    if (ks.length !== keys.length || !keys.every((k) => k in r))
      throw new UnprocessableError(`${where}[${i}] has fields ${ks.join(", ")}; ${where}[0] has ${keys.join(", ")}`);
    for (const k of keys) out[k]!.push(r[k]);
  });
  return out;
}

function namesInputs(signature: ModelSignature, keys: string[]): boolean {
  return keys.length > 0 && keys.every((k) => signature.inputs.some((i) => i.name === k));
}

function isColumnInput(spec: TensorSpec): boolean {
  return spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1);
}

const MISSING = new Set(["", "nan", "NaN", "NAN", "null", "NULL", "NA", "N/A"]);

/** A CSV cell for `spec`: numbers parsed for numeric inputs, pandas' missing-value spellings as null, text kept for strings. */
function fromText(spec: TensorSpec, cell: unknown): unknown {
  if (typeof cell !== "string" || spec.type === "string") return cell;
  const s = cell.trim();
  if (MISSING.has(s)) return null;
  if (spec.type === "bool") return s === "true" || s === "True" || s === "1" ? true : s === "false" || s === "False" || s === "0" ? false : cell;
  return parseNumberText(s) ?? cell;
}

/** Rows of fields from CSV text (RFC 4180: quoted fields may hold commas, quotes doubled, newlines). Throws BadRequestError for an unclosed quote. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '"' && field === "") {
      const start = i;
      i++;
      for (;;) {
        if (i >= n) throw new BadRequestError(`the CSV has a quoted field that never closes (opened at character ${start})`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
      continue;
    }
    if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      if (ch === "\r" && text[i + 1] === "\n") i++;
    } else {
      field += ch;
    }
    i++;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}
