// Phase 1: the pushed commit's tree into the pipeline's work dir.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { containedFileSize, UncontainedFileError } from "../lib/contained-file.ts";
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";

/** Check out the commit into `<work>/repo` and locate the notebook. Throws PhaseError when the notebook is not in the commit. */
export async function downloadPhase(ctx: PipelineContext): Promise<void> {
  const { pipeline, repo, services } = ctx;
  const dest = join(ctx.workDir, "repo");
  mkdirSync(dest, { recursive: true });
  ctx.log(`fetching ${repo.full_name}@${pipeline.commitSha.slice(0, 12)}`);
  await services.checkout(repo, pipeline.commitSha, dest);
  const file = join(dest, pipeline.notebookPath);
  if (!existsSync(file)) throw new PhaseError(`${pipeline.notebookPath} is not in commit ${pipeline.commitSha.slice(0, 12)}`);
  // The server reads the notebook itself (validate): a symlink in the commit must not point it at a file of the host.
  try {
    containedFileSize(file, dest, services.config.notebook.maxFileMb * 1024 * 1024, pipeline.notebookPath);
  } catch (e) {
    if (e instanceof UncontainedFileError) throw new PhaseError(e.message);
    throw e;
  }
  ctx.notebookFile = file;
}
