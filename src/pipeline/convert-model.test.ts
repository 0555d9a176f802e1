// The joblib → ONNX converter on real models of each family, run as the pipeline runs it (in the bubblewrap sandbox,
// without network), its ONNX run with onnxruntime-node and compared with what the model's own library predicted.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { NotebookSandbox } from "../sandbox/notebook-sandbox.ts";
import { loadOnnxRuntime } from "../serving/onnx-runtime.ts";
import { FAMILIES_PYTHON, type FamilyCase, makeFamilyModels } from "../testing/test-model-families.ts";
import { convertJoblib } from "./convert-joblib.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
/** The notebook runtime: scikit-learn and skl2onnx, but no xgboost, lightgbm, catboost, onnxmltools or onnxruntime. */
const RUNTIME_PYTHON = join(ROOT, ".venv", "bin", "python");
const LIMITS = { dataBytes: 8 * 1024 * 1024 * 1024, processes: 1024, fileBytes: 4 * 1024 * 1024 * 1024 };

let base: string;
let dataDir: string;
let modelsDir: string;
let sandbox: NotebookSandbox;
let cases: Record<string, FamilyCase>;
let nextPipeline = 1;

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "mlops-convert-"));
  dataDir = join(base, "data");
  modelsDir = join(base, "models");
  mkdirSync(join(dataDir, "runtime"), { recursive: true });
  mkdirSync(modelsDir, { recursive: true });
  cases = await makeFamilyModels(modelsDir);
  sandbox = await NotebookSandbox.start({
    setting: "bwrap",
    executables: [FAMILIES_PYTHON, RUNTIME_PYTHON],
    privateDirs: [dataDir],
    limits: LIMITS,
    scratchDir: join(dataDir, "runtime"),
  });
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

type Conversion = { workDir: string; input: string; output: string; lines: string[]; error?: string; sampleRows?: unknown[] | null };

/**
 * Convert model `name` as a pipeline would: copied into a fresh work dir, converted in that dir's sandbox. `leave` puts
 * in the work dir what the notebook would have left there.
 */
async function convert(name: string, python = FAMILIES_PYTHON, leave?: (workDir: string) => void): Promise<Conversion> {
  const id = nextPipeline++;
  const workDir = join(dataDir, "pipelines", String(id));
  mkdirSync(workDir, { recursive: true });
  const input = join(workDir, "model.joblib");
  copyFileSync(join(modelsDir, name, "model.joblib"), input);
  leave?.(workDir);
  const output = `${input}.onnx`;
  const lines: string[] = [];
  let error: string | undefined;
  let sampleRows: unknown[] | null | undefined;
  try {
    ({ sampleRows } = await convertJoblib({
      python,
      runtimeDir: join(dataDir, "runtime"),
      input,
      output,
      workDir,
      sandbox: sandbox.prepare(workDir, id),
      log: (line) => lines.push(line),
    }));
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  return { workDir, input, output, lines, error, sampleRows };
}

type Answer = { inputs: readonly string[]; outputs: readonly string[]; results: Record<string, { type: string; data: unknown; dims: readonly number[] }> };

/** Run the converted model with onnxruntime-node (the server's runtime) on the case's rows. */
async function runConverted(path: string, c: FamilyCase): Promise<Answer> {
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(path);
  try {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    if (c.layout === "matrix") {
      const rows = c.rows as number[][];
      feeds[session.inputNames[0]!] = new ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, rows[0]!.length]);
    } else {
      for (const [name, values] of Object.entries(c.rows as Record<string, (string | number)[]>)) {
        const type = c.columnTypes![name]!;
        const data =
          type === "string" ? values.map(String) : type === "int64" ? BigInt64Array.from(values.map((v) => BigInt(v))) : Float32Array.from(values as number[]);
        feeds[name] = new ort.Tensor(type, data, [values.length, 1]);
      }
    }
    const results = await session.run(feeds);
    return { inputs: session.inputNames, outputs: session.outputNames, results };
  } finally {
    await session.release();
  }
}

const plain = (data: unknown): (number | string)[] => Array.from(data as ArrayLike<number | bigint | string>, (v) => (typeof v === "bigint" ? Number(v) : v));

function rowsOf(flat: number[], width: number): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < flat.length; i += width) rows.push(flat.slice(i, i + width));
  return rows;
}

/** The converted model answers what the library answered: labels exactly, probabilities and values to float32 rounding. */
function expectSameAnswers(answer: Answer, c: FamilyCase): void {
  if (c.task === "classification") {
    expect([...answer.outputs]).toEqual(["label", "probabilities"]);
    expect(plain(answer.results.label!.data)).toEqual(c.labels!);
    const width = c.probabilities![0]!.length;
    expect([...answer.results.probabilities!.dims]).toEqual([c.probabilities!.length, width]);
    const got = rowsOf(plain(answer.results.probabilities!.data) as number[], width);
    got.forEach((row, i) => row.forEach((p, j) => expect(Math.abs(p - c.probabilities![i]![j]!)).toBeLessThan(1e-4)));
  } else {
    expect([...answer.outputs]).toEqual(["variable"]);
    expect([...answer.results.variable!.dims]).toEqual([c.values!.length, 1]);
    const got = plain(answer.results.variable!.data) as number[];
    got.forEach((v, i) => expect(Math.abs(v - c.values![i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(c.values![i]!)) * 10));
  }
}

/** A failed conversion left the work dir as it was: the model untouched, no ONNX file, no temporary file. */
function expectNothingWritten(run: Conversion, name: string): void {
  expect(existsSync(run.output)).toBe(false);
  expect(readdirSync(run.workDir).sort()).toEqual([".sandbox", "model.joblib"]);
  expect(readdirSync(join(run.workDir, ".sandbox")).sort()).toEqual(["convert_model.py", "etc", "home", "mlops_convert", "tmp"]);
  expect(readFileSync(run.input).equals(readFileSync(join(modelsDir, name, "model.joblib")))).toBe(true);
}

describe("converting the common model families", () => {
  for (const [name, family] of [
    ["xgboost-binary", "xgboost"],
    ["xgboost-multiclass", "xgboost"],
    ["xgboost-regressor", "xgboost"],
    ["xgboost-in-pipeline", "xgboost"],
    ["lightgbm-binary", "lightgbm"],
    ["lightgbm-multiclass", "lightgbm"],
    ["lightgbm-regressor", "lightgbm"],
    ["lightgbm-in-pipeline", "lightgbm"],
    ["randomized-search", "lightgbm"],
    ["catboost-binary", "catboost"],
    ["catboost-multiclass", "catboost"],
    ["catboost-regressor", "catboost"],
    ["dummy-prior", "scikit-learn"],
    ["dummy-most-frequent", "scikit-learn"],
    ["dummy-constant", "scikit-learn"],
    ["dummy-mean", "scikit-learn"],
    ["dummy-quantile", "scikit-learn"],
  ] as const) {
    test(`${name}: one float input, the library's own answers from onnxruntime-node`, async () => {
      const c = cases[name]!;
      const run = await convert(name);
      expect(run.error).toBeUndefined();
      const answer = await runConverted(run.output, c);
      expect([...answer.inputs]).toEqual(["input"]);
      expectSameAnswers(answer, c);
      const outputs =
        c.task === "classification" ? `label: ${typeof c.labels![0] === "string" ? "string" : "int64"}, probabilities: float32` : "variable: float32";
      expect(run.lines).toContain(`converted to ONNX (${family}; inputs input: float32; outputs ${outputs})`);
      expect(run.lines).toContain("the converted model agrees with the original on 32 sample rows");
      // The first rows it was checked on come back, one number per feature, for the page's Try it.
      const width = (c.rows as number[][])[0]!.length;
      expect(run.sampleRows).toHaveLength(3);
      for (const row of run.sampleRows as number[][]) expect(row.map((v) => typeof v === "number" && Number.isFinite(v))).toEqual(new Array(width).fill(true));
    });
  }

  for (const name of ["columns-logistic", "columns-ridge"]) {
    test(`${name}: a ColumnTransformer over a DataFrame takes one typed input per column it uses`, async () => {
      const c = cases[name]!;
      const run = await convert(name);
      expect(run.error).toBeUndefined();
      const answer = await runConverted(run.output, c);
      // In the DataFrame's column order; "note" is dropped by the model, so it is no input.
      expect([...answer.inputs]).toEqual(["review", "city", "rooms", "nights", "price"]);
      expectSameAnswers(answer, c);
      const outputs = c.task === "classification" ? "label: int64, probabilities: float32" : "variable: float32";
      expect(run.lines).toContain(
        `converted to ONNX (scikit-learn; inputs review: string, city: string, rooms: int64, nights: float32, price: float32; outputs ${outputs})`,
      );
      // Its sample rows are records by input name, each value of its input's type.
      expect(run.sampleRows).toHaveLength(3);
      for (const row of run.sampleRows as Record<string, unknown>[]) {
        expect(Object.keys(row)).toEqual(["review", "city", "rooms", "nights", "price"]);
        expect([typeof row.review, typeof row.city, Number.isInteger(row.rooms), typeof row.nights, typeof row.price]).toEqual([
          "string",
          "string",
          true,
          "number",
          "number",
        ]);
      }
    });
  }

  test("the notebook runtime, without xgboost, onnxmltools or onnxruntime, still converts scikit-learn and Dummy models", async () => {
    for (const name of ["sklearn-pipeline", "dummy-prior"]) {
      const run = await convert(name, RUNTIME_PYTHON);
      expect(run.error).toBeUndefined();
      expectSameAnswers(await runConverted(run.output, cases[name]!), cases[name]!);
    }
  });
});

test("links the notebook left under the converter's names in its work dir are replaced, never written through", async () => {
  const outside = join(base, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "keep.txt"), "not the converter");
  const run = await convert("dummy-mean", FAMILIES_PYTHON, (workDir) => {
    mkdirSync(join(workDir, ".sandbox"));
    symlinkSync(outside, join(workDir, ".sandbox", "mlops_convert"));
    symlinkSync(join(outside, "keep.txt"), join(workDir, ".sandbox", "convert_model.py"));
  });
  expect(run.error).toBeUndefined();
  expect(readdirSync(outside)).toEqual(["keep.txt"]);
  expect(readFileSync(join(outside, "keep.txt"), "utf8")).toBe("not the converter");
});

describe("models that cannot be converted", () => {
  const WHAT_CONVERTS = "Converted here: scikit-learn estimators that skl2onnx converts";
  const EXPORT_ONNX = "or export ONNX in the notebook: write the ONNX model itself to MODEL_OUTPUT_PATH, see docs/notebook-contract.md";

  for (const [name, named] of [
    ["label-spreading-in-pipeline", "cannot convert sklearn.semi_supervised.LabelSpreading (step 'spread' of the Pipeline) to ONNX: no converter knows it."],
    ["notebook-class", "cannot convert __main__.Threshold to ONNX: it is a class defined in the notebook, which cannot be loaded outside it."],
    ["dummy-uniform", "cannot convert sklearn.dummy.DummyClassifier(strategy='uniform') to ONNX: it answers at random, which no ONNX graph reproduces."],
    [
      "catboost-categorical",
      "cannot convert catboost.core.CatBoostClassifier to ONNX: it uses categorical features (city), which CatBoost's ONNX export does not support (train on numeric features only).",
    ],
  ] as const) {
    test(`${name}: one line naming it, what converts and how to export ONNX instead; nothing written`, async () => {
      const run = await convert(name);
      expect(run.error).toStartWith(named);
      expect(run.error).toContain(WHAT_CONVERTS);
      expect(run.error).toEndWith(EXPORT_ONNX);
      expect(run.error).not.toContain("\n");
      expect(run.error).not.toContain("Traceback");
      expectNothingWritten(run, name);
    });
  }
});
