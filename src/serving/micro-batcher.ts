// Dynamic batching: requests that arrive while a model is busy run together as one onnxruntime call.
// A tiny model costs ~35 µs per call but ~75 µs for 32 rows, so under concurrent load this cuts the
// model's share of each request to a few µs. An idle model runs a request at once: no added latency.

import type { ModelSignature } from "./model-session.ts";
import type { OutputTensor, Outputs } from "./model-outputs.ts";
import type { TensorData, TensorValue } from "./tensor-types.ts";

/** Rows above this are not merged further, so one batch's latency stays bounded. */
export const MAX_BATCH_ROWS = 2048;

/** One request's tensors, by input name; every input has the request's rows along its first dimension. */
export type Feeds = Record<string, TensorValue>;
type Runner = (feeds: Feeds) => Promise<Outputs>;
type Waiting = { feeds: Feeds; rows: number; key: string; resolve: (o: Outputs) => void; reject: (e: unknown) => void };

/**
 * True when requests of this model can share a run: every input and every output batched on their first dimension
 * (dynamic), which is how converted scikit-learn models look, the Pipelines with one input per column included.
 */
export function isBatchable(signature: ModelSignature): boolean {
  return (
    signature.inputs.length > 0 &&
    signature.inputs.every((i) => i.shape[0] === null) &&
    signature.outputs.every((o) => o.type !== "non-tensor" && o.shape[0] === null)
  );
}

/** Queues runs of one model and executes what accumulated while the previous run was busy as one run. */
export class MicroBatcher {
  private waiting: Waiting[] = [];
  private busy = false;
  /** Model runs made and requests answered, for tests and metrics. */
  readonly stats = { runs: 0, requests: 0 };

  constructor(private readonly runModel: Runner) {}

  private runOne(feeds: Feeds): Promise<Outputs> {
    this.stats.runs++;
    return this.runModel(feeds);
  }

  /**
   * Run `feeds` (the same rows along the first dimension of every input), alone or merged with others; resolves with
   * this request's rows of every output.
   */
  run(feeds: Feeds): Promise<Outputs> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ feeds, rows: rowsOf(feeds), key: shapeKey(feeds), resolve, reject });
      if (!this.busy) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.waiting.length) {
        const batch = this.take();
        this.stats.requests += batch.length;
        if (batch.length === 1) {
          const only = batch[0]!;
          await this.runOne(only.feeds).then(only.resolve, only.reject);
        } else {
          await this.runMerged(batch);
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** The oldest waiting request plus every later one with the same inputs, types and row shapes, up to MAX_BATCH_ROWS rows. */
  private take(): Waiting[] {
    const key = this.waiting[0]!.key;
    const batch: Waiting[] = [];
    const rest: Waiting[] = [];
    let rows = 0;
    for (const w of this.waiting) {
      if (batch.length === 0 || (w.key === key && rows + w.rows <= MAX_BATCH_ROWS)) {
        batch.push(w);
        rows += w.rows;
      } else rest.push(w);
    }
    this.waiting = rest;
    return batch;
  }

  private async runMerged(batch: Waiting[]): Promise<void> {
    const counts = batch.map((w) => w.rows);
    const total = counts.reduce((a, b) => a + b, 0);
    const merged: Feeds = {};
    for (const name in batch[0]!.feeds) {
      const first = batch[0]!.feeds[name]!;
      merged[name] = { type: first.type, data: concat(batch.map((w) => w.feeds[name]!.data)), dims: [total, ...first.dims.slice(1)] };
    }
    let outputs: Outputs;
    try {
      outputs = await this.runOne(merged);
    } catch {
      // One request's rows may be what the model refuses: run each alone so the error reaches only its sender.
      for (const w of batch) await this.runOne(w.feeds).then(w.resolve, w.reject);
      return;
    }
    if (!Object.values(outputs).every((t) => t.dims[0] === total)) {
      for (const w of batch) await this.runOne(w.feeds).then(w.resolve, w.reject);
      return;
    }
    let start = 0;
    for (let i = 0; i < batch.length; i++) {
      const n = counts[i]!;
      const part: Outputs = {};
      for (const [name, t] of Object.entries(outputs)) part[name] = sliceRows(t, start, n, total);
      batch[i]!.resolve(part);
      start += n;
    }
  }
}

// Requests merge only when they feed the same inputs with the same types and the same shape past the rows.
function shapeKey(feeds: Feeds): string {
  let key = "";
  for (const name in feeds) {
    const t = feeds[name]!;
    key += `${name}:${t.type}:${t.dims.slice(1).join("x")};`;
  }
  return key;
}

function rowsOf(feeds: Feeds): number {
  for (const name in feeds) return feeds[name]!.dims[0] ?? 0;
  return 0;
}

function concat(parts: TensorData[]): TensorData {
  const first = parts[0]!;
  if (Array.isArray(first)) return (parts as string[][]).flat();
  const size = parts.reduce((a, p) => a + (p as ArrayLike<unknown>).length, 0);
  const out = new (first.constructor as new (n: number) => Exclude<TensorData, string[]>)(size);
  let offset = 0;
  for (const p of parts as Exclude<TensorData, string[]>[]) {
    (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(p, offset);
    offset += p.length;
  }
  return out;
}

function sliceRows(t: OutputTensor, start: number, n: number, total: number): OutputTensor {
  const data = t.data as { slice(a: number, b: number): unknown; length: number };
  const per = data.length / total;
  return { type: t.type, dims: [n, ...t.dims.slice(1)], data: data.slice(start * per, (start + n) * per) };
}

/** A batcher per loaded model, made on first use. */
const batchers = new WeakMap<object, MicroBatcher>();

/** The batcher of `model`, running merged feeds through `runModel`. */
export function batcherFor(model: object, runModel: Runner): MicroBatcher {
  let b = batchers.get(model);
  if (!b) batchers.set(model, (b = new MicroBatcher(runModel)));
  return b;
}
