// Start-up recovery of MLflow syncs, on a real SQLite file: an ended pipeline whose sync is pending with no job
// waiting (the process stopped between the two) is queued again, once; running pipelines and synced ones are left.
import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "../db/connection.ts";
import { ModelStore } from "../models/model-store.ts";
import { PipelineStore } from "../pipeline/pipeline-store.ts";
import { JobStore } from "../queue/job-store.ts";
import { MlflowClient } from "./mlflow-client.ts";
import { MlflowSyncStore } from "./mlflow-sync-store.ts";
import { VersionSigner } from "./model-signature.ts";
import { MLFLOW_SYNC_JOB, MlflowTracking } from "./mlflow-tracking.ts";

test("resumePending queues ended pipelines whose sync is pending without a job, once", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-mlflow-resume-"));
  const db = openDatabase(join(dir, "mlops.db"));
  migrate(db);
  const pipelines = new PipelineStore(db);
  const syncs = new MlflowSyncStore(db);
  const jobs = new JobStore(db);
  const tracking = new MlflowTracking({
    client: new MlflowClient("http://127.0.0.1:9"),
    syncs,
    pipelines,
    models: new ModelStore(db),
    jobs,
    dataDir: dir,
    signer: new VersionSigner("secret"),
  });
  const make = (status: "succeeded" | "running") => {
    const p = pipelines.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "n.ipynb" });
    pipelines.markRunning(p.id);
    if (status === "succeeded") pipelines.finish(p.id, "succeeded");
    syncs.ensure(p.id);
    return p.id;
  };
  const orphan = make("succeeded");
  const running = make("running");
  const synced = make("succeeded");
  syncs.attempt(synced, "synced", null);

  expect(tracking.resumePending()).toEqual([orphan]);
  const job = jobs.findByPayload(MLFLOW_SYNC_JOB, "$.pipelineId", orphan);
  expect(job?.state).toBe("queued");
  expect(jobs.findByPayload(MLFLOW_SYNC_JOB, "$.pipelineId", running)).toBeUndefined();
  expect(jobs.findByPayload(MLFLOW_SYNC_JOB, "$.pipelineId", synced)).toBeUndefined();
  expect(tracking.resumePending()).toEqual([]); // its job is waiting: not queued twice
  expect(tracking.view(orphan)).toMatchObject({ status: "pending", run_id: null, attempts: 0 });
  expect(tracking.view(9999)).toBeNull();
});
