import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { batcherFor, isBatchable, MicroBatcher } from "./micro-batcher.ts";
import { readPredictions, planOutputs } from "./model-outputs.ts";
import { openModelSession, type ModelSession } from "./model-session.ts";
import { runFeeds } from "./run-feeds.ts";
import { makeMixedModels, type MixedModels } from "../testing/test-mixed-models.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { pace } from "../testing/eventually.ts";

let model: TestModel;
let session: ModelSession;
let mixed: MixedModels;
let mixedSession: ModelSession;
beforeAll(async () => {
  [model, mixed] = await Promise.all([
    makeTestModel(mkdtempSync(join(tmpdir(), "mlops-batcher-"))),
    makeMixedModels(mkdtempSync(join(tmpdir(), "mlops-batcher-mixed-"))),
  ]);
  session = await openModelSession(model.onnxPath);
  mixedSession = await openModelSession(mixed.classifierPath);
}, 60_000);

const feed = (rows: number[][]) => ({ input: { type: "float32" as const, data: new Float32Array(rows.flat()), dims: [rows.length, 4] } });

describe("micro-batching", () => {
  test("concurrent requests share runs and each gets exactly its own rows' answers", async () => {
    expect(isBatchable(session.signature)).toBe(true);
    const requests = Array.from({ length: 64 }, (_, i) => model.expected.rows.slice(0, 1 + (i % model.expected.rows.length)));
    const plan = planOutputs(session.signature);
    const answers = await Promise.all(requests.map((rows) => runFeeds(session, feed(rows)).then((o) => readPredictions(plan, o))));
    answers.forEach((a, i) => {
      const n = requests[i]!.length;
      expect(a.predictions).toEqual(model.expected.labels.slice(0, n));
      a.probabilities!.forEach((p, r) => p.forEach((x, c) => expect(x).toBeCloseTo(model.expected.probabilities[r]![c]!, 5)));
    });
    const stats = batcherFor(session, () => Promise.reject(new Error("unused"))).stats;
    expect(stats.requests).toBe(64);
    expect(stats.runs).toBeLessThan(64);
  });

  test("a model with one input per column (strings, floats, int64): concurrent requests share runs, each gets its own rows' answers", async () => {
    expect(isBatchable(mixedSession.signature)).toBe(true);
    const feedsOf = (records: typeof mixed.records) => ({
      text: { type: "string" as const, data: records.map((r) => r.text), dims: [records.length, 1] },
      city: { type: "string" as const, data: records.map((r) => r.city), dims: [records.length, 1] },
      age: { type: "float32" as const, data: Float32Array.from(records, (r) => r.age), dims: [records.length, 1] },
      visits: { type: "int64" as const, data: BigInt64Array.from(records, (r) => BigInt(r.visits)), dims: [records.length, 1] },
    });
    // Each request starts at a different sample, so a mix-up of rows between requests changes some answer.
    const n = mixed.records.length;
    const starts = Array.from({ length: 48 }, (_, i) => i % n);
    const requests = starts.map((s, i) => mixed.records.slice(s, s + 1 + (i % (n - s))));
    const plan = planOutputs(mixedSession.signature);
    const answers = await Promise.all(requests.map((records) => runFeeds(mixedSession, feedsOf(records)).then((o) => readPredictions(plan, o))));
    answers.forEach((a, i) => {
      const s = starts[i]!;
      const count = requests[i]!.length;
      expect(a.predictions).toEqual(mixed.labels.slice(s, s + count));
      a.probabilities!.forEach((p, r) => p.forEach((x, c) => expect(x).toBeCloseTo(mixed.probabilities[s + r]![c]!, 5)));
    });
    const stats = batcherFor(mixedSession, () => Promise.reject(new Error("unused"))).stats;
    expect(stats.requests).toBe(48);
    expect(stats.runs).toBeLessThan(48);
  });

  test("when the merged run fails, each request runs alone so only the bad one gets the error", async () => {
    const runs: number[] = [];
    const b = new MicroBatcher(async ({ x: input }) => {
      if (!input) throw new Error("no input x");
      runs.push(input.dims[0]!);
      await pace(1); // a run takes a while, so requests queue behind it
      if ((input.data as Float32Array).includes(-1)) throw new Error("model refused -1");
      return { out: { type: "float32", data: new Float32Array(input.data as Float32Array), dims: [...input.dims] } };
    });
    const t = (v: number) => ({ x: { type: "float32" as const, data: new Float32Array([v, v]), dims: [1, 2] } });
    const results = await Promise.allSettled([b.run(t(1)), b.run(t(2)), b.run(t(-1)), b.run(t(3))]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect((results[3] as PromiseFulfilledResult<Record<string, { data: unknown }>>).value.out!.data).toEqual(new Float32Array([3, 3]));
    // first alone (idle), then the three waiting merged (fails), then each of them alone
    expect(runs).toEqual([1, 3, 1, 1, 1]);
  });
});
