// One ONNX model loaded into onnxruntime: its signature, raw runs, and row-wise predictions.
import { statSync } from "node:fs";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import { errorLine, UnprocessableError } from "../lib/errors.ts";
import { planOutputs, type OutputPlan, type Outputs } from "./model-outputs.ts";
import { loadOnnxRuntime } from "./onnx-runtime.ts";
import type { TensorValue } from "./tensor-types.ts";

import type { ModelSignature, TensorSpec } from "./model-signature.ts";

export type { ModelSignature, TensorSpec } from "./model-signature.ts";

/** predictRows' answer: one prediction per row, and class probabilities (one array per row) when the model outputs them. */
export type RowPredictions = { predictions: (number | string)[]; probabilities?: number[][] };

/** A model file that cannot be served: missing, unreadable, not ONNX, or corrupt. */
export class ModelLoadError extends UnprocessableError {
  constructor(message: string, path: string) {
    super(message, { path });
  }
}

/** A loaded model. Safe to share between concurrent requests; release() once nobody uses it. */
export interface ModelSession {
  readonly path: string;
  readonly signature: ModelSignature;
  /**
   * Run with tensors keyed by input name; returns every output. Rejects with onnxruntime's error on bad feeds.
   * The feeds' typed arrays may be transferred to another thread (left detached): do not read them afterwards.
   */
  run(feeds: Record<string, TensorValue>): Promise<Outputs>;
  /**
   * Predict rows of numbers for a model with one 2-D float input (the scikit-learn shape).
   * Throws UnprocessableError (422) for no rows, a row of the wrong width or a non-finite value, or a model
   * whose inputs or outputs do not have that shape.
   */
  predictRows(rows: number[][]): Promise<RowPredictions>;
  /** Free the native session. Idempotent; run/predictRows must not be called afterwards. */
  release(): Promise<void>;
}

// One intra-op thread: measured here (2 cores) a 1-row run took 21 µs against 24 µs with the default pool,
// for a logistic regression and a 100-tree forest alike; only 1000-row batches of the forest gained (1.3 ms
// against 2.1 ms). The default pool also gives every session its own spinning threads, which would compete
// with the request-handling thread once several models serve.
const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  executionProviders: ["cpu"],
  graphOptimizationLevel: "all",
  executionMode: "sequential",
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
};

/**
 * Load the ONNX file at `path` in this thread. Throws ModelLoadError (422) naming the path when it is missing or not a
 * usable ONNX model. onnxruntime loads synchronously: a big model holds this thread for as long as it takes, so the
 * server loads through openWorkerSession (worker-session.ts), which calls this inside a worker.
 */
export async function openModelSession(path: string): Promise<ModelSession> {
  if (!isFile(path)) throw new ModelLoadError(`could not load ONNX model: no file at ${path}`, path);
  const ort = await loadOnnxRuntime();
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, SESSION_OPTIONS);
  } catch (e) {
    throw new ModelLoadError(`could not load ONNX model: ${path}: ${firstLine(e)}`, path);
  }
  const signature: ModelSignature = {
    inputs: session.inputMetadata.map(toSpec),
    outputs: session.outputMetadata.map(toSpec),
  };
  // Decided once here so that a model predictRows cannot handle fails on every call with the same reason.
  const plan = planRows(signature);
  let released = false;

  return {
    path,
    signature,
    run(feeds) {
      const tensors: Record<string, Tensor> = {};
      for (const name in feeds) {
        const f = feeds[name]!;
        tensors[name] = new ort.Tensor(f.type, f.data as Float32Array, f.dims);
      }
      return session.run(tensors);
    },
    async predictRows(rows) {
      if (typeof plan === "string") throw new UnprocessableError(plan);
      const input = buildInput(ort.Tensor, plan, rows);
      const outputs = await session.run({ [plan.input.name]: input }, plan.fetch);
      return readRows(plan, outputs, rows.length);
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}

// How predictRows feeds and reads a model; a string is why it cannot.
type RowPlan = { input: TensorSpec; width: number | null; prediction: string; probabilities?: string; fetch: string[] };

function planRows(signature: ModelSignature): RowPlan | string {
  const [input, ...otherInputs] = signature.inputs;
  if (!input || otherInputs.length > 0 || !["float32", "float64"].includes(input.type) || input.shape.length !== 2) {
    const got = signature.inputs.map((i) => `${i.name}: ${i.type}[${i.shape.map((d) => d ?? "?").join(", ")}]`).join("; ");
    return `this model does not take rows of numbers (one 2-D float input); its inputs are ${got || "none"}`;
  }
  // Which outputs hold labels and probabilities is decided in one place, shared with the serving routes.
  let outputs: OutputPlan;
  try {
    outputs = planOutputs(signature);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const label = signature.outputs.find((o) => o.name === outputs.prediction)!;
  const perRow = label.shape[1];
  if (label.shape.length > 2 || (typeof perRow === "number" && perRow !== 1)) {
    return `this model's output ${label.name} has ${perRow ?? "several"} values per row; rows can only be predicted with one`;
  }
  const fetch = outputs.probabilities ? [label.name, outputs.probabilities] : [label.name];
  return { input, width: input.shape[1] ?? null, prediction: label.name, probabilities: outputs.probabilities, fetch };
}

function readRows(plan: RowPlan, outputs: InferenceSession.ReturnType, n: number): RowPredictions {
  const data = (outputs[plan.prediction] as Tensor).data;
  // The model's fault, not the request's: a plain Error (500).
  if (data.length !== n) throw new Error(`the model returned ${data.length} values of ${plan.prediction} for ${n} rows`);
  const predictions: (number | string)[] =
    data instanceof BigInt64Array || data instanceof BigUint64Array ? Array.from(data, Number) : Array.from(data as ArrayLike<number | string>);
  if (!plan.probabilities) return { predictions };
  const flat = (outputs[plan.probabilities] as Tensor).data as Float32Array | Float64Array;
  const classes = flat.length / n;
  const probabilities = Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * classes, (i + 1) * classes)));
  return { predictions, probabilities };
}

function buildInput(TensorClass: typeof Tensor, plan: RowPlan, rows: number[][]): Tensor {
  if (rows.length === 0) throw new UnprocessableError("no rows to predict", { expected_features: plan.width });
  // A dynamic feature dimension takes its width from the first row; the others must match it.
  const width = plan.width ?? rows[0]?.length ?? 0;
  const data = plan.input.type === "float64" ? new Float64Array(rows.length * width) : new Float32Array(rows.length * width);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (!Array.isArray(row) || row.length !== width) {
      throw new UnprocessableError(`row ${i} has ${Array.isArray(row) ? row.length : "no"} features; the model expects ${width}`, {
        expected_features: width,
        row: i,
      });
    }
    for (let j = 0; j < width; j++) {
      const v = row[j];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new UnprocessableError(`row ${i}, feature ${j} is not a finite number`, { row: i, feature: j });
      }
      data[i * width + j] = v;
    }
  }
  return plan.input.type === "float64"
    ? new TensorClass("float64", data as Float64Array, [rows.length, width])
    : new TensorClass("float32", data as Float32Array, [rows.length, width]);
}

function toSpec(m: InferenceSession.ValueMetadata): TensorSpec {
  if (!m.isTensor) return { name: m.name, type: "non-tensor", shape: [] };
  // Symbolic dimensions ("N", "batch", or "") are sized per request.
  return { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === "number" ? d : null)) };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function firstLine(e: unknown): string {
  const text = errorLine(e);
  // onnxruntime repeats the path we already name: "Load model from <path> failed:Protobuf parsing failed."
  return text.replace(/^Load model from .* failed:\s*/, "");
}
