// Tensor element types: onnxruntime's names, the Open Inference Protocol's names, and the typed arrays that hold them.

/** Element types this server can take in and give back (onnxruntime's names). */
export type ElementType = "float32" | "float64" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64" | "bool" | "string";

/** Flat, row-major tensor contents as onnxruntime takes them. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | string[];

/** A decoded tensor, not yet handed to onnxruntime. */
export type TensorValue = { type: ElementType; data: TensorData; dims: number[] };

const OIP_NAMES: Record<ElementType, string> = {
  float32: "FP32",
  float64: "FP64",
  int8: "INT8",
  int16: "INT16",
  int32: "INT32",
  int64: "INT64",
  uint8: "UINT8",
  uint16: "UINT16",
  uint32: "UINT32",
  uint64: "UINT64",
  bool: "BOOL",
  string: "BYTES",
};
const FROM_OIP = new Map(Object.entries(OIP_NAMES).map(([ort, oip]) => [oip, ort as ElementType]));

/** The Open Inference Protocol datatype of an onnxruntime type ("float32" → "FP32"); onnxruntime's own name upper-cased when there is none. */
export function oipDatatype(type: string): string {
  return OIP_NAMES[type as ElementType] ?? type.toUpperCase();
}

/** The element type of an Open Inference Protocol datatype ("FP32" → "float32"), or undefined when this server cannot take it. */
export function fromOipDatatype(datatype: string): ElementType | undefined {
  return FROM_OIP.get(datatype);
}

/** Whether this server can build tensors of `type`. */
export function isSupportedType(type: string): type is ElementType {
  return type in OIP_NAMES;
}

/** Bytes per element of a fixed-size type; undefined for strings. */
export function elementSize(type: ElementType): number | undefined {
  return type === "string" ? undefined : ARRAYS[type].BYTES_PER_ELEMENT;
}

type ArrayCtor = { new (n: number): Exclude<TensorData, string[]>; new (b: ArrayBuffer): Exclude<TensorData, string[]>; BYTES_PER_ELEMENT: number };
const ARRAYS: Record<Exclude<ElementType, "string">, ArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** An empty array of `n` elements of `type`. */
export function allocate(type: ElementType, n: number): TensorData {
  return type === "string" ? new Array<string>(n).fill("") : new ARRAYS[type](n);
}

/** Contents of `type` copied out of little-endian bytes (the binary tensor extension); the byte count must be a multiple of the element size. */
export function fromBytes(type: Exclude<ElementType, "string">, bytes: Uint8Array): TensorData {
  // A copy: the request's buffer is not aligned for the element size.
  return new ARRAYS[type](bytes.slice().buffer);
}

const INT_RANGES: Partial<Record<ElementType, [number, number]>> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint8: [0, 255],
  uint16: [0, 65535],
  uint32: [0, 4294967295],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

/** What a value of `type` must be, for messages ("a finite number", "a whole number from 0 to 255"). */
export function describeElement(type: ElementType): string {
  if (type === "float32" || type === "float64") return "a finite number";
  if (type === "bool") return "true or false";
  if (type === "string") return "a string";
  const [lo, hi] = INT_RANGES[type]!;
  return `a whole number from ${lo} to ${hi}`;
}

/**
 * Store JSON value `v` at `data[i]` for `type`; returns false (storing nothing) when `v` is not a valid element.
 * Floats take finite numbers, integers whole numbers in range, bool true/false (or 0/1), string strings.
 */
export function storeElement(type: ElementType, data: TensorData, i: number, v: unknown): boolean {
  switch (type) {
    case "float32":
    case "float64":
      if (typeof v !== "number" || !Number.isFinite(v)) return false;
      (data as Float32Array)[i] = v;
      return true;
    case "string":
      if (typeof v !== "string") return false;
      (data as string[])[i] = v;
      return true;
    case "bool":
      if (v === true || v === 1) (data as Uint8Array)[i] = 1;
      else if (v === false || v === 0) (data as Uint8Array)[i] = 0;
      else return false;
      return true;
    default: {
      const [lo, hi] = INT_RANGES[type]!;
      if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) return false;
      if (type === "int64" || type === "uint64") (data as BigInt64Array)[i] = BigInt(v);
      else (data as Int32Array)[i] = v;
      return true;
    }
  }
}

/** Tensor contents as JSON values: bigints as numbers, bools as booleans. */
export function toJsonArray(type: string, data: ArrayLike<unknown>): unknown[] {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  if (type === "bool") return Array.from(data as Uint8Array, (b) => b !== 0);
  return Array.from(data);
}
