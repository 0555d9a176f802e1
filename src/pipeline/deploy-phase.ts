// Phase 6: the deploy gate (metric ≥ threshold, AUTO_DEPLOY_ON_SUCCESS), then load, warm and swap.
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";
import { FailureKind } from "./pipeline-failure.ts";

export type GateDecision = { deploy: true } | { deploy: false; reason: string; rejected: boolean };

export type GatePolicy = { metric: string; threshold: number; autoDeploy: boolean };

/** The gate a repository's versions pass: its metric and threshold (MIN_ACCURACY_THRESHOLD when it sets none), and AUTO_DEPLOY_ON_SUCCESS. */
export function gatePolicy(
  repo: { deploy_metric: string; deploy_threshold: number | null },
  config: { minAccuracyThreshold: number; autoDeployOnSuccess: boolean },
): GatePolicy {
  return { metric: repo.deploy_metric, threshold: repo.deploy_threshold ?? config.minAccuracyThreshold, autoDeploy: config.autoDeployOnSuccess };
}

/** Decide whether a registered version deploys; `rejected` marks a version that failed the metric gate. */
export function deployGate(metrics: Record<string, number>, policy: GatePolicy): GateDecision {
  const value = metrics[policy.metric];
  if (value === undefined)
    return {
      deploy: false,
      rejected: true,
      reason: `metric "${policy.metric}" was not reported, so the deploy threshold ${policy.threshold} cannot be checked`,
    };
  if (value < policy.threshold) return { deploy: false, rejected: true, reason: `${policy.metric} ${value} is below the deploy threshold ${policy.threshold}` };
  if (!policy.autoDeploy) return { deploy: false, rejected: false, reason: "AUTO_DEPLOY_ON_SUCCESS is off: deploy it from the models page or the API" };
  return { deploy: true };
}

/**
 * Gate and deploy. Returns the reason when the version was not deployed (the pipeline still succeeds);
 * throws PhaseError when deploying failed (what served before keeps serving).
 */
export async function deployPhase(ctx: PipelineContext): Promise<string | undefined> {
  const { services, registered, repo } = ctx;
  const modelName = ctx.modelName!;
  const decision = deployGate(registered!.metrics, gatePolicy(repo, services.config));
  if (!decision.deploy) {
    if (decision.rejected) services.models.setStatus(modelName, registered!.version, "rejected", decision.reason);
    ctx.log(`not deployed: ${decision.reason}`);
    return decision.reason;
  }
  try {
    await services.deployer.deploy(modelName, registered!.version, { reason: "pipeline", pipelineId: ctx.pipeline.id });
  } catch (e) {
    const reason = `could not deploy version ${registered!.version}: ${e instanceof Error ? e.message : String(e)}`;
    services.models.setStatus(modelName, registered!.version, "rejected", reason);
    throw new PhaseError(reason, { kind: FailureKind.internal });
  }
  ctx.log(`deployed ${modelName} version ${registered!.version}: now serving at /models/${modelName}/predict`);
  return undefined;
}
