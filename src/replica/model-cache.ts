// A replica's file cache under DATA_DIR/replica: model files by name and version, and the last state it applied, so a
// replica started while the primary is away serves what it served before.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One model of a desired state: which version serves, and the sha256 (hex) and size of its ONNX file. */
export type ModelState = { version: number; sha256: string; size: number };

/** The primary's desired state (one SSE event of /api/replication/deployments). */
export type DesiredState = { revision: number; models: Record<string, ModelState> };

// The primary's own rule for model names (it starts with a letter or digit: never "." or ".."), so a name from the
// network never leaves the cache directory.
const MODEL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/i;
const SHA256_RE = /^[0-9a-f]{64}$/;

/** Whether `name` is a model name a state may carry (one the primary accepts; it never leaves the cache directory). */
export function isModelName(name: string): boolean {
  return MODEL_NAME_RE.test(name);
}

/**
 * Check a state read from the primary or from disk; returns it, or throws Error saying what is wrong with it
 * (a hostile or broken primary never gets a path outside the cache or a version that is not a whole number).
 */
export function checkState(value: unknown): DesiredState {
  const v = value as { revision?: unknown; models?: unknown } | null;
  if (typeof v !== "object" || v === null) throw new Error("the state is not a JSON object");
  if (!Number.isSafeInteger(v.revision) || (v.revision as number) < 0)
    throw new Error(`the state's revision ${JSON.stringify(v.revision)} is not a whole number`);
  if (typeof v.models !== "object" || v.models === null || Array.isArray(v.models)) throw new Error("the state's models are not a JSON object");
  const models: Record<string, ModelState> = {};
  for (const [name, m] of Object.entries(v.models as Record<string, unknown>)) {
    const s = m as Partial<ModelState> | null;
    if (!MODEL_NAME_RE.test(name)) throw new Error(`the state names a model ${JSON.stringify(name)} that is not a usable name`);
    if (!s || !Number.isSafeInteger(s.version) || (s.version as number) < 1) throw new Error(`model "${name}" has no whole version number in the state`);
    if (typeof s.sha256 !== "string" || !SHA256_RE.test(s.sha256)) throw new Error(`model "${name}" has no sha256 in the state`);
    if (!Number.isSafeInteger(s.size) || (s.size as number) < 0) throw new Error(`model "${name}" has no size in the state`);
    models[name] = { version: s.version as number, sha256: s.sha256, size: s.size as number };
  }
  return { revision: v.revision as number, models };
}

/** sha256 (hex) of a file's bytes. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The cache directory: `models/<name>/<version>.onnx` and `state.json`. */
export class ModelCache {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, "models"), { recursive: true, mode: 0o700 });
  }

  /** Where version `version` of `name` is (or would be) cached. `name` must have passed checkState. */
  path(name: string, version: number): string {
    return join(this.dir, "models", name, `${version}.onnx`);
  }

  /** A fresh temp path beside `path(name, version)`, for a download to be renamed into place. */
  tempPath(name: string, version: number): string {
    mkdirSync(join(this.dir, "models", name), { recursive: true, mode: 0o700 });
    return `${this.path(name, version)}.${process.pid}.${crypto.randomUUID()}.part`;
  }

  /** Whether the cached file of `name`@`version` exists and has exactly `sha256`. Never throws. */
  async holds(name: string, version: number, sha256: string): Promise<boolean> {
    const path = this.path(name, version);
    if (!existsSync(path)) return false;
    try {
      return (await fileSha256(path)) === sha256;
    } catch {
      return false;
    }
  }

  /** The last state written, or undefined when none was (or it cannot be read: then the replica starts empty). */
  readState(): DesiredState | undefined {
    const path = join(this.dir, "state.json");
    if (!existsSync(path)) return undefined;
    try {
      return checkState(JSON.parse(readFileSync(path, "utf8")));
    } catch {
      return undefined;
    }
  }

  /** Write `state` atomically (temp file, fsync'd by writeFileSync's close, then rename): a crash leaves the old or the new one. */
  writeState(state: DesiredState): void {
    const path = join(this.dir, "state.json");
    const temp = `${path}.${process.pid}.part`;
    writeFileSync(temp, `${JSON.stringify(state)}\n`, { mode: 0o600, flush: true });
    renameSync(temp, path);
  }

  /** Remove cached files (and stray temp files) of every model and version not in `keep`. */
  prune(keep: Record<string, { version: number }>): void {
    const root = join(this.dir, "models");
    for (const name of readdirSync(root)) {
      for (const file of readdirSync(join(root, name))) {
        if (keep[name] && file === `${keep[name].version}.onnx`) continue;
        rmSync(join(root, name, file), { force: true });
      }
      if (!keep[name]) rmSync(join(root, name), { recursive: true, force: true });
    }
  }
}

/** Move a finished download into place (rename within one directory: readers see the old file or the whole new one). */
export function moveIntoPlace(temp: string, path: string): void {
  renameSync(temp, path);
}
