// `mlops check-model <file>`: proves a model file loads and answers, the same warm-up a deploy does.
import { planOutputs, readPredictions } from "../serving/model-outputs.ts";
import { openModelSession, type TensorSpec } from "../serving/model-session.ts";
import { runFeeds, zeroFeeds } from "../serving/run-feeds.ts";

/**
 * Load the ONNX model at `path`, print its signature, predict one row of zeros (empty text for string inputs, as a
 * deploy's warm-up does) and print the answer as JSON. Returns the exit code: 0 when it loads and runs, 1 otherwise
 * (the reason goes to stderr). Never throws.
 */
export async function checkModel(path: string): Promise<number> {
  const started = performance.now();
  let model;
  try {
    model = await openModelSession(path);
  } catch (e) {
    console.error(`mlops: ${message(e)}`);
    return 1;
  }
  try {
    console.log(`loaded ${path} in ${Math.round(performance.now() - started)} ms`);
    console.log(`inputs:\n${model.signature.inputs.map(describe).join("\n")}`);
    console.log(`outputs:\n${model.signature.outputs.map(describe).join("\n")}`);
    // Every input, whatever its type: a model with one input per column (text and numbers) is checked like any other.
    const answer = readPredictions(planOutputs(model.signature), await runFeeds(model, zeroFeeds(model.signature)));
    console.log(`one row of zeros (empty text for string inputs): ${JSON.stringify(answer)}`);
    return 0;
  } catch (e) {
    console.error(`mlops: the model loaded but could not predict a row of zeros: ${message(e)}`);
    return 1;
  } finally {
    await model.release();
  }
}

function describe(t: TensorSpec): string {
  return `  ${t.name}: ${t.type} [${t.shape.map((d) => d ?? "?").join(", ")}]`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
