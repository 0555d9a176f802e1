// Request values → tensors, checked against one model input's signature: type, rank, fixed dimensions, batch size.
// Every protocol decoder ends here, so the messages ("expected ..., got ...") are the same whichever way a client calls.
import { PayloadTooLargeError, UnprocessableError } from "../lib/errors.ts";
import type { TensorSpec } from "./model-session.ts";
import {
  allocate,
  describeElement,
  elementSize,
  fromBytes,
  isSupportedType,
  oipDatatype,
  storeElement,
  type ElementType,
  type TensorValue,
} from "./tensor-types.ts";

/** Request-size limits that apply to every tensor. */
export type InputLimits = { maxBatchRows: number };

/** "[?, 4]": a model shape with dynamic dimensions shown as "?". */
export function describeShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => d ?? "?").join(", ")}]`;
}

/** '"input" (float32 [?, 4])': one input as users see it in messages. */
export function describeInput(spec: TensorSpec): string {
  return `"${spec.name}" (${spec.type} ${describeShape(spec.shape)})`;
}

/** What a model input expects, as error details. */
export function expectedDetails(spec: TensorSpec) {
  return { input: spec.name, expected: { datatype: oipDatatype(spec.type), type: spec.type, shape: spec.shape.map((d) => d ?? -1) } };
}

/**
 * A tensor for `spec` from nested JSON arrays (`[[1, 2], [3, 4]]`), its shape read from the nesting.
 * `column`: a list of N scalars may feed an input of shape [N, 1] (one value per row).
 * Throws UnprocessableError (422) for a wrong shape, ragged rows, a wrong element or no rows, and
 * PayloadTooLargeError (413) for more rows than `limits.maxBatchRows`. `where` names the value in messages.
 */
export function nestedTensor(spec: TensorSpec, value: unknown, where: string, limits: InputLimits, opts: { column?: boolean } = {}): TensorValue {
  const type = feedableType(spec);
  const dims: number[] = [];
  // The shape is read down the first elements, no deeper than a little past the model's rank (a shape one or two
  // dimensions off is shown in the message): nesting is request input, unbounded.
  for (let v = value; Array.isArray(v); v = v[0]) {
    if (dims.length === spec.shape.length + 2) throw tooDeep(spec, where);
    dims.push(v.length);
    if (v.length === 0) break;
  }
  const rank = dims.length;
  const asColumn = opts.column === true && rank === spec.shape.length - 1 && spec.shape[rank] === 1;
  const shape = asColumn ? [...dims, 1] : dims;
  checkShape(spec, shape, where, limits);
  const data = allocate(
    type,
    shape.reduce((a, b) => a * b, 1),
  );
  const idx: number[] = [];
  let k = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth === rank) {
      if (!storeElement(type, data, k, v)) throw elementError(spec, type, `${where}${path(idx, depth)}`, v);
      k++;
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth]) {
      const at = `${where}${path(idx, depth)}`;
      const first = `${where}${path(new Array(depth).fill(0), depth)}`;
      const got = Array.isArray(v) ? `has ${v.length} values` : `is ${show(v)}`;
      throw new UnprocessableError(`${at} ${got} but ${first} has ${dims[depth]}: every row must have the same length (input ${describeInput(spec)})`, {
        ...expectedDetails(spec),
        at,
      });
    }
    for (let j = 0; j < v.length; j++) {
      idx[depth] = j;
      walk(v[j], depth + 1);
    }
  };
  walk(value, 0);
  return { type, data, dims: shape };
}

/** Where a table's row is, for messages: "row 3" for JSON tables, "CSV line 5" for CSV. */
export type RowLabel = (row: number) => string;

/**
 * A tensor for a column input (shape [N, 1] or [N]) from one value per row, as a table holds them (records, CSV,
 * dataframe_split). Every refusal names the row and the column: a value of the wrong type, a missing value (null,
 * which is how pandas writes NaN), a number where text goes (never turned into text: 1.0 would arrive as "1"), no rows.
 * Throws UnprocessableError (422), PayloadTooLargeError (413) for more rows than `limits.maxBatchRows`.
 */
export function columnTensor(spec: TensorSpec, values: readonly unknown[], where: string, rowLabel: RowLabel, limits: InputLimits): TensorValue {
  const type = feedableType(spec);
  const shape = spec.shape.length === 2 ? [values.length, 1] : [values.length];
  checkShape(spec, shape, where, limits);
  const data = allocate(type, values.length);
  for (let i = 0; i < values.length; i++) {
    if (!storeElement(type, data, i, values[i])) throw cellError(spec, type, rowLabel(i), i, values[i]);
  }
  return { type, data, dims: shape };
}

function cellError(spec: TensorSpec, type: ElementType, at: string, row: number, v: unknown): UnprocessableError {
  const column = `column "${spec.name}"`;
  const details = { column: spec.name, row, expected: { type: spec.type, datatype: oipDatatype(spec.type) } };
  if (v === null || v === undefined) {
    return new UnprocessableError(
      `${at}, ${column} has no value (null or missing; pandas writes NaN as null): the model needs ${describeElement(type)} (${spec.type}) in every row`,
      details,
    );
  }
  if (Array.isArray(v)) {
    return new UnprocessableError(`${at}, ${column} holds a list ${show(v)}, nested deeper than the one ${spec.type} value per row it takes`, {
      ...details,
      got: show(v),
    });
  }
  const hint = type === "string" && typeof v === "number" ? `: send text in quotes, "${v}"` : "";
  return new UnprocessableError(`${at}, ${column} must be ${describeElement(type)} (${spec.type}), got ${show(v)}${hint}`, { ...details, got: show(v) });
}

/**
 * A tensor for `spec` from a declared `shape` and its contents, flat in row-major order or nested (the Open
 * Inference Protocol's JSON form). Throws like nestedTensor, and when the number of values does not fit the shape.
 */
export function flatTensor(spec: TensorSpec, contents: unknown, shape: number[], where: string, limits: InputLimits): TensorValue {
  const type = feedableType(spec);
  checkShape(spec, shape, where, limits);
  const count = shape.reduce((a, b) => a * b, 1);
  const values = flattenWithin(spec, contents, Math.max(shape.length, 1), where);
  if (values.length !== count) {
    throw new UnprocessableError(`${where}.data has ${values.length} values; shape ${describeShape(shape)} needs ${count}`, {
      ...expectedDetails(spec),
      got: { shape, values: values.length },
    });
  }
  const data = allocate(type, count);
  for (let i = 0; i < count; i++) {
    if (!storeElement(type, data, i, values[i])) throw elementError(spec, type, `${where}.data[${i}]`, values[i]);
  }
  return { type, data, dims: shape };
}

/**
 * A tensor for `spec` from raw little-endian bytes (the binary tensor data extension); strings are each a 4-byte
 * little-endian length followed by UTF-8 bytes. Throws UnprocessableError when the byte count does not fit the shape.
 */
export function binaryTensor(spec: TensorSpec, bytes: Uint8Array, shape: number[], where: string, limits: InputLimits): TensorValue {
  const type = feedableType(spec);
  checkShape(spec, shape, where, limits);
  const count = shape.reduce((a, b) => a * b, 1);
  const size = elementSize(type);
  if (size !== undefined) {
    if (bytes.length !== count * size) {
      throw new UnprocessableError(
        `${where} has ${bytes.length} bytes of binary data; shape ${describeShape(shape)} of ${oipDatatype(type)} needs ${count * size}`,
        {
          ...expectedDetails(spec),
        },
      );
    }
    return { type, data: fromBytes(type as Exclude<ElementType, "string">, bytes), dims: shape };
  }
  const strings: string[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  for (let at = 0; at < bytes.length; ) {
    const n = at + 4 <= bytes.length ? view.getUint32(at, true) : -1;
    if (n < 0 || at + 4 + n > bytes.length)
      throw new UnprocessableError(`${where}: BYTES data is cut short at byte ${at} (each element is a 4-byte length, then that many bytes)`);
    strings.push(decoder.decode(bytes.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  if (strings.length !== count)
    throw new UnprocessableError(`${where} holds ${strings.length} strings; shape ${describeShape(shape)} needs ${count}`, expectedDetails(spec));
  return { type, data: strings, dims: shape };
}

/** Check `shape` against the model's: rank, fixed dimensions, not empty, rows within the limit. */
export function checkShape(spec: TensorSpec, shape: readonly number[], where: string, limits: InputLimits): void {
  const want = spec.shape;
  const mismatch = (why: string) =>
    new UnprocessableError(`${where} ${why} (input ${describeInput(spec)}); got shape ${describeShape(shape)}`, {
      ...expectedDetails(spec),
      got: { shape },
    });
  if (shape.some((d) => d === 0)) {
    throw new UnprocessableError(`${where} is empty: send at least one row`, { ...expectedDetails(spec), got: { shape } });
  }
  if (shape.length !== want.length) {
    const needs =
      want.length === 2
        ? `must be a list of rows, each a list of ${want[1] ?? "the same number of"} values`
        : `must have ${want.length} dimension${want.length === 1 ? "" : "s"}`;
    throw mismatch(needs);
  }
  for (let d = 0; d < want.length; d++) {
    const w = want[d];
    if (w != null && shape[d] !== w) {
      if (d === 1 && want.length === 2) {
        throw mismatch(`has ${shape[1]} feature${shape[1] === 1 ? "" : "s"} per row; the model expects ${w}`);
      }
      throw mismatch(`has size ${shape[d]} in dimension ${d}; the model expects ${w}`);
    }
  }
  if (shape.length > 0 && shape[0]! > limits.maxBatchRows) {
    throw new PayloadTooLargeError(`${where} has ${shape[0]} rows; at most ${limits.maxBatchRows} are taken per request (MAX_BATCH_ROWS): split the batch`, {
      max_batch_rows: limits.maxBatchRows,
      rows: shape[0],
    });
  }
}

/**
 * The values of `contents` in row-major order, its lists nested at most `maxDepth` deep (the outer list counts as one);
 * walked with an explicit stack, so deep nesting in a request is a 422, never a stack overflow.
 */
function flattenWithin(spec: TensorSpec, contents: unknown, maxDepth: number, where: string): unknown[] {
  if (!Array.isArray(contents)) return [contents];
  if (!contents.some(Array.isArray)) return contents;
  const values: unknown[] = [];
  const stack: { list: unknown[]; next: number }[] = [{ list: contents, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.list.length) {
      stack.pop();
      continue;
    }
    const v = top.list[top.next++];
    if (!Array.isArray(v)) values.push(v);
    else if (stack.length === maxDepth) throw tooDeep(spec, `${where}.data`);
    else stack.push({ list: v, next: 0 });
  }
  return values;
}

function tooDeep(spec: TensorSpec, where: string): UnprocessableError {
  const rank = spec.shape.length;
  return new UnprocessableError(
    `${where} is nested deeper than the ${rank} dimension${rank === 1 ? "" : "s"} of input ${describeInput(spec)}`,
    expectedDetails(spec),
  );
}

function feedableType(spec: TensorSpec): ElementType {
  if (!isSupportedType(spec.type)) throw new UnprocessableError(`input ${describeInput(spec)} has a type this server cannot feed`, expectedDetails(spec));
  return spec.type;
}

function elementError(spec: TensorSpec, type: ElementType, at: string, v: unknown): UnprocessableError {
  const why = v === null ? "null (a missing value such as NaN)" : show(v);
  return new UnprocessableError(`${at} must be ${describeElement(type)} (input ${describeInput(spec)}), got ${why}`, { ...expectedDetails(spec), at });
}

function path(idx: number[], depth: number): string {
  let s = "";
  for (let d = 0; d < depth; d++) s += `[${idx[d]}]`;
  return s;
}

/** A request value, short, for messages: at most 40 characters, whatever its size or nesting (no deep recursion). */
export function show(v: unknown): string {
  const s = v === undefined ? "nothing" : preview(v, 0);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

// JSON text for the start of `v`: lists and objects shown only a few levels deep and a few dozen characters long.
function preview(v: unknown, depth: number): string {
  if (typeof v === "string") return JSON.stringify(v.length > 41 ? v.slice(0, 41) : v);
  if (typeof v !== "object" || v === null) return JSON.stringify(v) ?? String(v);
  const list = Array.isArray(v);
  if (depth === 4) return list ? "[...]" : "{...}";
  const parts: string[] = [];
  let length = 0;
  for (const [key, item] of list ? v.entries() : Object.entries(v)) {
    if (length > 40) {
      parts.push("...");
      break;
    }
    const shown = list ? preview(item, depth + 1) : `${JSON.stringify(key)}:${preview(item, depth + 1)}`;
    parts.push(shown);
    length += shown.length + 1;
  }
  return list ? `[${parts.join(",")}]` : `{${parts.join(",")}}`;
}
