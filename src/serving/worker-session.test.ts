// openWorkerSession keeps openModelSession's contract across the thread boundary: signature, outputs, typed errors,
// release; tensors travel by transfer; the worker ends with release and never keeps a process alive.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { UnprocessableError } from "../lib/errors.ts";
import { ModelLoadError, openModelSession, type ModelSession } from "./model-session.ts";
import { makeBigModel } from "../testing/test-big-model.ts";
import { makeMultiInputModel, type MultiInputModel } from "../testing/test-serving-models.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { pace } from "../testing/eventually.ts";
import { openWorkerSession } from "./worker-session.ts";

let dir: string;
let iris: TestModel;
let multi: MultiInputModel;
let model: ModelSession;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mlops-worker-session-"));
  [iris, multi] = await Promise.all([makeTestModel(join(dir, "iris")), makeMultiInputModel(join(dir, "multi.onnx"))]);
  model = await openWorkerSession(iris.onnxPath);
}, 60_000);

afterAll(async () => {
  await model?.release();
  rmSync(dir, { recursive: true, force: true });
});

describe("a model in a worker answers as one in this thread", () => {
  test("same signature and predictRows answer", async () => {
    const local = await openModelSession(iris.onnxPath);
    try {
      expect(model.signature).toEqual(local.signature);
      expect(await model.predictRows(iris.expected.rows)).toEqual(await local.predictRows(iris.expected.rows));
    } finally {
      await local.release();
    }
  });

  test("run gives int64 labels as BigInt64Array and probabilities as a flat Float32Array", async () => {
    const rows = iris.expected.rows;
    const out = await model.run({ input: { type: "float32", data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0]!.length] } });
    expect(out.label!.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(out.label!.data as BigInt64Array, Number)).toEqual(iris.expected.labels as number[]);
    expect(out.probabilities!.data).toBeInstanceOf(Float32Array);
    expect(out.probabilities!.dims).toEqual([rows.length, iris.expected.probabilities[0]!.length]);
  });

  test("string inputs and string labels cross both ways", async () => {
    const m = await openWorkerSession(multi.onnxPath);
    try {
      const col = (i: number, type: "float32" | "string") => ({
        type,
        data: type === "string" ? multi.rows.map((r) => String(r[i])) : Float32Array.from(multi.rows.map((r) => Number(r[i]))),
        dims: [multi.rows.length, 1],
      });
      const out = await m.run({ age: col(0, "float32"), income: col(1, "float32"), city: col(2, "string") } as never);
      expect(out.label!.data).toEqual(multi.labels);
    } finally {
      await m.release();
    }
  });

  test("a typed array that owns its buffer is transferred (left detached); a view is copied and left intact", async () => {
    const owned = Float32Array.from(iris.expected.rows[0]!);
    await model.run({ input: { type: "float32", data: owned, dims: [1, owned.length] } });
    expect(owned.byteLength).toBe(0);
    const whole = Float32Array.from([0, ...iris.expected.rows[0]!]);
    const view = whole.subarray(1);
    const out = await model.run({ input: { type: "float32", data: view, dims: [1, view.length] } });
    expect(Array.from(view)).toEqual(Array.from(Float32Array.from(iris.expected.rows[0]!)));
    expect(Number((out.label!.data as BigInt64Array)[0])).toBe(iris.expected.labels[0] as number);
  });
});

describe("errors cross the thread typed", () => {
  test("a missing file and a file that is not ONNX are ModelLoadError (422) naming the path", async () => {
    const missing = join(dir, "nope.onnx");
    const bad = join(dir, "bad.onnx");
    writeFileSync(bad, "not a model");
    for (const path of [missing, bad]) {
      const e = await openWorkerSession(path).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ModelLoadError);
      expect(e).toMatchObject({ status: 422, details: { path } });
      expect((e as Error).message).toContain(path);
    }
  });

  test("bad rows are UnprocessableError with the same message and details as in this thread", async () => {
    const width = iris.expected.rows[0]!.length;
    const e = await model.predictRows([new Array(width).fill(0), new Array(width + 1).fill(0)]).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(UnprocessableError);
    expect(e).toMatchObject({
      status: 422,
      message: `row 1 has ${width + 1} features; the model expects ${width}`,
      details: { row: 1, expected_features: width },
    });
    // and the model still answers afterwards
    expect((await model.predictRows(iris.expected.rows)).predictions).toEqual(iris.expected.labels);
  });

  test("onnxruntime's refusal of a feed rejects with its message", async () => {
    await expect(model.run({ input: { type: "float32", data: new Float32Array(3), dims: [1, 3] } })).rejects.toThrow(/dimension|Got invalid/i);
  });
});

describe("release", () => {
  test("is idempotent, and later calls reject", async () => {
    const m = await openWorkerSession(iris.onnxPath);
    await m.release();
    await m.release();
    await expect(m.predictRows(iris.expected.rows)).rejects.toThrow("the model's worker has stopped");
  });

  test("gives a big model's memory back: four load-release cycles grow RSS by less than one loaded copy", async () => {
    const big = await makeBigModel(join(dir, "big.onnx"));
    const rss = () => process.memoryUsage().rss;
    const base = rss();
    let loadedCost = 0;
    let afterFirst = 0;
    for (let i = 0; i < 4; i++) {
      const m = await openWorkerSession(big);
      if (i === 0) loadedCost = rss() - base;
      await m.release();
      if (i === 0) afterFirst = rss();
    }
    // A session left behind by each release would add a whole loaded copy per cycle.
    expect(loadedCost).toBeGreaterThan(20 * 1024 * 1024);
    expect(rss() - afterFirst).toBeLessThan(loadedCost);
  }, 120_000);

  test("an idle, never released model does not keep a process from exiting", async () => {
    const script = `
      import { openWorkerSession } from ${JSON.stringify(resolve(import.meta.dir, "worker-session.ts"))};
      const m = await openWorkerSession(${JSON.stringify(iris.onnxPath)});
      console.log(JSON.stringify((await m.predictRows(${JSON.stringify(iris.expected.rows)})).predictions));
    `;
    const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const code = await Promise.race([proc.exited, pace(30_000).then(() => "still running")]);
    if (code !== 0) proc.kill("SIGKILL");
    expect({ code, err: code === 0 ? "" : await new Response(proc.stderr).text() }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(await new Response(proc.stdout).text())).toEqual(iris.expected.labels);
  }, 60_000);
});
