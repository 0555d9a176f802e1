// Where a pipeline's results land in its work dir: the notebook writes them there when it runs on this machine, and
// the artifact upload (artifact-upload.ts) puts them there when it ran elsewhere; register reads them from there.
import { join } from "node:path";
import type { RunSpec } from "../runner/runner.ts";

/** The model (MODEL_OUTPUT_PATH), metrics (METRICS_OUTPUT_PATH) and executed notebook paths of the work dir `workDir`. */
export function notebookOutputs(workDir: string): RunSpec["outputs"] {
  const outDir = join(workDir, "output");
  return { model: join(outDir, "model"), metrics: join(outDir, "metrics.json"), executed: join(workDir, "executed.ipynb") };
}
