// Tables → tensors: records, column lists, dataframe_split and CSV, for every protocol that takes a table (/predict,
// /invocations). A one-input model takes the columns in the order given; a model with one input per column (a
// scikit-learn Pipeline over a DataFrame, converted with one initial type per column) takes them by name.
import { BadRequestError, UnprocessableError } from "../lib/errors.ts";
import { parseNumberText } from "../lib/number-text.ts";
import type { ModelSignature, TensorSpec } from "./model-signature.ts";
import { columnTensor, describeInput, nestedTensor, show, type InputLimits, type RowLabel } from "./tensor-input.ts";
import type { TensorValue } from "./tensor-types.ts";

/** How a table came: `text` when every cell is CSV text (numbers are parsed per input type), and how rows are named. */
export type TableOptions = { text?: boolean; rowLabel?: RowLabel };

/**
 * A table (column names, or null when positional, and rows of cells) → tensors. Throws UnprocessableError (422) for
 * missing or unknown columns (naming both lists), a cell that does not fit its column (naming the row and column),
 * a width that does not fit a one-input model; PayloadTooLargeError (413) for too many rows.
 */
export function tableToFeeds(
  signature: ModelSignature,
  columns: string[] | null,
  rows: unknown[][],
  where: string,
  limits: InputLimits,
  opts: TableOptions = {},
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
    const data = opts.text ? rows.map((r) => r.map((v) => fromText(single, v))) : rows;
    return { [single.name]: nestedTensor(single, data, where, limits) };
  }
  if (!signature.inputs.every(isColumnInput)) {
    throw new UnprocessableError(
      `this model's inputs, ${signature.inputs.map(describeInput).join(", ")}, cannot be fed from a table; send them by name: {"inputs": {"${single?.name ?? "input"}": [...]}}`,
    );
  }
  if (!columns) {
    if (signature.inputs.length !== 1) {
      throw new UnprocessableError(`name the columns: the model takes one column per input, ${describeColumns(signature)}`, {
        expected_columns: columnDetails(signature),
      });
    }
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
    throw new UnprocessableError(`${parts.filter(Boolean).join("; ")}: the model takes one column per input, ${describeColumns(signature)}`, {
      expected_columns: columnDetails(signature),
      got: columns,
    });
  }
  const rowLabel = opts.rowLabel ?? ((i: number) => `${where}[${i}]`);
  const feeds: Record<string, TensorValue> = {};
  for (const spec of signature.inputs) {
    const j = byName.get(spec.name)!;
    const values = rows.map((r) => (opts.text ? fromText(spec, r[j]) : r[j]));
    feeds[spec.name] = columnTensor(spec, values, where, rowLabel, limits);
  }
  return feeds;
}

/**
 * Records (`[{"column": value, ...}, ...]`, pandas orient="records") → tensors. The columns are every key any record
 * has: a key missing from a record is a missing value there (as pandas reads it), and refused as one. Throws like tableToFeeds.
 */
export function recordsToFeeds(signature: ModelSignature, records: Record<string, unknown>[], where: string, limits: InputLimits): Record<string, TensorValue> {
  const seen = new Set<string>();
  for (const r of records) for (const k in r) seen.add(k);
  const columns = [...seen];
  const rows = records.map((r) => columns.map((c) => (Object.hasOwn(r, c) ? r[c] : null)));
  return tableToFeeds(signature, columns, rows, where, limits);
}

/** Column name → list of values (one per row) → tensors. Throws BadRequestError for a value that is not a list, else like tableToFeeds. */
export function columnsToFeeds(signature: ModelSignature, cols: Record<string, unknown>, where: string, limits: InputLimits): Record<string, TensorValue> {
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
  return tableToFeeds(signature, columns, rows, where, limits, { rowLabel: (i) => `${where} row ${i}` });
}

/** The tensors of a CSV body whose first line names the columns (pandas `to_csv(index=False)`). Throws BadRequestError (400) for malformed CSV, else like tableToFeeds. */
export function decodeCsv(text: string, signature: ModelSignature, limits: InputLimits): Record<string, TensorValue> {
  const [header, ...rows] = parseCsv(text);
  if (!header || (header.length === 1 && header[0] === ""))
    throw new BadRequestError("the CSV is empty: send a header line naming the columns, then one line per row");
  rows.forEach((r, i) => {
    if (r.length !== header.length) throw new BadRequestError(`CSV line ${i + 2} has ${r.length} fields; the header has ${header.length}`);
  });
  return tableToFeeds(signature, header, rows, "csv", limits, { text: true, rowLabel: (i) => `CSV line ${i + 2}` });
}

/** Whether an input takes one value per row: shape [N] or [N, 1]. */
export function isColumnInput(spec: TensorSpec): boolean {
  return spec.shape.length === 1 || (spec.shape.length === 2 && spec.shape[1] === 1);
}

/** Whether a model takes one named column per input (every input has one value per row), and has more than none. */
export function takesColumns(signature: ModelSignature): boolean {
  return signature.inputs.length > 0 && signature.inputs.every(isColumnInput);
}

/** "text (string), age (float32)": a model's columns as users see them in messages. */
export function describeColumns(signature: ModelSignature): string {
  return signature.inputs.map((i) => `${i.name} (${i.type})`).join(", ");
}

/** The columns a model takes, as error details. */
export function columnDetails(signature: ModelSignature): { name: string; type: string }[] {
  return signature.inputs.map((i) => ({ name: i.name, type: i.type }));
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

const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/**
 * Rows of fields from CSV text (RFC 4180: quoted fields may hold commas, quotes doubled, newlines). Throws
 * BadRequestError for an unclosed quote. Runs of plain characters are sliced, not added one by one: a 9 MB cell
 * took half a second on the serving thread that way.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE && field === "") {
      const start = i;
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new BadRequestError(`the CSV has a quoted field that never closes (opened at character ${start})`);
        field += text.slice(i, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
    } else if (ch === COMMA) {
      row.push(field);
      field = "";
      i++;
    } else if (ch === LF || ch === CR) {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += ch === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
    } else {
      // A quote inside a field that did not start with one is an ordinary character.
      let j = i + 1;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === COMMA || c === LF || c === CR) break;
        j++;
      }
      field += text.slice(i, j);
      i = j;
    }
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}
