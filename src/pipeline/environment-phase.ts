// Phase 3: the notebook's environment. A requirements.txt beside the notebook (else at the repository root) makes
// the runner prepare an environment of its own (built once, reused after); without one the phase is skipped and the
// bundled runtime runs the notebook, as before.
import { join } from "node:path";
import { findRequirements, RequirementsError } from "../environments/requirements-file.ts";
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";
import { FailureKind } from "./pipeline-failure.ts";

/** Why the phase is skipped for a notebook without requirements (shown on the phase). */
export const NO_REQUIREMENTS = "no requirements.txt beside the notebook or at the repository root: the bundled runtime runs it";

/** Prepare the notebook's environment; returns the reason when skipped; throws PhaseError (kind `environment`) when it cannot be made. */
export async function environmentPhase(ctx: PipelineContext): Promise<string | undefined> {
  const checkout = join(ctx.workDir, "repo");
  let requirements: ReturnType<typeof findRequirements>;
  try {
    requirements = findRequirements(checkout, ctx.notebookFile!);
  } catch (e) {
    if (e instanceof RequirementsError) throw new PhaseError(e.message, { kind: FailureKind.environment });
    throw e;
  }
  if (!requirements) {
    ctx.log(NO_REQUIREMENTS);
    return NO_REQUIREMENTS;
  }
  try {
    ctx.environment = await ctx.services.runner.prepare(requirements, ctx.log, ctx.signal);
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    const reason = e instanceof Error ? e.message : String(e);
    throw new PhaseError(`the environment from ${requirements.path} could not be built: ${reason}`, { kind: FailureKind.environment });
  }
  return undefined;
}
