// Phase 2: the notebook contract, checked without running anything.
import { readFileSync } from "node:fs";
import { ModelOwnedError } from "../models/model-owners.ts";
import { cellOutlineOf } from "../notebooks/cell-numbers.ts";
import { writeCellOutline } from "../notebooks/cell-outline-file.ts";
import { checkContract, parseNotebook } from "./notebook-contract.ts";
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";

/**
 * Check JSON, tags, MODEL_NAME and VERSION, and that the model name is not another repository's; records the model
 * name on the pipeline and keeps the cells' outline in the work dir (cell-outline-file.ts). Throws PhaseError with the reason (e.g. "model wine-classifier belongs to acme/models").
 */
export function validatePhase(ctx: PipelineContext): void {
  const bytes = readFileSync(ctx.notebookFile!);
  const result = checkContract(bytes);
  if (!result.ok) throw new PhaseError(result.reason);
  // Kept for the log grouped by cell, which numbers papermill's cells as the pushed notebook does.
  writeCellOutline(ctx.workDir, cellOutlineOf(parseNotebook(bytes)!));
  ctx.modelName = result.modelName;
  ctx.notebookVersion = result.version;
  ctx.services.store.update(ctx.pipeline.id, { modelName: result.modelName });
  // Only checked here, not claimed: the name is claimed when a version is stored (register), so a notebook that
  // fails to run claims nothing. Two repositories racing past this check meet at register's atomic claim.
  try {
    ctx.services.models.owners.check(result.modelName, ctx.repo.full_name);
  } catch (e) {
    if (e instanceof ModelOwnedError) throw new PhaseError(e.message);
    throw e;
  }
  ctx.log(`notebook contract ok: MODEL_NAME=${result.modelName} VERSION=${result.version}`);
}
