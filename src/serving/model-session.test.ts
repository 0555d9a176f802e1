import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnprocessableError } from "../lib/errors.ts";
import { ModelLoadError, openModelSession, type ModelSession } from "./model-session.ts";
import { makeTestModel, makeTestRegressor, type TestModel } from "../testing/test-models.ts";

let dir: string;
let fixture: TestModel;
let model: ModelSession;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mlops-model-session-"));
  fixture = await makeTestModel(dir);
  model = await openModelSession(fixture.onnxPath);
}, 60_000);

afterAll(async () => {
  await model?.release();
  rmSync(dir, { recursive: true, force: true });
});

async function loadError(path: string): Promise<unknown> {
  return openModelSession(path).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe("openModelSession on a scikit-learn classifier", () => {
  test("reads the signature, dynamic batch dimension as null", () => {
    const features = fixture.expected.rows[0]!.length;
    const classes = fixture.expected.probabilities[0]!.length;
    expect(model.signature.inputs).toEqual([{ name: "input", type: "float32", shape: [null, features] }]);
    const labelType = typeof fixture.expected.labels[0] === "string" ? "string" : "int64";
    expect(model.signature.outputs).toContainEqual({ name: "label", type: labelType, shape: [null] });
    expect(model.signature.outputs).toContainEqual({ name: "probabilities", type: "float32", shape: [null, classes] });
  });

  test("predictRows answers what scikit-learn answered", async () => {
    const { rows, labels, probabilities } = fixture.expected;
    const answer = await model.predictRows(rows);
    expect(answer.predictions).toEqual(labels);
    expect(answer.probabilities).toHaveLength(rows.length);
    answer.probabilities!.forEach((row, i) => {
      expect(row).toHaveLength(probabilities[i]!.length);
      row.forEach((p, j) => expect(Math.abs(p - probabilities[i]![j]!)).toBeLessThan(1e-5));
    });
  });

  test("run returns the raw output tensors", async () => {
    const row = fixture.expected.rows[0]!;
    const out = await model.run({ input: { type: "float32", data: Float32Array.from(row), dims: [1, row.length] } });
    expect(Object.keys(out)).toEqual(expect.arrayContaining(["label", "probabilities"]));
    expect(out.probabilities!.dims).toEqual([1, fixture.expected.probabilities[0]!.length]);
  });

  test("rows of the wrong width, no rows and non-finite values are 422 errors naming what was expected", async () => {
    const width = fixture.expected.rows[0]!.length;
    const tooShort = model.predictRows([new Array(width - 1).fill(0)]);
    await expect(tooShort).rejects.toBeInstanceOf(UnprocessableError);
    await expect(tooShort).rejects.toMatchObject({ status: 422, message: `row 0 has ${width - 1} features; the model expects ${width}` });
    await expect(model.predictRows([new Array(width).fill(0), new Array(width + 1).fill(0)])).rejects.toMatchObject({
      status: 422,
      details: { row: 1, expected_features: width },
    });
    await expect(model.predictRows([])).rejects.toMatchObject({ status: 422, message: "no rows to predict" });
    await expect(model.predictRows([[Number.NaN, ...new Array(width - 1).fill(0)]])).rejects.toMatchObject({ status: 422 });
  });
});

describe("openModelSession on a regressor", () => {
  test("predictions are the regressor's numbers, without probabilities", async () => {
    const path = join(dir, "regressor.onnx");
    const expected = await makeTestRegressor(path);
    const regressor = await openModelSession(path);
    try {
      expect(regressor.signature.outputs).toEqual([{ name: "variable", type: "float32", shape: [null, 1] }]);
      const answer = await regressor.predictRows(expected.rows);
      expect(answer.probabilities).toBeUndefined();
      answer.predictions.forEach((p, i) => expect(Math.abs((p as number) - expected.predictions[i]!)).toBeLessThan(1e-4));
    } finally {
      await regressor.release();
      await regressor.release(); // idempotent
    }
  }, 60_000);
});

describe("openModelSession on files that are not models", () => {
  test("a missing file is a ModelLoadError naming the path", async () => {
    const path = join(dir, "missing.onnx");
    const e = await loadError(path);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect(e).toMatchObject({ status: 422, message: `could not load ONNX model: no file at ${path}`, details: { path } });
  });

  test("a directory is not a model file", async () => {
    expect(await loadError(dir)).toBeInstanceOf(ModelLoadError);
  });

  test("a file that is not ONNX is a ModelLoadError with onnxruntime's reason", async () => {
    const path = join(dir, "not-onnx.onnx");
    writeFileSync(path, "this is not a model\n");
    const e = await loadError(path);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toStartWith(`could not load ONNX model: ${path}: `);
  });

  test("a truncated ONNX file is a ModelLoadError", async () => {
    const bytes = new Uint8Array(await Bun.file(fixture.onnxPath).arrayBuffer());
    const path = join(dir, "truncated.onnx");
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const e = await loadError(path);
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toStartWith("could not load ONNX model: ");
  });
});
