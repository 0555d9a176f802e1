// joblib model (scikit-learn, XGBoost, LightGBM, CatBoost) → ONNX with the notebook environment's python, checked for
// agreement with the original (src/pipeline/python/convert_model.py says what converts and how).
// Unpickling runs code chosen by the push, so the converter runs in the pipeline's sandbox, without network,
// and what it prints is read with bounded memory.
import { constants, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readLines } from "../lib/log-lines.ts";
import { parseSampleRows, type SampleRow } from "../models/sample-rows.ts";
import type { PreparedRun } from "../sandbox/notebook-sandbox.ts";
import script from "./python/convert_model.py" with { type: "text" };
import init from "./python/mlops_convert/__init__.py" with { type: "text" };
import inputs from "./python/mlops_convert/inputs.py" with { type: "text" };
import knownConverters from "./python/mlops_convert/known_converters.py" with { type: "text" };
import modelParts from "./python/mlops_convert/model_parts.py" with { type: "text" };
import onnxExport from "./python/mlops_convert/onnx_export.py" with { type: "text" };
import outcome from "./python/mlops_convert/outcome.py" with { type: "text" };

const STDERR_TAIL = 20;
const MAX_LINE_CHARS = 2000;
// The result line carries sample rows (at most 16 000 characters of them) beside the inputs and warnings.
const MAX_RESULT_CHARS = 256_000;
const SCRIPT = "convert_model.py";
const PACKAGE = "mlops_convert";
/** The converter's files by path relative to the directory that holds them (the script imports the package beside it). */
export const CONVERTER_FILES: Readonly<Record<string, string>> = {
  [SCRIPT]: script,
  [`${PACKAGE}/__init__.py`]: init,
  [`${PACKAGE}/inputs.py`]: inputs,
  [`${PACKAGE}/known_converters.py`]: knownConverters,
  [`${PACKAGE}/model_parts.py`]: modelParts,
  [`${PACKAGE}/onnx_export.py`]: onnxExport,
  [`${PACKAGE}/outcome.py`]: outcome,
};

/** Write the embedded converter (script and package) under `runtimeDir` (each file once per content) and return the script's path. */
export function installConverter(runtimeDir: string): string {
  for (const [name, text] of Object.entries(CONVERTER_FILES)) {
    const path = join(runtimeDir, name);
    mkdirSync(dirname(path), { recursive: true });
    let current = "";
    try {
      current = readFileSync(path, "utf8");
    } catch {
      // not there yet
    }
    if (current !== text) writeFileSync(path, text);
  }
  return join(runtimeDir, SCRIPT);
}

/** Copy the installed converter into the work dir's .sandbox, replacing whatever the notebook left under those names. */
function placeConverter(runtimeDir: string, sandboxDir: string): string {
  installConverter(runtimeDir);
  // The notebook ran in this dir: a symlink it left under our names must be removed, never written through.
  rmSync(join(sandboxDir, SCRIPT), { force: true, recursive: true });
  rmSync(join(sandboxDir, PACKAGE), { force: true, recursive: true });
  mkdirSync(join(sandboxDir, PACKAGE));
  for (const name of Object.keys(CONVERTER_FILES)) copyFileSync(join(runtimeDir, name), join(sandboxDir, name), constants.COPYFILE_EXCL);
  return join(sandboxDir, SCRIPT);
}

export type ConvertOptions = {
  python: string;
  /** Where the converter script is kept between runs. */
  runtimeDir: string;
  input: string;
  output: string;
  /** The pipeline's directory, which holds input and output; the script is copied into it to be seen in the sandbox. */
  workDir: string;
  /** The prepared sandbox of the pipeline (workDir). */
  sandbox: PreparedRun;
  log: (line: string) => void;
  timeoutMs?: number;
};

/** What a conversion gives besides the ONNX file: the first rows the parity check ran (null when it sent none usable). */
export type Converted = { sampleRows: SampleRow[] | null };

/**
 * Convert `input` (joblib) to `output` (ONNX). Resolves when converted and agreeing with the original;
 * rejects with the converter's one-line reason otherwise. Converter stderr goes to `log`.
 */
export async function convertJoblib(opts: ConvertOptions): Promise<Converted> {
  const inside = placeConverter(opts.runtimeDir, join(opts.workDir, ".sandbox"));
  const argv = opts.sandbox.argv([opts.python, inside, opts.input, opts.output, "0"], opts.workDir, { network: false });
  const proc = Bun.spawn(argv, {
    cwd: opts.workDir,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: "/usr/bin:/bin", ...opts.sandbox.env, LANG: "C.UTF-8", PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
    timeout: opts.timeoutMs ?? 300_000,
  });
  let lastLine = "";
  const stderrTail: string[] = [];
  await Promise.all([
    readLines(proc.stdout.getReader(), (line) => line.trim() && (lastLine = line.trim()), MAX_RESULT_CHARS),
    readLines(
      proc.stderr.getReader(),
      (line) => {
        if (!line) return;
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
      },
      MAX_LINE_CHARS,
    ),
  ]);
  const code = await proc.exited;
  let result: ConverterResult = {};
  try {
    result = JSON.parse(lastLine);
  } catch {
    // no JSON: the interpreter itself failed (missing packages, killed by the timeout)
  }
  if (code === 0 && result.ok) {
    opts.log(`converted to ONNX (${result.family ?? "?"}; inputs ${describeTensors(result.inputs)}; outputs ${describeTensors(result.outputs)})`);
    opts.log(`the converted model agrees with the original on ${result.rows ?? "?"} sample rows`);
    return { sampleRows: parseSampleRows(result.sample_rows) };
  }
  for (const line of stderrTail) opts.log(line);
  const error = typeof result.error === "string" ? result.error.slice(0, MAX_LINE_CHARS) : undefined;
  throw new Error(
    error ?? `the converter exited with code ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}; is scikit-learn/skl2onnx installed for ${opts.python}?`,
  );
}

/** The converter's one JSON line (see convert_model.py). */
type ConverterResult = {
  ok?: boolean;
  error?: string;
  family?: string;
  rows?: number;
  inputs?: { name: string; type: string }[];
  outputs?: { name: string; type: string }[];
  sample_rows?: unknown;
};

function describeTensors(tensors: { name: string; type: string }[] | undefined): string {
  if (!Array.isArray(tensors)) return "?";
  const shown = tensors.slice(0, 12).map((t) => `${t.name}: ${t.type}`);
  return tensors.length > shown.length ? `${shown.join(", ")}, … (${tensors.length})` : shown.join(", ");
}
