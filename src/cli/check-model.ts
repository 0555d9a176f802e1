// `mlops check-model <file>`: proves a model file loads and answers, the same warm-up a deploy does.
import { featureWidth } from "../serving/model-registry.ts";
import { openModelSession, type TensorSpec } from "../serving/model-session.ts";

/**
 * Load the ONNX model at `path`, print its signature, predict one row of zeros and print the answer as JSON.
 * Returns the exit code: 0 when it loads and runs, 1 otherwise (the reason goes to stderr). Never throws.
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
    const row = new Array<number>(featureWidth(model)).fill(0);
    const answer = await model.predictRows([row]);
    console.log(`zero row ${JSON.stringify(row)}: ${JSON.stringify(answer)}`);
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
