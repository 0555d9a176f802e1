// Test support for the prediction routes: real models made once per test file, stored and deployed in a test app.
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppDeps } from "../app.ts";
import type { ModelSignature } from "../serving/model-signature.ts";
import { makeMultiInputModel, type MultiInputModel } from "./test-serving-models.ts";
import { makeTestModel, makeTestRegressor, type TestModel } from "./test-models.ts";

export type ServingFixtures = {
  iris: TestModel;
  regressor: { onnxPath: string; rows: number[][]; predictions: number[] };
  multi: MultiInputModel;
};

/** The three test models (iris classifier, 3-feature regressor, multi-input string-label classifier), made in parallel. */
export async function makeServingFixtures(): Promise<ServingFixtures> {
  const dir = mkdtempSync(join(tmpdir(), "mlops-serving-models-"));
  const regressorPath = join(dir, "regressor.onnx");
  const [iris, regressor, multi] = await Promise.all([
    makeTestModel(join(dir, "iris")),
    makeTestRegressor(regressorPath),
    makeMultiInputModel(join(dir, "multi.onnx")),
  ]);
  return { iris, regressor: { onnxPath: regressorPath, ...regressor }, multi };
}

/**
 * Store `onnxPath` as the next version of `name` (copied under the data dir, as the register phase does); returns the
 * version. `signature`: what the register phase would store for it (read from the loaded model), else none.
 */
export function addVersion(deps: AppDeps, name: string, onnxPath: string, signature?: ModelSignature): number {
  const row = { modelName: name, status: "registered", path: "", sha256: "test", format: "onnx", ...(signature && { signature: JSON.stringify(signature) }) };
  return deps.modelStore.register(row, (version) => {
    const dir = join(deps.config.dataDir, "models", name, String(version));
    mkdirSync(dir, { recursive: true });
    copyFileSync(onnxPath, join(dir, "model.onnx"));
    return join(dir, "model.onnx");
  }).version;
}

/** Store `onnxPath` as a new version of `name` (with `signature`, see addVersion) and deploy it; returns the version. */
export async function deployVersion(deps: AppDeps, name: string, onnxPath: string, signature?: ModelSignature): Promise<number> {
  const version = addVersion(deps, name, onnxPath, signature);
  await deps.deployer.deploy(name, version, { reason: "manual", actor: "test" });
  return version;
}

/** A JSON POST for app.request. */
export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) };
}
