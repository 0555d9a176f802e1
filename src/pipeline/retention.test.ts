// Retention on a real SQLite file and real work dirs: what ended long ago goes (log lines, work dir, executed notebook),
// what is recent or active stays, the notebooks of serving and recently deployed versions stay, 0 keeps everything,
// and a sweep cut short by a crash is finished by the next one without touching anything else.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { migrate, openDatabase } from "../db/connection.ts";
import { MlflowSyncStore } from "../mlflow/mlflow-sync-store.ts";
import { ModelStore } from "../models/model-store.ts";
import { makeTestApp, SIGNED_IN } from "../testing/test-app.ts";
import { notebookOutputs } from "./notebook-outputs.ts";
import { PipelineStore } from "./pipeline-store.ts";
import { KEPT_DEPLOYMENTS, Retention } from "./retention.ts";
import { pipelineDir } from "./run-pipeline.ts";

const DAY_MS = 24 * 3600 * 1000;

function setup() {
  const t = makeTestApp({ LOG_LEVEL: "silent" });
  const dataDir = t.deps.config.dataDir;
  const store = t.deps.pipelineStore;
  const models = t.deps.modelStore;
  /** A pipeline that ended `daysAgo` days ago (or is still running with null), with `lines` log lines and a work dir. */
  const pipeline = (daysAgo: number | null, lines = 5, notebookPath = "train.ipynb") => {
    const id = store.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "c".repeat(40), notebookPath }).id;
    store.markRunning(id);
    store.appendLogs(
      id,
      Array.from({ length: lines }, (_, i) => ({ seq: i + 1, stream: "stdout", line: `line ${i + 1} of ${id}`, at: Date.now() })),
    );
    const dir = pipelineDir(dataDir, id);
    const out = notebookOutputs(dir);
    mkdirSync(join(dir, "output"), { recursive: true });
    writeFileSync(out.executed, '{"cells": []}');
    writeFileSync(out.metrics, '{"accuracy": 0.9}');
    mkdirSync(join(dir, "repo"), { recursive: true });
    writeFileSync(join(dir, "repo", "train.ipynb"), "{}");
    if (daysAgo !== null) {
      store.finish(id, "succeeded");
      t.db.$client.query("UPDATE pipelines SET finished_at = ? WHERE id = ?").run(new Date(Date.now() - daysAgo * DAY_MS).toISOString(), id);
    }
    return id;
  };
  /** Store version of `model` made by pipeline `pipelineId`, with its model file under the data dir, and deploy it. */
  const deployFrom = (model: string, pipelineId: number) => {
    const v = models.register({ modelName: model, status: "registered", path: "", sha256: "x", format: "onnx", pipelineId }, (version) => {
      const d = join(dataDir, "models", model, String(version));
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, "model.onnx"), "onnx");
      return join(d, "model.onnx");
    }).version;
    models.recordDeployment({ modelName: model, version: v, reason: "pipeline", pipelineId });
    return v;
  };
  const retention = (days = 30, batchRows?: number) => new Retention({ db: t.db, dataDir, days, batchRows });
  const logCount = (id: number) => store.logs(id).length;
  const workFiles = (id: number) => {
    const dir = pipelineDir(dataDir, id);
    return existsSync(dir) ? readdirSync(dir).sort() : null;
  };
  return { ...t, dataDir, store, models, pipeline, deployFrom, retention, logCount, workFiles };
}

describe("retention", () => {
  test("deletes the log and work dir of pipelines that ended over RETENTION_DAYS ago; recent and active ones, rows and model files stay", async () => {
    const s = setup();
    const old = s.pipeline(40);
    const older = s.pipeline(400, 3);
    const recent = s.pipeline(5);
    const active = s.pipeline(null); // running, started long ago
    s.db.$client.query("UPDATE pipelines SET started_at = ? WHERE id = ?").run(new Date(Date.now() - 90 * DAY_MS).toISOString(), active);
    const queued = s.store.create({ repoId: null, trigger: "manual", ref: "r", commitSha: "d".repeat(40), notebookPath: "q.ipynb" }).id;
    s.deployFrom("iris", recent);

    const logged: Record<string, unknown>[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const report = await new Retention({ db: s.db, dataDir: s.dataDir, days: 30, logger }).sweep();
    expect(report.pipelines.sort()).toEqual([old, older].sort());
    // What it removed is logged, once per sweep.
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ retention_days: 30, log_lines: 8, notebooks_kept: [], notebooks_released: [] });
    expect((logged[0]!.pipelines as number[]).sort()).toEqual([old, older].sort());
    expect(logged[0]!.msg).toBe("retention removed the logs and work dirs of 2 pipelines that ended over 30 days ago");
    expect(report.logLines).toBe(8);
    for (const id of [old, older]) {
      expect(s.logCount(id)).toBe(0);
      expect(s.workFiles(id)).toBeNull();
      expect(s.store.get(id).filesRemovedAt).not.toBeNull();
      expect(s.store.get(id).status).toBe("succeeded"); // the row stays
    }
    for (const id of [recent, active]) {
      expect(s.logCount(id)).toBe(5);
      expect(s.workFiles(id)).toEqual(["executed.ipynb", "output", "repo"]);
      expect(s.store.get(id).filesRemovedAt).toBeNull();
    }
    expect(s.store.get(queued).status).toBe("queued");
    expect(existsSync(join(s.dataDir, "models", "iris", "1", "model.onnx"))).toBe(true);
    // Nothing is left: a second sweep does nothing.
    expect(await s.retention(30).sweep()).toEqual({ pipelines: [], logLines: 0, notebooksKept: [], notebooksReleased: [] });
  });

  test("keeps the executed notebooks of the serving version and of the versions in each model's last five deployments, until they no longer are", async () => {
    const s = setup();
    const made = Array.from({ length: 7 }, () => s.pipeline(60));
    made.forEach((id) => s.deployFrom("iris", id)); // v1..v7 deployed in turn
    // Roll back to v1: it serves, so its notebook stays though v1 is the oldest.
    s.models.recordDeployment({ modelName: "iris", version: 1, reason: "rollback" });
    const other = s.pipeline(60);
    s.deployFrom("wine", other);
    const kept = [made[0]!, made[3]!, made[4]!, made[5]!, made[6]!, other];
    expect([...s.retention().keptPipelines()].sort((a, b) => a - b)).toEqual(kept.sort((a, b) => a - b));
    expect(KEPT_DEPLOYMENTS).toBe(5);

    const report = await s.retention(30).sweep();
    expect(report.pipelines.length).toBe(8);
    expect(report.notebooksKept.sort((a, b) => a - b)).toEqual(kept);
    for (const id of kept) {
      expect(s.workFiles(id)).toEqual(["executed.ipynb"]); // the checkout and outputs went, the notebook stayed
      expect(s.logCount(id)).toBe(0);
    }
    for (const id of [made[1]!, made[2]!]) expect(s.workFiles(id)).toBeNull();

    // Two more deployments (v6, then v7 serves again): the last five are now v7, v6, v1, v7, v6, so v4's and v5's
    // notebooks are released and v1's, v6's and v7's stay.
    s.models.recordDeployment({ modelName: "iris", version: 6, reason: "manual" });
    s.models.recordDeployment({ modelName: "iris", version: 7, reason: "manual" });
    const again = await s.retention(30).sweep();
    expect(again.notebooksReleased.sort((a, b) => a - b)).toEqual([made[3]!, made[4]!]);
    expect(again.pipelines).toEqual([]);
    for (const id of [made[3]!, made[4]!]) {
      expect(s.workFiles(id)).toBeNull();
      expect(s.store.get(id).notebookKept).toBe(false);
    }
    for (const id of [made[0]!, made[5]!, made[6]!, other]) expect(s.workFiles(id)).toEqual(["executed.ipynb"]);
  });

  test("RETENTION_DAYS=0 keeps everything", async () => {
    const s = setup();
    const ancient = s.pipeline(10_000);
    expect(s.retention(0).step()).toEqual({ done: true });
    expect(await s.retention(0).sweep()).toEqual({ pipelines: [], logLines: 0, notebooksKept: [], notebooksReleased: [] });
    expect(s.logCount(ancient)).toBe(5);
    expect(s.workFiles(ancient)).toEqual(["executed.ipynb", "output", "repo"]);
    expect(s.store.get(ancient).filesRemovedAt).toBeNull();
  });

  test("a pipeline whose MLflow sync still waits keeps its files (the sync uploads the executed notebook)", async () => {
    const s = setup();
    const waiting = s.pipeline(40);
    const syncs = new MlflowSyncStore(s.db);
    syncs.attempt(waiting, "pending", "MLflow did not answer");
    await s.retention(30).sweep();
    expect(s.logCount(waiting)).toBe(5);
    syncs.attempt(waiting, "synced", null);
    expect((await s.retention(30).sweep()).pipelines).toEqual([waiting]);
    expect(s.workFiles(waiting)).toBeNull();
  });

  test("deletes a long log in bounded batches; a crash midway loses nothing else, and the next sweep finishes", async () => {
    const s = setup();
    const long = s.pipeline(40, 10);
    const recent = s.pipeline(1, 4);
    const keptOne = s.pipeline(40, 2);
    s.deployFrom("iris", keptOne);
    const first = s.retention(30, 3);
    // Kept-notebook pipeline ids come after `long`: the first steps work on `long`'s log, three lines at a time.
    expect(first.step()).toEqual({ done: false, kind: "log", pipelineId: long, lines: 3 });
    expect(first.step()).toEqual({ done: false, kind: "log", pipelineId: long, lines: 3 });
    expect(s.logCount(long)).toBe(4);
    // The "crash": the process dies here; its database connection is gone, nothing else ran.
    s.db.$client.close();
    const db = openDatabase(s.deps.config.databasePath);
    migrate(db);
    const store = new PipelineStore(db);
    expect(store.get(long).filesRemovedAt).toBeNull(); // not marked: the next sweep takes it up
    expect(s.workFiles(long)).toEqual(["executed.ipynb", "output", "repo"]);
    expect(store.logs(recent).length).toBe(4);

    const report = await new Retention({ db, dataDir: s.dataDir, days: 30, batchRows: 3 }).sweep();
    expect(report.pipelines).toEqual([long, keptOne]);
    expect(report.logLines).toBe(4 + 2);
    expect(store.logs(long)).toEqual([]);
    expect(s.workFiles(long)).toBeNull();
    expect(store.get(long).filesRemovedAt).not.toBeNull();
    expect(s.workFiles(keptOne)).toEqual(["executed.ipynb"]);
    expect(store.logs(recent).length).toBe(4);
    expect(s.workFiles(recent)).toEqual(["executed.ipynb", "output", "repo"]);
    expect(new ModelStore(db).versions("iris").length).toBe(1);
    db.$client.close();
  });

  test("the pipeline page says the log was removed by retention instead of showing an empty log", async () => {
    const s = setup();
    const old = s.pipeline(40);
    const recent = s.pipeline(1);
    await s.retention(30).sweep();
    const page = await (await s.app.request(`/pipelines/${old}`, { headers: SIGNED_IN })).text();
    expect(page).toContain("were removed by retention (RETENTION_DAYS) on");
    expect(page).not.toContain('id="log"');
    const kept = await (await s.app.request(`/pipelines/${recent}`, { headers: SIGNED_IN })).text();
    expect(kept).toContain('id="log"');
    expect(kept).toContain("line 1 of");
    expect(kept).not.toContain("removed by retention");
    const json = (await (await s.app.request(`/api/pipelines/${old}`, { headers: s.auth })).json()) as { files_removed_at: string | null };
    expect(json.files_removed_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The raw log says it is gone, and since when, rather than answering an empty text.
    const logs = await s.app.request(`/api/pipelines/${old}/logs`, { headers: s.auth });
    expect(logs.status).toBe(410);
    expect(await logs.json()).toEqual({ error: `pipeline ${old}'s log was removed by retention (RETENTION_DAYS) on ${json.files_removed_at}` });
    const recentLogs = await s.app.request(`/api/pipelines/${recent}/logs`, { headers: s.auth });
    expect(recentLogs.status).toBe(200);
    expect(await recentLogs.text()).toContain("line 1 of");
  });
});
