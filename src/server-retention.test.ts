// The server sweeps retention after start (and daily): a pipeline that ended long ago loses its log and work dir on
// its own; with RETENTION_DAYS=0 the same sweep removes nothing.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "./db/connection.ts";
import { PipelineStore } from "./pipeline/pipeline-store.ts";
import { pipelineDir } from "./pipeline/run-pipeline.ts";
import { startTestServer, type TestServer } from "./testing/e2e.ts";
import { eventually } from "./testing/eventually.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** A data dir whose database holds one pipeline that ended 100 days ago, with a log line and a work dir. */
function dataDirWithOldPipeline() {
  const dir = mkdtempSync(join(tmpdir(), "mlops-retention-server-"));
  const db = openDatabase(join(dir, "mlops.db"));
  migrate(db);
  const store = new PipelineStore(db);
  const id = store.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "e".repeat(40), notebookPath: "old.ipynb" }).id;
  store.markRunning(id);
  store.appendLogs(id, [{ seq: 1, stream: "stdout", line: "trained", at: Date.now() }]);
  store.finish(id, "succeeded");
  db.$client.query("UPDATE pipelines SET finished_at = ? WHERE id = ?").run(new Date(Date.now() - 100 * 86_400_000).toISOString(), id);
  db.$client.close();
  mkdirSync(pipelineDir(dir, id), { recursive: true });
  writeFileSync(join(pipelineDir(dir, id), "executed.ipynb"), "{}");
  return { dir, id };
}

describe("retention in the server", () => {
  test("runs after start: an old pipeline's log and work dir go, its row stays", async () => {
    const { dir, id } = dataDirWithOldPipeline();
    server = await startTestServer({ RETENTION_DAYS: "30" }, dir);
    const s = server;
    const body = await eventually(
      async () => {
        const p = (await (await s.api(`/api/pipelines/${id}`)).json()) as { files_removed_at: string | null; status: string };
        return p.files_removed_at ? p : undefined;
      },
      { timeoutMs: 30_000, what: "the start-up retention sweep" },
    );
    expect(body.status).toBe("succeeded");
    expect(existsSync(pipelineDir(dir, id))).toBe(false);
    expect(s.pipelineStore.logs(id)).toEqual([]);
  });

  test("RETENTION_DAYS=0: the sweep removes nothing", async () => {
    const { dir, id } = dataDirWithOldPipeline();
    server = await startTestServer({ RETENTION_DAYS: "0" }, dir);
    expect(await server.retention.sweep()).toEqual({ pipelines: [], logLines: 0, notebooksKept: [], notebooksReleased: [] });
    expect(existsSync(join(pipelineDir(dir, id), "executed.ipynb"))).toBe(true);
    expect(server.pipelineStore.logs(id).length).toBe(1);
    expect(server.pipelineStore.get(id).filesRemovedAt).toBeNull();
  });
});
