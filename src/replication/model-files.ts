// The stored ONNX file of a model version, as GET /api/replication/models/{name}/versions/{v}/model.onnx serves it.
import { statSync } from "node:fs";
import { NotFoundError } from "../lib/errors.ts";
import type { ModelStore } from "../models/model-store.ts";

export type ModelFile = { path: string; sha256: string; size: number };

/**
 * Where version `version` of `modelName` is on disk, its stored sha256 and its size now. Throws NotFoundError for an
 * unknown model or version, and for a version whose file is gone from the data dir.
 */
export function modelFile(store: Pick<ModelStore, "get">, modelName: string, version: number): ModelFile {
  const row = store.get(modelName, version);
  try {
    return { path: row.path, sha256: row.sha256, size: statSync(row.path).size };
  } catch {
    throw new NotFoundError(`the file of model "${modelName}" version ${version} is missing on this server`);
  }
}
