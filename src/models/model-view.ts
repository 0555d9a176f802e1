// Models, versions and deployments as the API answers them and the pages show them: built once, here.
import { NotFoundError } from "../lib/errors.ts";
import type { DeploymentRow, ModelStore, ModelVersionRow } from "./model-store.ts";
import { readSampleRows } from "./sample-rows.ts";

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
    /** The first rows the converter's parity check ran, as a predict request takes them; null for ONNX pushed as such. */
    sample_rows: readSampleRows(v.sampleRows),
    created_at: v.createdAt,
  };
}

/** A deployment history entry as API JSON. */
export function deploymentJson(d: DeploymentRow) {
  return { version: d.version, reason: d.reason, pipeline_id: d.pipelineId, actor: d.actor, at: d.at };
}

/** What the model read models need: the stored versions, what serves now, and what Rollback would deploy. */
export type ModelViewDeps = {
  store: ModelStore;
  servingVersion(name: string): number | null;
  rollbackTarget(name: string): number | null;
};

/** One model as the API answers it and its page shows it. Throws NotFoundError for a model with no version. */
export function modelDetail(deps: ModelViewDeps, name: string) {
  const { store } = deps;
  const versions = store.versions(name);
  if (!versions.length) throw new NotFoundError(`model "${name}" does not exist`);
  const serving = deps.servingVersion(name);
  return {
    name,
    owner: store.owners.ownerOf(name),
    serving_version: serving,
    deployed_version: store.deployedVersion(name),
    /** The version Rollback would deploy; null when there is none. */
    rollback_to: deps.rollbackTarget(name),
    versions: versions.map((v) => versionJson(v, serving)),
    deployments: store.history(name).map(deploymentJson),
  };
}
export type ModelDetail = ReturnType<typeof modelDetail>;

/** Every model, as the API lists them and the models page shows them. */
export function modelSummaries(deps: Pick<ModelViewDeps, "store" | "servingVersion">) {
  const { store } = deps;
  return store.modelNames().map((name) => {
    const versions = store.versions(name);
    const serving = deps.servingVersion(name);
    const last = store.history(name, 1)[0];
    return {
      name,
      serving_version: serving,
      /** When the serving version was deployed, if the newest deployment is it. */
      serving_since: serving !== null && last?.version === serving ? last.at : null,
      latest_version: versions[0]?.version ?? null,
      versions: versions.length,
    };
  });
}
export type ModelSummary = ReturnType<typeof modelSummaries>[number];
