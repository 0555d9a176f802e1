// Restoring deployed models from MLflow on a fresh node, against a real MLflow server and a real SQLite file: only a
// version this deployment signed, whose file is the one signed, is restored; whatever else a notebook that reaches
// MLflow puts under the "deployed" alias is refused with a warning, and nothing is stored or served for it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { migrate, openDatabase } from "../db/connection.ts";
import { ModelStore } from "../models/model-store.ts";
import { PipelineStore } from "../pipeline/pipeline-store.ts";
import { JobStore } from "../queue/job-store.ts";
import { startMlflowServer, type MlflowServer } from "../testing/mlflow-server.ts";
import { MlflowClient } from "./mlflow-client.ts";
import { DEPLOYED_ALIAS, MODEL_ARTIFACT, restoreFromMlflow, VERSION_TAG } from "./mlflow-restore.ts";
import { MlflowSyncStore } from "./mlflow-sync-store.ts";
import { MlflowTracking } from "./mlflow-tracking.ts";
import { SHA256_TAG, SIGNATURE_TAG, VersionSigner } from "./model-signature.ts";

const SECRET = "the-webhook-secret-of-this-deployment";
const signer = new VersionSigner(SECRET);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let mlflow: MlflowServer;
let client: MlflowClient;
let experimentId: string;

beforeAll(async () => {
  mlflow = await startMlflowServer();
  client = new MlflowClient(mlflow.url);
  experimentId = await client.getOrCreateExperiment("restore-test");
}, 60_000);
afterAll(async () => {
  await mlflow?.stop();
});

/** A registered MLflow version of `name` whose run holds `bytes` as the model, with `tags`; returns its MLflow version. */
async function mlflowVersion(name: string, bytes: Uint8Array, tags: Record<string, string>): Promise<string> {
  const run = await client.createRun(experimentId);
  await client.uploadArtifact(run, MODEL_ARTIFACT, bytes);
  await client.ensureRegisteredModel(name);
  return (await client.createModelVersion(name, { source: `${run.artifactUri}/model`, runId: run.runId, tags })).version;
}

/** The tags the sync writes for mlops version `version` of `name` holding `bytes`, signed by `by`. */
const signedTags = (name: string, version: number, bytes: Uint8Array, by = signer) => ({
  [VERSION_TAG]: String(version),
  [SHA256_TAG]: sha(bytes),
  [SIGNATURE_TAG]: by.sign({ name, version, sha256: sha(bytes) }),
});

/** A fresh node's store, and what its restore logged at warn level. */
function freshNode() {
  const dir = mkdtempSync(join(tmpdir(), "mlops-restore-"));
  const db = openDatabase(join(dir, "mlops.db"));
  migrate(db);
  const warnings: { msg: string; model?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  const models = new ModelStore(db);
  return { dir, db, models, warnings, restore: () => restoreFromMlflow({ client, models, dataDir: dir, signer, logger }) };
}

describe("restore from MLflow", () => {
  test("a signed version is restored with its file, version number and sha256; a version signed elsewhere, unsigned, forged or with another file is not", async () => {
    const good = new Uint8Array([1, 2, 3, 4]);
    const other = new Uint8Array([9, 9, 9]);
    await client.setAlias("signed-model", DEPLOYED_ALIAS, await mlflowVersion("signed-model", good, signedTags("signed-model", 3, good)));
    // what a notebook can do with MLflow's REST API: register a version that looks like mlops' own and point the alias at it
    await client.setAlias("unsigned-model", DEPLOYED_ALIAS, await mlflowVersion("unsigned-model", other, { [VERSION_TAG]: "1", [SHA256_TAG]: sha(other) }));
    const forged = { ...signedTags("forged-model", 1, other), [SIGNATURE_TAG]: "0".repeat(64) };
    await client.setAlias("forged-model", DEPLOYED_ALIAS, await mlflowVersion("forged-model", other, forged));
    await client.setAlias(
      "foreign-model",
      DEPLOYED_ALIAS,
      await mlflowVersion("foreign-model", other, signedTags("foreign-model", 1, other, new VersionSigner("another secret"))),
    );
    // the signed tags of a real version, copied onto a version whose run holds another file
    await client.setAlias("swapped-model", DEPLOYED_ALIAS, await mlflowVersion("swapped-model", other, signedTags("swapped-model", 1, good)));
    // a signature made for another model's name does not carry over
    await client.setAlias("renamed-model", DEPLOYED_ALIAS, await mlflowVersion("renamed-model", good, signedTags("signed-model", 1, good)));

    const node = freshNode();
    const restored = await node.restore();

    expect(restored).toEqual(["signed-model@3"]);
    const v = node.models.get("signed-model", 3);
    expect(v.sha256).toBe(sha(good));
    expect(new Uint8Array(readFileSync(v.path))).toEqual(good);
    expect(node.models.deployedVersion("signed-model")).toBe(3);
    for (const name of ["unsigned-model", "forged-model", "foreign-model", "swapped-model", "renamed-model"]) {
      expect(node.models.versions(name)).toEqual([]);
      expect(node.models.deployedVersion(name)).toBeNull();
      const warning = node.warnings.find((w) => w.model === name);
      expect(warning?.msg).toContain(`not restored from MLflow`);
      expect(warning?.msg).toContain(name);
    }
    expect(node.warnings.find((w) => w.model === "swapped-model")?.msg).toContain("is not the one its signature covers");
    expect(node.warnings.find((w) => w.model === "unsigned-model")?.msg).toContain("no valid mlops signature");
  }, 60_000);

  test("the alias job points the alias only at the version this deployment signed for the deployed file, not at a look-alike registered before it", async () => {
    const node = freshNode();
    const bytes = new Uint8Array([5, 6, 7]);
    const path = join(node.dir, "model.onnx");
    await Bun.write(path, bytes);
    node.models.register({
      modelName: "watched",
      status: "registered",
      path,
      sha256: sha(bytes),
      format: "onnx",
      metrics: "{}",
      commitSha: null,
      notebookPath: null,
    });
    node.models.recordDeployment({ modelName: "watched", version: 1, reason: "manual" });
    // a notebook registered a version claiming to be mlops' version 1 first
    const lookAlike = await mlflowVersion("watched", new Uint8Array([6, 6, 6]), { [VERSION_TAG]: "1", [SHA256_TAG]: sha(bytes) });
    const real = await mlflowVersion("watched", bytes, signedTags("watched", 1, bytes));
    expect(Number(real)).toBeGreaterThan(Number(lookAlike));
    const tracking = new MlflowTracking({
      client,
      syncs: new MlflowSyncStore(node.db),
      pipelines: new PipelineStore(node.db),
      models: node.models,
      jobs: new JobStore(node.db),
      dataDir: node.dir,
      signer,
    });
    await tracking.syncAlias("watched");
    expect((await client.versionByAlias("watched", DEPLOYED_ALIAS))?.version).toBe(real);
  }, 60_000);
});
