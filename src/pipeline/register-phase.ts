// Phase 5: the exported model becomes a new stored version (ONNX file, sha256, metrics, lineage).
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { containedFileSize, UncontainedFileError } from "../lib/contained-file.ts";
import { ModelOwnedError } from "../models/model-owners.ts";
import { PhaseError, type PipelineContext } from "./pipeline-context.ts";
import { FailureKind } from "./pipeline-failure.ts";

/** Largest metrics file read: a flat object of numbers is a few KB. */
const MAX_METRICS_BYTES = 1024 * 1024;

/** Sniff the exported file: ONNX protobufs start with field 1 (ir_version) as a varint, tag byte 0x08. */
export function modelFormat(path: string): "onnx" | "joblib" {
  const head = readFileSync(path).subarray(0, 1);
  return head[0] === 0x08 ? "onnx" : "joblib";
}

/** Read METRICS_OUTPUT_PATH (a plain file of at most 1 MB in `root`): a flat JSON object; numbers are kept, other values are reported and dropped. */
export function readMetrics(path: string, log: (line: string) => void, root: string): Record<string, number> {
  if (!existsSync(path)) {
    log("no metrics file was written to METRICS_OUTPUT_PATH");
    return {};
  }
  checkOutput(path, root, MAX_METRICS_BYTES, "the metrics file at METRICS_OUTPUT_PATH");
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new PhaseError("the metrics file at METRICS_OUTPUT_PATH is not valid JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new PhaseError("the metrics file at METRICS_OUTPUT_PATH must hold a JSON object of numbers");
  }
  const metrics: Record<string, number> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v === "number" && Number.isFinite(v)) metrics[k] = v;
    else log(`metric "${k}" ignored: not a finite number`);
  }
  return metrics;
}

/** Size of a file the pushed code wrote, once checked to be a plain file in the work dir (throws PhaseError otherwise). */
function checkOutput(path: string, root: string, maxBytes: number, what: string): number {
  try {
    return containedFileSize(path, root, maxBytes, what);
  } catch (e) {
    if (e instanceof UncontainedFileError) throw new PhaseError(e.message);
    throw e;
  }
}

/**
 * Convert if needed, check the ONNX model loads, then store it as the model's next version, claiming the model name
 * for the pipeline's repository. Throws PhaseError (with nothing stored when the name belongs to another repository).
 */
export async function registerPhase(ctx: PipelineContext): Promise<void> {
  const { services, pipeline, outputs } = ctx;
  const modelName = ctx.modelName!;
  const maxModelBytes = services.config.notebook.maxFileMb * 1024 * 1024;
  if (!outputs || !existsSync(outputs.model) || checkOutput(outputs.model, ctx.workDir, maxModelBytes, "the model at MODEL_OUTPUT_PATH") === 0) {
    throw new PhaseError("the notebook wrote no model: the mlops:export cell must save it to MODEL_OUTPUT_PATH");
  }
  // Metrics the notebook logged to MLflow count too; the metrics file wins where both name one.
  const logged = (await services.tracking?.loggedMetrics(pipeline.id, ctx.log)) ?? {};
  const metrics = { ...logged, ...readMetrics(outputs.metrics, ctx.log, ctx.workDir) };
  const format = modelFormat(outputs.model);
  let onnxPath = outputs.model;
  let sampleRows: string | null = null;
  if (format === "joblib") {
    onnxPath = `${outputs.model}.onnx`;
    ctx.log("converting the joblib model to ONNX and checking it agrees with the original");
    try {
      const converted = await services.convertJoblib({
        input: outputs.model,
        output: onnxPath,
        workDir: ctx.workDir,
        pipelineId: pipeline.id,
        environment: ctx.environment,
        log: ctx.log,
      });
      sampleRows = converted.sampleRows ? JSON.stringify(converted.sampleRows) : null;
    } catch (e) {
      throw new PhaseError(`could not convert the exported model to ONNX: ${e instanceof Error ? e.message : String(e)}`, { kind: FailureKind.conversion });
    }
    checkOutput(onnxPath, ctx.workDir, maxModelBytes, "the converted model");
  }
  let signature: string;
  try {
    const model = await services.loadModel(onnxPath);
    signature = JSON.stringify(model.signature);
    await model.release();
  } catch (e) {
    throw new PhaseError(`the exported model is not a loadable ONNX model: ${e instanceof Error ? e.message : String(e)}`, { kind: FailureKind.conversion });
  }
  const bytes = readFileSync(onnxPath);
  const sha256 = createHash("sha256").update(bytes).digest("hex");

  // Files go to a staging dir first; the rename to <name>/<version> happens inside the insert's transaction.
  const modelsDir = join(services.config.dataDir, "models", modelName);
  const staging = join(modelsDir, `.staging-${pipeline.id}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  copyFileSync(onnxPath, join(staging, "model.onnx"));
  if (format === "joblib") copyFileSync(outputs.model, join(staging, "model.joblib"));
  const place = (version: number) => {
    const dir = join(modelsDir, String(version));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return join(dir, "model.onnx");
  };
  const version = {
    modelName,
    status: "registered",
    path: join(modelsDir, "{version}", "model.onnx"),
    sha256,
    format,
    metrics: JSON.stringify(metrics),
    signature,
    repoId: ctx.repo.id,
    commitSha: pipeline.commitSha,
    notebookPath: pipeline.notebookPath,
    pipelineId: pipeline.id,
    notebookVersion: ctx.notebookVersion ?? null,
    sampleRows,
  };
  let row;
  try {
    // The name is claimed in the insert's transaction: of two repositories that both passed validate, one stores a version.
    row = services.models.register(version, place, { owner: ctx.repo.full_name });
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    if (e instanceof ModelOwnedError) throw new PhaseError(e.message);
    throw e;
  }
  services.store.update(pipeline.id, { metrics: JSON.stringify(metrics), modelVersion: row.version });
  ctx.registered = { version: row.version, path: row.path, metrics };
  ctx.log(`registered ${modelName} version ${row.version} (${format}, sha256 ${sha256.slice(0, 12)}, metrics ${JSON.stringify(metrics)})`);
}
