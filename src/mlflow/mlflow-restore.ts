// A fresh node with MLflow tracking takes its deployed models from MLflow's registry: for every registered model
// whose "deployed" alias points at a version mlops made and signed (model-signature.ts), the model file is downloaded
// from the version's run, checked against the signed sha256, stored under mlops' own version number, recorded as
// deployed (reason "restore"), then loaded like any deployment. Anything else under the alias (a version a notebook
// registered, a forged or missing signature, a file that is not the one signed) is refused with a warning.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorLine } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { ModelStore } from "../models/model-store.ts";
import type { MlflowClient } from "./mlflow-client.ts";
import type { VersionSigner } from "./model-signature.ts";

/** The MLflow registry alias that follows the version mlops serves. */
export const DEPLOYED_ALIAS = "deployed";
/** Where a model version made by mlops keeps its mlops version number, and where its run keeps the ONNX file. */
export const VERSION_TAG = "mlops.version";
export const MODEL_ARTIFACT = "model/model.onnx";

export type RestoreDeps = { client: MlflowClient; models: ModelStore; dataDir: string; signer: VersionSigner; logger?: Logger };

/**
 * Store and mark deployed, for every registered model, the version its "deployed" alias points at. Models already
 * stored here are left alone. Never throws: MLflow unreachable or a model that cannot be fetched is logged and skipped.
 * Returns "name@version" of each model restored.
 */
export async function restoreFromMlflow(deps: RestoreDeps): Promise<string[]> {
  const { client, models, logger } = deps;
  let names: string[];
  try {
    names = await client.registeredModelNames();
  } catch (e) {
    logger?.warn({ error: errorLine(e) }, "could not read MLflow's model registry; no deployed model restored from it");
    return [];
  }
  const restored: string[] = [];
  for (const name of names) {
    if (models.versions(name).length) continue;
    try {
      const mv = await client.versionByAlias(name, DEPLOYED_ALIAS);
      if (!mv) continue; // not deployed
      const signed = deps.signer.verifiedTags(name, mv.tags, VERSION_TAG);
      if (!signed) {
        logger?.warn(
          { model: name, mlflow_version: mv.version },
          `not restored from MLflow: model ${name}, registered version ${mv.version} under the "${DEPLOYED_ALIAS}" alias, carries no valid mlops signature (made elsewhere, or signed with another GITHUB_WEBHOOK_SECRET)`,
        );
        continue;
      }
      const version = signed.version;
      const run = await client.getRun(mv.runId);
      const bytes = await client.downloadArtifact(run, MODEL_ARTIFACT);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      if (sha256 !== signed.sha256) {
        logger?.warn(
          { model: name, mlflow_version: mv.version, version },
          `not restored from MLflow: the model file of ${name} version ${version} (registered version ${mv.version}) is not the one its signature covers`,
        );
        continue;
      }
      const dir = join(deps.dataDir, "models", name, String(version));
      models.register(
        {
          modelName: name,
          status: "registered",
          path: join(dir, "model.onnx"),
          sha256,
          format: "onnx",
          metrics: JSON.stringify(run.metrics),
          commitSha: run.params.commit ?? null,
          notebookPath: run.params.notebook_path ?? null,
        },
        () => {
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, "model.onnx"), bytes);
          return join(dir, "model.onnx");
        },
        { version },
      );
      models.recordDeployment({ modelName: name, version, reason: "restore", actor: `mlflow ${client.shownUrl} (registered version ${mv.version})` });
      restored.push(`${name}@${version}`);
    } catch (e) {
      logger?.error({ model: name, error: errorLine(e) }, "could not restore a deployed model from MLflow");
    }
  }
  return restored;
}
