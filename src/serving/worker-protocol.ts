// Messages between the serving thread and a model worker (model-worker.ts), and how errors and tensors cross.
import { AppError, UnprocessableError, type ErrorDetails } from "../lib/errors.ts";
import type { OutputTensor, Outputs } from "./model-outputs.ts";
import { ModelLoadError, type ModelSignature, type RowPredictions } from "./model-session.ts";
import type { TensorValue } from "./tensor-types.ts";

/** What the serving thread asks of a worker; `id` pairs each request with its reply. */
export type WorkerRequest =
  | { id: number; op: "load"; path: string }
  | { id: number; op: "run"; feeds: Record<string, TensorValue> }
  | { id: number; op: "predictRows"; rows: number[][] }
  | { id: number; op: "release" };

/** An error as it crosses threads: enough to rebuild the typed error (status, details) on the other side. */
export type WireError = { name: string; message: string; status?: number; details?: ErrorDetails };

/** A worker's answer to the request with the same id. */
export type WorkerReply =
  | { id: number; ok: true; signature: ModelSignature }
  | { id: number; ok: true; outputs: Outputs }
  | { id: number; ok: true; rows: RowPredictions }
  | { id: number; ok: true }
  | { id: number; ok: false; error: WireError };

/** `e` as a WireError: typed errors keep their status and details; anything else keeps its message. */
export function toWire(e: unknown): WireError {
  if (e instanceof AppError) return { name: e.name, message: e.message, status: e.status, details: e.details };
  return { name: "Error", message: e instanceof Error ? e.message : String(e) };
}

/** The error a WireError stands for: ModelLoadError, UnprocessableError (422) with its details, or a plain Error. */
export function fromWire(w: WireError): Error {
  if (w.name === "ModelLoadError") return new ModelLoadError(w.message, String(w.details?.path ?? ""));
  // Only 422s come out of a model (bad rows, an unloadable file); other statuses never cross, but keep them if they do.
  if (w.status === 422) return new UnprocessableError(w.message, w.details);
  if (w.status !== undefined) return new AppError(w.status as AppError["status"], w.message, w.details);
  return new Error(w.message);
}

/**
 * Plain copies of `tensors` ready to post, plus the buffers to transfer rather than copy: an array that owns its whole
 * buffer is moved (and left detached here); a view into a larger buffer is copied first, so only its bytes travel.
 */
export function forPosting<T extends TensorValue | OutputTensor>(
  tensors: Record<string, T>,
): { tensors: Record<string, TensorValue>; transfer: ArrayBuffer[] } {
  const out: Record<string, TensorValue> = {};
  const transfer: ArrayBuffer[] = [];
  for (const name in tensors) {
    const t = tensors[name]!;
    let data = t.data as TensorValue["data"];
    if (ArrayBuffer.isView(data)) {
      const owns = data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      if (!owns) data = data.slice() as typeof data;
      transfer.push(data.buffer as ArrayBuffer);
    }
    out[name] = { type: t.type as TensorValue["type"], data, dims: [...t.dims] };
  }
  return { tensors: out, transfer };
}
