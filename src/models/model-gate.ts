// Which deploy gate a model's versions meet: the metric and threshold of the repository that made its newest version
// (deploy_threshold, else MIN_ACCURACY_THRESHOLD), as the deploy phase applies them.
import { DEFAULT_DEPLOY_METRIC } from "../repos/repo-store.ts";

/** The gate: a version deploys when `metric` ≥ `threshold`. */
export type DeployGate = { metric: string; threshold: number };

/**
 * The gate of the newest version with a known repository (versions in any order); with none (versions pushed by
 * hand, or a removed repository), the default metric and `minThreshold`.
 */
export function modelGate(
  versions: { version: number; lineage: { repo_id: number | null } }[],
  repoOf: (id: number) => { deploy_metric: string; deploy_threshold: number | null } | undefined,
  minThreshold: number,
): DeployGate {
  const newest = [...versions].sort((a, b) => b.version - a.version);
  for (const v of newest) {
    const repo = v.lineage.repo_id === null ? undefined : repoOf(v.lineage.repo_id);
    if (repo) return { metric: repo.deploy_metric, threshold: repo.deploy_threshold ?? minThreshold };
  }
  return { metric: DEFAULT_DEPLOY_METRIC, threshold: minThreshold };
}
