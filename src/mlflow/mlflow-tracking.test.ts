// MLflow tracking end to end: a real server with MLFLOW_TRACKING_URI, a real `mlflow server`, pushes run by papermill.
// With MLflow up, the run holds the pipeline's params, the metrics of the file and of the notebook's own logging, the
// executed notebook and the model, and the model is a registered version. With MLflow down, the pipeline still
// deploys, the sync shows as pending with the reason, and it completes by itself once MLflow answers.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { commit, makeRepo, sendPush, signIn, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { freePort, startMlflowServer, type MlflowServer } from "../testing/mlflow-server.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";
import { MlflowClient } from "./mlflow-client.ts";
import type { MlflowSyncView } from "./mlflow-tracking.ts";
import { eventually } from "../testing/eventually.ts";
import { steppedClock } from "../testing/db.ts";
import { RETRY_MAX_MS } from "../queue/job-store.ts";

const cleanups: (() => Promise<void>)[] = [];
const TRACKING_SECRET = "tracking-password-0123456789";
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

type Detail = { status: string; model_version: number | null; metrics: Record<string, number> | null; mlflow: MlflowSyncView | null };
const detail = async (server: TestServer, id: number) => (await (await server.api(`/api/pipelines/${id}`)).json()) as Detail;

function waitForSync(
  server: TestServer,
  id: number,
  status: MlflowSyncView["status"],
  timeoutMs: number,
  done: (s: MlflowSyncView) => boolean = () => true,
): Promise<MlflowSyncView> {
  return eventually(
    async () => {
      const sync = (await detail(server, id)).mlflow;
      return sync?.status === status && done(sync) && sync;
    },
    { what: `pipeline ${id}'s MLflow sync to be ${status}`, timeoutMs, everyMs: 200 },
  );
}

/** Push `notebook` as model.ipynb of a new repository and wait for its pipeline to succeed. */
async function pushAndRun(server: TestServer, fullName: string, notebook: string): Promise<number> {
  const repo = makeRepo({ "model.ipynb": notebook });
  const repoId = await registerRepo(server, fullName, repo.dir);
  await sendPush(server.base, { fullName, cloneUrl: repo.dir, after: repo.sha });
  const [created] = await waitForCreated(server, repoId);
  const ended = await waitForStatus(server, created!.id, ["succeeded", "failed"], 90_000);
  expect(ended).toMatchObject({ status: "succeeded" });
  return created!.id;
}

/** One MLflow server and one mlops server using it, shared by the tests that need MLflow up from the start. */
let shared: Promise<{ mlflow: MlflowServer; server: TestServer }> | undefined;
function sharedSetup() {
  shared ??= (async () => {
    const mlflow = await startMlflowServer();
    cleanups.push(() => mlflow.stop());
    // With credentials in the URI, as behind an authenticating proxy: they must reach neither notebook nor pages.
    const server = await startTestServer({ MLFLOW_TRACKING_URI: mlflow.url.replace("://", `://mlops:${TRACKING_SECRET}@`) });
    cleanups.push(() => server.stop());
    return { mlflow, server };
  })();
  return shared;
}

describe("MLflow tracking", () => {
  test("MLflow up: the run has params, both kinds of metrics, the executed notebook and the model; the model is a registered version", async () => {
    const { mlflow, server } = await sharedSetup();
    const onnxB64 = await tinyOnnxBase64();
    // The notebook logs into the platform's run, as the notebook contract (docs/notebook-contract.md) says users do.
    const logging = ["import mlflow", "with mlflow.start_run(run_id=MLFLOW_RUN_ID):", '    mlflow.log_metric("notebook_loss", 0.25)'].join("\n");
    const id = await pushAndRun(server, "acme/tracked", modelNotebook("tracked", onnxB64, logging));

    const sync = await waitForSync(server, id, "synced", 30_000);
    expect(sync.run_url).toContain(`${mlflow.url}/#/experiments/`);
    const p = await detail(server, id);
    // Metrics logged to MLflow by the notebook count too: they are part of the stored version.
    expect(p.metrics).toEqual({ accuracy: 1, notebook_loss: 0.25 });
    expect((await predict(server.base, "tracked")).body.version).toBe(1);

    const client = new MlflowClient(mlflow.url);
    const run = await client.getRun(sync.run_id!);
    expect(run.status).toBe("FINISHED");
    expect(run.params).toMatchObject({ pipeline_id: String(id), notebook_path: "model.ipynb", trigger: "push" });
    expect(run.metrics).toEqual({ accuracy: 1, notebook_loss: 0.25 });
    expect(run.tags).toMatchObject({ "mlops.status": "succeeded", "mlops.model_version": "1", "mlops.pipeline_id": String(id) });
    const local = (await (await server.api("/api/models/tracked")).json()) as { versions: { version: number; sha256: string }[] };
    const model = await client.downloadArtifact(run, "model/model.onnx");
    expect(createHash("sha256").update(model).digest("hex")).toBe(local.versions[0]!.sha256);
    const executed = new TextDecoder().decode(await client.downloadArtifact(run, "notebook/executed.ipynb"));
    const notebook = JSON.parse(executed) as { cells: unknown[]; metadata: { papermill: { parameters: Record<string, string> } } };
    expect(notebook.cells.length).toBeGreaterThan(3);
    // The notebook logged through the credentials in its environment; its parameters (kept, uploaded) hold none.
    expect(notebook.metadata.papermill.parameters.MLFLOW_TRACKING_URI).toBe(mlflow.url);
    expect(executed).not.toContain(TRACKING_SECRET);

    // The pipeline's page links the run.
    const page = await (await fetch(`${server.base}/pipelines/${id}`, { headers: { Cookie: await signIn(server.base) } })).text();
    expect(page).toContain(`href="${sync.run_url}"`);
    expect(page).not.toContain(TRACKING_SECRET);

    const versions = await client.searchModelVersions("tracked");
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ version: sync.model_version, runId: run.runId, tags: { "mlops.version": "1" } });
  }, 180_000);

  test("MLflow down: the pipeline deploys, its sync is pending with the reason; once MLflow answers the sync completes by itself", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const clock = steppedClock();
    const server = await startTestServer({ MLFLOW_TRACKING_URI: url }, undefined, { clock });
    cleanups.push(() => server.stop());
    // Each poll steps the queue's clock past any retry's delay, so the sync's backoff is stepped, not waited out.
    const stepped = () => {
      clock.advance(RETRY_MAX_MS);
      server.wake();
      return true;
    };
    const id = await pushAndRun(server, "acme/offline", modelNotebook("offline", await tinyOnnxBase64()));
    expect((await predict(server.base, "offline")).body.version).toBe(1); // serving does not wait for MLflow

    const pending = await waitForSync(server, id, "pending", 10_000);
    expect(pending.run_id).toBeNull();
    const log = await (await server.api(`/api/pipelines/${id}/logs`)).text();
    expect(log).toContain("MLflow cannot take the run now");
    // A retry failed too, and the sync is still pending (not failed for good).
    const retried = await waitForSync(server, id, "pending", 30_000, (s) => stepped() && s.attempts >= 2);
    expect(retried.status).toBe("pending");
    expect(retried.error).toContain(url);
    expect(retried.attempts).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    expect(metrics).toContain('mlops_mlflow_syncs{status="pending"} 1');
    expect(metrics).toContain('mlops_mlflow_syncs{status="synced"} 0');
    const page = await (await fetch(`${server.base}/pipelines/${id}`, { headers: { Cookie: await signIn(server.base) } })).text();
    expect(page).toMatch(/<dd id="mlflow"><span class="muted">sync pending after \d+ attempts?: MLflow at/);

    const mlflow: MlflowServer = await startMlflowServer({ port });
    cleanups.push(() => mlflow.stop());
    const synced = await waitForSync(server, id, "synced", 90_000, stepped);
    expect(await (await fetch(`${server.base}/metrics`)).text()).toContain('mlops_mlflow_syncs{status="synced"} 1');
    const client = new MlflowClient(mlflow.url);
    const run = await client.getRun(synced.run_id!);
    expect(run.status).toBe("FINISHED");
    expect(run.metrics).toEqual({ accuracy: 1 });
    expect((await client.searchModelVersions("offline")).map((v) => v.tags["mlops.version"])).toEqual(["1"]);
    const model = await client.downloadArtifact(run, "model/model.onnx");
    expect(Buffer.from(model).equals(Buffer.from(await tinyOnnxBase64(), "base64"))).toBe(true);
  }, 240_000);

  test("MLflow refusing the run for good (its experiment was deleted) fails the sync with MLflow's reason; the pipeline still deploys", async () => {
    const { mlflow, server } = await sharedSetup();
    const client = new MlflowClient(mlflow.url);
    const experimentId = await client.getOrCreateExperiment("doomed");
    const deleted = await fetch(`${mlflow.url}/api/2.0/mlflow/experiments/delete`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ experiment_id: experimentId }),
    });
    expect(deleted.status).toBe(200);

    const id = await pushAndRun(server, "acme/doomed", modelNotebook("doomed", await tinyOnnxBase64()));
    expect((await predict(server.base, "doomed")).body.version).toBe(1);
    const failed = await waitForSync(server, id, "failed", 30_000);
    expect(failed.error).toContain("deleted");
    expect(failed.attempts).toBe(1); // not retried: MLflow answered, and would answer the same again
  }, 120_000);

  test("deploy, rollback and undeploy move MLflow's deployed alias; a fresh node restores the deployed version from MLflow", async () => {
    const { mlflow, server } = await sharedSetup();
    const client = new MlflowClient(mlflow.url);
    const deployedTag = async () => (await client.versionByAlias("aliased", "deployed"))?.tags["mlops.version"];
    const waitForTag = async (want: string | undefined) => {
      await eventually(async () => (await deployedTag()) === want, { what: `MLflow's deployed alias of "aliased" to be ${want}`, everyMs: 200 });
    };
    const onnxB64 = await tinyOnnxBase64();
    const repo = makeRepo({ "model.ipynb": modelNotebook("aliased", onnxB64) });
    const repoId = await registerRepo(server, "acme/aliased", repo.dir);
    await sendPush(server.base, { fullName: "acme/aliased", cloneUrl: repo.dir, after: repo.sha });
    const [first] = await waitForCreated(server, repoId);
    await waitForStatus(server, first!.id, ["succeeded"], 90_000);
    await waitForTag("1");

    const sha2 = commit(
      repo.dir,
      { "model.ipynb": modelNotebook("aliased", onnxB64, "print('v2')", 'json.dump({"accuracy": 0.9}, open(METRICS_OUTPUT_PATH, "w"))') },
      "v2",
    );
    await sendPush(server.base, { fullName: "acme/aliased", cloneUrl: repo.dir, after: sha2, before: repo.sha });
    const second = (await waitForCreated(server, repoId, 2)).find((p) => p.id !== first!.id)!;
    await waitForStatus(server, second.id, ["succeeded"], 90_000);
    await waitForTag("2");

    expect((await server.api("/api/models/aliased/rollback", { method: "POST" })).status).toBe(200);
    await waitForTag("1");
    const servedHere = await predict(server.base, "aliased");

    // A fresh node on the same MLflow serves what was deployed, under the same version number, with the same answers.
    // Its MLFLOW_TRACKING_URI carries credentials (sent as Basic auth, which this MLflow ignores): they must not reach
    // the deployment history it records.
    const secret = "mlflow-Pa55word-0123";
    const fresh = await startTestServer({ MLFLOW_TRACKING_URI: mlflow.url.replace("://", `://mlops:${secret}@`) });
    cleanups.push(() => fresh.stop());
    const servedThere = await predict(fresh.base, "aliased");
    expect(servedThere.body).toEqual(servedHere.body);
    expect(servedThere.body.version).toBe(1);
    const restored = (await (await fresh.api("/api/models/aliased")).json()) as {
      versions: { version: number; metrics: Record<string, number> }[];
      deployments: { version: number; reason: string }[];
    };
    expect(restored.versions.map((v) => [v.version, v.metrics])).toEqual([[1, { accuracy: 1 }]]);
    expect(restored.deployments).toMatchObject([{ version: 1, reason: "restore", actor: expect.stringContaining("mlflow http://***@127.0.0.1") }]);
    expect(JSON.stringify(restored)).not.toContain(secret);

    expect((await server.api("/api/models/aliased/undeploy", { method: "POST" })).status).toBe(200);
    await waitForTag(undefined);

    // A notebook reaching MLflow registers a version that claims to be mlops' version 7 and moves the alias to it:
    // a fresh node restores nothing and serves nothing for the model.
    const run = await client.getRun((await client.searchModelVersions("aliased"))[0]!.runId);
    const planted = await client.createModelVersion("aliased", { source: `${run.artifactUri}/model`, runId: run.runId, tags: { "mlops.version": "7" } });
    await client.setAlias("aliased", "deployed", planted.version);
    const another = await startTestServer({ MLFLOW_TRACKING_URI: mlflow.url });
    cleanups.push(() => another.stop());
    expect((await predict(another.base, "aliased")).status).toBe(404);
    expect((await another.api("/api/models/aliased")).status).toBe(404);
  }, 240_000);
});
