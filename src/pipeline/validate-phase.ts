// Phase 2: the notebook contract, checked without running anything.
import { readFileSync } from "node:fs";
import { checkContract } from "./notebook-contract.ts";
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";

/** Check JSON, tags, MODEL_NAME and VERSION; records the model name on the pipeline. Throws PhaseError with the reason. */
export function validatePhase(ctx: PipelineContext): void {
  const result = checkContract(readFileSync(ctx.notebookFile!));
  if (!result.ok) throw new PhaseError(result.reason);
  ctx.modelName = result.modelName;
  ctx.notebookVersion = result.version;
  ctx.services.store.update(ctx.pipeline.id, { modelName: result.modelName });
  ctx.log(`notebook contract ok: MODEL_NAME=${result.modelName} VERSION=${result.version}`);
}
