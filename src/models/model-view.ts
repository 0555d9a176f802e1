// The JSON shape of models, versions and deployments in the API.
import type { DeploymentRow, ModelVersionRow } from "./model-store.ts";

/** A stored version as API JSON. */
export function versionJson(v: ModelVersionRow, servingVersion: number | null) {
  return {
    version: v.version,
    status: v.version === servingVersion ? "serving" : v.status,
    reason: v.reason,
    format: v.format,
    sha256: v.sha256,
    metrics: JSON.parse(v.metrics) as Record<string, number>,
    signature: v.signature ? (JSON.parse(v.signature) as unknown) : null,
    lineage: { repo_id: v.repoId, commit: v.commitSha, notebook_path: v.notebookPath, pipeline_id: v.pipelineId, notebook_version: v.notebookVersion },
    created_at: v.createdAt,
  };
}

/** A deployment history entry as API JSON. */
export function deploymentJson(d: DeploymentRow) {
  return { version: d.version, reason: d.reason, pipeline_id: d.pipelineId, actor: d.actor, at: d.at };
}
