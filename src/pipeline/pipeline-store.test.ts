// PipelineStore on a real SQLite file: putting a pipeline a graceful stop cut short back in the queue.
import { describe, expect, test } from "bun:test";
import { openTestDb } from "../testing/db.ts";
import { PHASES } from "./pipeline-states.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { PipelineStore } from "./pipeline-store.ts";
import { failure, FailureKind } from "./pipeline-failure.ts";

function setup() {
  const store = new PipelineStore(openTestDb());
  const make = (notebookPath: string) => store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath });
  return { store, make };
}

describe("PipelineStore.requeueAfterStop", () => {
  test("a running pipeline goes back to queued as if it had not started, its log kept, the others untouched", () => {
    const { store, make } = setup();
    const p = make("a.ipynb");
    const other = make("b.ipynb");
    for (const id of [p.id, other.id]) {
      store.markRunning(id);
      store.update(id, { modelName: "iris" });
      store.setPhase(id, "download", "succeeded");
      store.setPhase(id, "validate", "succeeded");
      store.setPhase(id, "execute", "running");
    }
    store.appendLogs(p.id, [{ seq: 1, stream: "stdout", line: "training", at: 1 }]);
    const otherBefore = { row: store.get(other.id), phases: store.phases(other.id) };

    expect(store.requeueAfterStop(p.id)).toBe(true);

    expect(store.get(p.id)).toMatchObject({ status: "queued", error: null, startedAt: null, finishedAt: null, modelName: "iris", shutdownRequeues: 1 });
    expect(store.phases(p.id).map((ph) => [ph.name, ph.status, ph.startedAt, ph.finishedAt, ph.error])).toEqual(
      PHASES.map((n) => [n, "pending", null, null, null]),
    );
    expect(store.logs(p.id).map((l) => l.line)).toEqual(["training"]);
    expect({ row: store.get(other.id), phases: store.phases(other.id) }).toEqual(otherBefore);
  });

  test("only once: a pipeline re-queued before is left as it is, and so is one that ended", () => {
    const { store, make } = setup();
    const p = make("a.ipynb");
    store.markRunning(p.id);
    expect(store.requeueAfterStop(p.id)).toBe(true);
    store.markRunning(p.id);
    store.setPhase(p.id, "download", "running");
    const before = { row: store.get(p.id), phases: store.phases(p.id) };
    expect(store.requeueAfterStop(p.id)).toBe(false);
    expect({ row: store.get(p.id), phases: store.phases(p.id) }).toEqual(before);

    const ended = make("b.ipynb");
    store.markRunning(ended.id);
    store.finish(ended.id, "cancelled", failure(null, FailureKind.cancelled, "cancelled"));
    expect(store.requeueAfterStop(ended.id)).toBe(false);
    expect(store.get(ended.id)).toMatchObject({ status: "cancelled", shutdownRequeues: 0 });
    expect(store.requeueAfterStop(9_999)).toBe(false);
  });
});

describe("PipelineStore.newestPerRepo", () => {
  test("the newest pipeline of each repository, in one query; repositories without one and removed ones are absent", () => {
    const db = openTestDb();
    const store = new PipelineStore(db);
    const repos = new RepoStore(db);
    const [a, b, c] = ["acme/a", "acme/b", "acme/c"].map((full_name) => repos.create({ full_name }).id) as [number, number, number];
    const make = (repoId: number | null, notebookPath: string) =>
      store.create({ repoId, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath }).id;
    make(a, "1.ipynb");
    const newestA = make(a, "2.ipynb");
    const newestB = make(b, "1.ipynb");
    make(null, "orphan.ipynb");
    make(a, "3.ipynb");
    store.finish(make(a, "4.ipynb"), "cancelled", failure(null, FailureKind.cancelled, "cancelled"));
    const newest = store.newestPerRepo();
    expect([...newest.keys()].sort()).toEqual([a, b]);
    expect(newest.get(b)!.id).toBe(newestB);
    expect(newest.get(a)!.id).toBeGreaterThan(newestA);
    expect(newest.get(a)!.notebookPath).toBe("4.ipynb"); // whatever its status
    expect(newest.has(c)).toBe(false);
  });
});
