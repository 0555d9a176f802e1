import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError } from "../lib/errors.ts";
import { ModelRegistry, type ModelLoader } from "./model-registry.ts";
import { openModelSession } from "./model-session.ts";
import { runFeeds } from "./run-feeds.ts";
import { makeMultiInputModel, type MultiInputModel } from "../testing/test-serving-models.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { eventually } from "../testing/eventually.ts";

let dir: string;
let iris: TestModel;
let multi: MultiInputModel;
const versions: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mlops-registry-"));
  [iris, multi] = await Promise.all([makeTestModel(join(dir, "iris")), makeMultiInputModel(join(dir, "multi.onnx"))]);
  // Three "versions": the same model in three files, so loads are told apart by path.
  for (let v = 1; v <= 3; v++) {
    versions[v] = join(dir, `v${v}.onnx`);
    copyFileSync(iris.onnxPath, versions[v]!);
  }
}, 60_000);

/** openModelSession, recording which paths were loaded and released. */
function recordingLoader() {
  const loads: string[] = [];
  const releases: string[] = [];
  const load: ModelLoader = async (path) => {
    loads.push(path);
    const m = await openModelSession(path);
    return { ...m, signature: m.signature, release: async () => void (releases.push(path), await m.release()) };
  };
  return { load, loads, releases };
}

const rows = () => iris.expected.rows;

describe("ModelRegistry", () => {
  test("deploys a model with several inputs (string input included): the warm-up run feeds every input", async () => {
    const registry = new ModelRegistry(openModelSession);
    await registry.deploy("multi", 1, multi.onnxPath);
    const lease = registry.acquire("multi")!;
    const out = await runFeeds(lease.model, {
      age: { type: "float32", data: Float32Array.of(multi.rows[0]![0]), dims: [1, 1] },
      income: { type: "float32", data: Float32Array.of(multi.rows[0]![1]), dims: [1, 1] },
      city: { type: "string", data: [multi.rows[0]![2]], dims: [1, 1] },
    });
    lease.done();
    expect(out.label!.data).toEqual([multi.labels[0]!]);
    await registry.close();
  });

  test("a pinned version that serves is the serving session; another is loaded once, even for concurrent requests", async () => {
    const { load, loads } = recordingLoader();
    const registry = new ModelRegistry(load);
    await registry.deploy("iris", 1, versions[1]!);
    const same = await registry.acquireVersion("iris", 1, () => {
      throw new Error("must not look up the serving version");
    });
    expect(same.model).toBe(registry.peek("iris")!.model);
    same.done();

    const leases = await Promise.all(Array.from({ length: 5 }, () => registry.acquireVersion("iris", 2, () => versions[2]!)));
    expect(loads.filter((p) => p === versions[2])).toHaveLength(1);
    expect(new Set(leases.map((l) => l.model)).size).toBe(1);
    expect(leases.every((l) => l.version === 2)).toBe(true);
    expect((await leases[0]!.model.predictRows(rows())).predictions).toEqual(iris.expected.labels);
    for (const l of leases) l.done();
    expect(registry.pinnedCount()).toBe(1);
    expect(registry.count()).toBe(1);
    await registry.close();
  });

  test("the least recently used pinned version is evicted, and released only after its requests finish", async () => {
    const { load, loads, releases } = recordingLoader();
    const registry = new ModelRegistry(load, { pinnedCapacity: 1 });
    const held = await registry.acquireVersion("iris", 2, () => versions[2]!);
    (await registry.acquireVersion("iris", 3, () => versions[3]!)).done();
    expect(registry.pinnedCount()).toBe(1);
    expect(releases).toEqual([]); // v2 evicted but still in use
    expect((await held.model.predictRows(rows())).predictions).toEqual(iris.expected.labels);
    held.done();
    await eventually(() => releases.length > 0, { what: "the evicted version's release" });
    expect(releases).toEqual([versions[2]!]);
    // Asked again, v2 is loaded again (and v3 evicted).
    (await registry.acquireVersion("iris", 2, () => versions[2]!)).done();
    expect(loads.filter((p) => p === versions[2])).toHaveLength(2);
    await registry.close();
  });

  test("an unknown version or a file that does not load is not cached: the next request tries again", async () => {
    const { load, loads } = recordingLoader();
    const registry = new ModelRegistry(load);
    await expect(
      registry.acquireVersion("iris", 9, () => {
        throw new NotFoundError('model "iris" has no version 9');
      }),
    ).rejects.toThrow('model "iris" has no version 9');
    const bad = join(dir, "corrupt.onnx");
    writeFileSync(bad, "not a model");
    await expect(registry.acquireVersion("iris", 4, () => bad)).rejects.toThrow(/could not load ONNX model/);
    await expect(registry.acquireVersion("iris", 4, () => bad)).rejects.toThrow(/could not load ONNX model/);
    expect(loads).toEqual([bad, bad]);
    expect(registry.pinnedCount()).toBe(0);
    await registry.close();
  });
});
