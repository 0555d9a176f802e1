// Decoded tensors → one model run, micro-batched where the model allows it.
import { errorLine, UnprocessableError } from "../lib/errors.ts";
import type { ModelSignature } from "./model-session.ts";
import type { Outputs } from "./model-outputs.ts";
import { batcherFor, isBatchable } from "./micro-batcher.ts";
import { allocate, isSupportedType, type TensorValue } from "./tensor-types.ts";

/** What a run needs of a loaded model (ModelSession satisfies it). */
export type Runnable = { readonly signature: ModelSignature; run(feeds: Record<string, TensorValue>): Promise<Outputs> };

/**
 * Run `model` on `feeds` (one decoded tensor per model input). onnxruntime's own refusals (e.g. inputs with
 * different batch sizes) become UnprocessableError (422) with its first line: the request, not the server, is at fault.
 */
export async function runFeeds(model: Runnable, feeds: Record<string, TensorValue>): Promise<Outputs> {
  try {
    if (!isBatchable(model.signature)) return await model.run(feeds);
    return await batcherFor(model, (merged) => model.run(merged)).run(feeds);
  } catch (e) {
    throw new UnprocessableError(`the model could not run on this input: ${errorLine(e)}`);
  }
}

/** One row of zeros (empty strings, false) for every input: a warm-up run that any model can take. Throws for types it cannot build. */
export function zeroFeeds(signature: ModelSignature): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  for (const input of signature.inputs) {
    if (!isSupportedType(input.type)) throw new Error(`input ${input.name} has type ${input.type}, which this server cannot feed`);
    const dims = input.shape.map((d) => d ?? 1);
    feeds[input.name] = {
      type: input.type,
      data: allocate(
        input.type,
        dims.reduce((a, b) => a * b, 1),
      ),
      dims,
    };
  }
  return feeds;
}
