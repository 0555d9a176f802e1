// MLflow scoring-server request bodies → tensors: dataframe_split, dataframe_records, instances, inputs, and CSV.
// Tables feed a one-input model column by column in the order given, or a model with one input per column by name.
import { BadRequestError, UnprocessableError } from "../lib/errors.ts";
import { exampleRecord, isObject, namedToFeeds, rowsToFeeds } from "./decode-rows.ts";
import { columnsToFeeds, recordsToFeeds, tableToFeeds, takesColumns } from "./decode-table.ts";
import type { ModelSignature } from "./model-session.ts";
import { show, type InputLimits } from "./tensor-input.ts";
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
      return tableToFeeds(signature, columns?.map(String) ?? null, rows as unknown[][], "dataframe_split.data", limits);
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
        // TF-serving row format: each instance names the model's inputs; else (and for a model with one input per
        // column, whose instances are then simply records) the keys are table columns.
        if (!takesColumns(signature) && namesInputs(signature, Object.keys(records[0]!)))
          return namedToFeeds(signature, transpose(records, "instances"), "instances", limits);
        return recordsToFeeds(signature, records, "instances", limits);
      }
      return rowsToFeeds(signature, value, "instances", limits, tableHint(signature));
    }
    case "inputs": {
      if (Array.isArray(value)) return rowsToFeeds(signature, value, "inputs", limits, tableHint(signature));
      if (!isObject(value)) throw new BadRequestError(`inputs must be a list (a tensor) or an object of name → values; got ${show(value)}`);
      if (namesInputs(signature, Object.keys(value))) return namedToFeeds(signature, value, "inputs", limits);
      return columnsToFeeds(signature, value, "inputs", limits);
    }
  }
}

/** How to send a model with one input per column in MLflow's forms, for messages. */
function tableHint(signature: ModelSignature): string {
  return `send dataframe_records, [${exampleRecord(signature)}, ...], or dataframe_split with "columns" naming them`;
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
