// PipelineStore on a real SQLite file: putting a pipeline a graceful stop cut short back in the queue.
import { describe, expect, test } from "bun:test";
import { openTestDb } from "../queue/test-support.ts";
import { PHASES } from "./pipeline-states.ts";
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
