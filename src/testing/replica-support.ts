// Test support for replicas: one in-process (startTestReplica) or as a child process (`bun src/main.ts replica`),
// and a cache seeded as a replica's earlier run leaves it.
import { copyFileSync, mkdirSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMlflowReplicaConfig, loadReplicaConfig } from "../config.ts";
import { openDatabase } from "../db/connection.ts";
import { ModelStore } from "../models/model-store.ts";
import { fileSha256, ModelCache } from "../replica/model-cache.ts";
import { type RunningReplica, startReplica } from "../replica/replica-server.ts";
import { ROOT } from "./e2e.ts";
import { freePort, type MlopsProcess, spawnMlops } from "./server-process.ts";

export type TestReplica = RunningReplica & { base: string; dataDir: string };

/** Start a replica of `primaryUrl` in this process on a free loopback port, with a temp data dir (or `dataDir`). */
export async function startTestReplica(
  primaryUrl: string,
  token: string,
  opts: { env?: Record<string, string>; dataDir?: string; client?: NonNullable<Parameters<typeof startReplica>[1]>["client"] } = {},
): Promise<TestReplica> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "mlops-replica-"));
  const config = loadReplicaConfig(
    { DATA_DIR: dataDir, PORT: "0", HOST: "127.0.0.1", REPLICA_TOKEN: token, LOG_LEVEL: "silent", SHUTDOWN_GRACE_SECONDS: "0", ...opts.env },
    primaryUrl,
    ROOT,
  );
  const replica = await startReplica(config, { client: opts.client });
  return { ...replica, base: `http://127.0.0.1:${replica.port}`, dataDir };
}

/**
 * Start a replica following MLflow at `mlflowUrl` (`mlops replica --follow-mlflow`) in this process on a free loopback
 * port, verifying with `signatureKey`, polling every second unless `env` says otherwise; `mlflow` tunes its source.
 */
export async function startMlflowTestReplica(
  mlflowUrl: string,
  signatureKey: string,
  opts: { env?: Record<string, string>; dataDir?: string; mlflow?: NonNullable<Parameters<typeof startReplica>[1]>["mlflow"] } = {},
): Promise<TestReplica> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "mlops-replica-"));
  const config = loadMlflowReplicaConfig(
    {
      DATA_DIR: dataDir,
      PORT: "0",
      HOST: "127.0.0.1",
      MLFLOW_TRACKING_URI: mlflowUrl,
      MLFLOW_SIGNATURE_KEY: signatureKey,
      MLFLOW_POLL_SECONDS: "1",
      LOG_LEVEL: "silent",
      SHUTDOWN_GRACE_SECONDS: "0",
      ...opts.env,
    },
    ROOT,
  );
  const replica = await startReplica(config, { mlflow: opts.mlflow });
  return { ...replica, base: `http://127.0.0.1:${replica.port}`, dataDir };
}

export type ReplicaProcess = MlopsProcess & { dataDir: string };

/**
 * Spawn `bun src/main.ts replica <primaryUrl>` (or `opts.command` … replica, e.g. a compiled executable) on `dataDir` and
 * `opts.port` (default: a free one) with `token`, plus `env` (see spawnMlops); does not wait for it to listen.
 */
export function spawnReplica(
  primaryUrl: string,
  token: string,
  dataDir: string,
  env: Record<string, string> = {},
  opts: { port?: number; command?: string[] } = {},
): ReplicaProcess {
  const port = opts.port ?? freePort();
  const replica = spawnMlops(["replica", primaryUrl], { dataDir, port, name: "replica", env: { REPLICA_TOKEN: token, ...env }, command: opts.command });
  return { ...replica, dataDir };
}

/** Leave in `dataDir` the cache a replica that served `models` (name → version and ONNX file) at `revision` would leave. */
export async function seedCache(dataDir: string, revision: number, models: Record<string, { version: number; onnxPath: string }>): Promise<void> {
  const cache = new ModelCache(join(dataDir, "replica"));
  const state: Record<string, { version: number; sha256: string; size: number }> = {};
  for (const [name, m] of Object.entries(models)) {
    const path = cache.path(name, m.version);
    mkdirSync(join(path, ".."), { recursive: true });
    copyFileSync(m.onnxPath, path);
    state[name] = { version: m.version, sha256: await fileSha256(path), size: statSync(path).size };
  }
  cache.writeState({ revision, models: state });
}

/**
 * Store `onnxPath` as the next version of `name` in the primary's database at `dataDir` (its file under the data dir,
 * its real sha256), as the register phase does; returns the version. Deploy it through the primary's API.
 */
export async function storeOnPrimary(dataDir: string, name: string, onnxPath: string): Promise<number> {
  const sha256 = await fileSha256(onnxPath);
  return withPrimaryStore(dataDir, (store) =>
    store.register({ modelName: name, status: "registered", path: "", sha256, format: "onnx" }, (version) => {
      const dir = join(dataDir, "models", name, String(version));
      mkdirSync(dir, { recursive: true });
      copyFileSync(onnxPath, join(dir, "model.onnx"));
      return join(dir, "model.onnx");
    }),
  ).version;
}

/** Run `fn` with a ModelStore on the primary's database at `dataDir` (a second connection: the primary may be running or stopped). */
export function withPrimaryStore<T>(dataDir: string, fn: (store: ModelStore) => T): T {
  const db = openDatabase(join(dataDir, "mlops.db"));
  try {
    return fn(new ModelStore(db));
  } finally {
    db.$client.close();
  }
}
