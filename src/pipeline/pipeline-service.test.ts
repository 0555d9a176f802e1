// PipelineService's start-up recovery on a real SQLite file, for the moment a graceful stop leaves behind.
import { expect, test } from "bun:test";
import { makeTestApp, testPipelineService } from "../testing/test-app.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { JobKind, type RepoSource } from "./pipeline-service.ts";

test("a pipeline a stop put back to queued whose job was still running when the process died is queued again at start; a waiting one is left alone", () => {
  const t = makeTestApp();
  const { deps, db } = t;
  const notUsed = () => Promise.reject(new Error("no git work here"));
  const source: RepoSource = {
    fetch: notUsed,
    fetchBranchHead: notUsed,
    isAncestor: notUsed,
    changedFiles: notUsed,
    listFiles: notUsed,
    readFile: notUsed,
    resolve: notUsed,
  };
  const repos = new RepoStore(db);
  const repo = repos.create({ full_name: "acme/iris" });
  const { service, jobs } = testPipelineService(t, { source, repos });
  const store = deps.pipelineStore;
  const make = (notebookPath: string) => {
    const p = store.create({ repoId: repo.id, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath });
    const job = jobs.enqueue({ kind: JobKind.pipeline, payload: { pipelineId: p.id }, dedupeKey: `${repo.id}:${notebookPath}` }).job;
    return { id: p.id, job: job.id };
  };
  const cut = make("cut.ipynb");
  const waiting = make("waiting.ipynb");
  // What a SIGKILL leaves between the two steps of a graceful stop: the pipeline queued again, its job still running.
  expect(jobs.claim("dead-server/1", 30_000, [JobKind.pipeline])?.id).toBe(cut.job);
  store.markRunning(cut.id);
  expect(store.requeueAfterStop(cut.id)).toBe(true);

  expect(service.recoverAtStart()).toEqual([]);

  expect(jobs.get(cut.job)?.state).toBe("failed");
  const again = jobs.findByPayload(JobKind.pipeline, "$.pipelineId", cut.id)!;
  expect(again.id).not.toBe(cut.job);
  expect(again.state).toBe("queued");
  expect(store.get(cut.id).status).toBe("queued");
  expect(
    jobs
      .list({ kind: JobKind.pipeline })
      .filter((j) => (j.payload as { pipelineId: number }).pipelineId === waiting.id)
      .map((j) => j.id),
  ).toEqual([waiting.job]);
  expect(jobs.get(waiting.job)?.state).toBe("queued");
});
