// Model outputs → answers: predictions (labels or values) and class probabilities, or every output as a named tensor.
import { UnprocessableError } from "../lib/errors.ts";
import type { ModelSignature } from "./model-signature.ts";
import { oipDatatype, toJsonArray } from "./tensor-types.ts";

/** An output tensor as onnxruntime returns it (ort.Tensor satisfies this). */
export type OutputTensor = { readonly type: string; readonly data: unknown; readonly dims: readonly number[] };
export type Outputs = Record<string, OutputTensor>;

/** Which outputs hold the predictions and, for classifiers, the class probabilities. */
export type OutputPlan = { prediction: string; probabilities?: string };

/** One prediction per row, and one list of class probabilities per row when the model gives them. */
export type Predictions = { predictions: unknown[]; probabilities?: number[][] };

// skl2onnx's names (zipmap off), then the other common converters' names.
const LABEL_NAMES = ["label", "output_label"];
const PROBABILITY_NAMES = ["probabilities", "output_probability"];
const FLOATS = ["float32", "float64"];
const plans = new WeakMap<ModelSignature, OutputPlan>();

/**
 * The output plan of a model, computed once per signature. Throws UnprocessableError when the model has no tensor
 * output to read (a classifier converted with ZipMap on).
 */
export function planOutputs(signature: ModelSignature): OutputPlan {
  let plan = plans.get(signature);
  if (plan) return plan;
  const tensors = signature.outputs.filter((o) => o.type !== "non-tensor");
  const label = tensors.find((o) => LABEL_NAMES.includes(o.name)) ?? tensors[0];
  if (!label) throw new UnprocessableError("this model has no tensor output to read predictions from (convert classifiers with zipmap off)");
  const probabilities =
    tensors.find((o) => PROBABILITY_NAMES.includes(o.name)) ?? tensors.find((o) => o !== label && FLOATS.includes(o.type) && o.shape.length === 2);
  plan = { prediction: label.name, probabilities: probabilities?.name };
  plans.set(signature, plan);
  return plan;
}

/** Predictions per row: a scalar per row when the prediction output has one value per row, else a list per row. */
export function readPredictions(plan: OutputPlan, outputs: Outputs): Predictions {
  const predictions = perRow(outputs[plan.prediction]!);
  const probs = plan.probabilities ? outputs[plan.probabilities] : undefined;
  if (!probs) return { predictions };
  return { predictions, probabilities: perRow(probs, true) as number[][] };
}

/** Every output named in `names` as an Open Inference Protocol tensor: flat row-major data. */
export function outputTensors(outputs: Outputs, names: string[]): { name: string; datatype: string; shape: number[]; data: unknown[] }[] {
  return names.map((name) => {
    const t = outputs[name]!;
    return { name, datatype: oipDatatype(t.type), shape: [...t.dims], data: toJsonArray(t.type, t.data as ArrayLike<unknown>) };
  });
}

/** Every output as nested arrays by name (MLflow's answer for a model that is not a classifier or regressor). */
export function nestedOutputs(outputs: Outputs, names: string[]): Record<string, unknown> {
  return Object.fromEntries(
    names.map((name) => [name, nest(toJsonArray(outputs[name]!.type, outputs[name]!.data as ArrayLike<unknown>), outputs[name]!.dims)]),
  );
}

function perRow(t: OutputTensor, alwaysList = false): unknown[] {
  const flat = toJsonArray(t.type, t.data as ArrayLike<unknown>);
  const rows = t.dims[0] ?? flat.length;
  if (rows === 0) return [];
  const width = flat.length / rows;
  if (width === 1 && !alwaysList) return flat;
  return nest(flat, t.dims.length > 1 ? t.dims : [rows, width]);
}

function nest(flat: unknown[], dims: readonly number[]): unknown[] {
  if (dims.length <= 1) return flat;
  const [, ...inner] = dims;
  const size = inner.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < flat.length; i += size) out.push(nest(flat.slice(i, i + size), inner));
  return out;
}
