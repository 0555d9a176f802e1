// LogBus on a real SQLite file: closing it at shutdown tells every live listener, and later ones at once.
import { expect, test } from "bun:test";
import { openTestDb } from "../testing/db.ts";
import { LogBus, type BusEvent } from "./log-bus.ts";
import { PipelineStore } from "./pipeline-store.ts";

test("close tells every subscriber `closed` once, a later subscriber at once; lines are still stored", () => {
  const store = new PipelineStore(openTestDb());
  const id = store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "a.ipynb" }).id;
  const bus = new LogBus(store);
  const seen: [string, BusEvent][] = [];
  bus.subscribe(id, (e) => seen.push(["a", e]));
  const unsubscribeB = bus.subscribe(id, (e) => seen.push(["b", e]));
  bus.subscribe(id + 1, (e) => seen.push(["other", e]));
  bus.append(id, "stdout", "before");
  unsubscribeB();

  bus.close();
  bus.close();
  bus.subscribe(id, (e) => seen.push(["late", e]));
  bus.append(id, "stdout", "after");

  expect(seen.filter(([, e]) => e.type === "closed").map(([who]) => who)).toEqual(["a", "other", "late"]);
  expect(store.logs(id).map((l) => l.line)).toEqual(["before", "after"]);
});
