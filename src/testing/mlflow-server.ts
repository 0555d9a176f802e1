// Test support: a real MLflow tracking server (./.venv-mlflow, built by scripts/setup.sh --test) on a loopback port,
// with a SQLite backend store and proxied artifacts in a temp dir.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { killTree } from "../lib/process-tree.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const MLFLOW_BIN = join(ROOT, ".venv-mlflow", "bin", "mlflow");
const START_TIMEOUT_MS = 60_000;
const STDERR_TAIL_CHARS = 4000;

export type MlflowServer = {
  /** http://127.0.0.1:<port>, without trailing slash. */
  url: string;
  port: number;
  /** Holds mlflow.db and artifacts/. */
  dir: string;
  /** Kill the server and its workers (whole process group); removes `dir` unless it was passed in. Idempotent. */
  stop(): Promise<void>;
};

/** A free TCP port on 127.0.0.1 (free when asked; another process could take it before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once("error", () => ok(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => ok(true)));
  });
}

/**
 * Start `mlflow server` and resolve once GET /health answers 200. `port` (default: a free one) lets a test start
 * MLflow later on a port it handed out earlier; `dir` (default: a new temp dir, removed by stop) lets a restart keep
 * the data. Throws when .venv-mlflow is missing, the port is taken, or the server exits or is not ready within 60 s
 * (with the tail of its stderr).
 */
export async function startMlflowServer(opts: { port?: number; dir?: string } = {}): Promise<MlflowServer> {
  if (!existsSync(MLFLOW_BIN)) throw new Error(`${MLFLOW_BIN} is missing: run scripts/setup.sh --test`);
  const port = opts.port ?? (await freePort());
  // Health would otherwise be answered by whatever already listens there.
  if (opts.port !== undefined && !(await portIsFree(port))) throw new Error(`cannot start MLflow: port ${port} on 127.0.0.1 is in use`);
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "mlops-mlflow-"));
  mkdirSync(join(dir, "artifacts"), { recursive: true });
  const url = `http://127.0.0.1:${port}`;

  const args = [
    "server",
    // Four slashes: sqlite:/// plus the absolute path.
    "--backend-store-uri",
    `sqlite:///${join(dir, "mlflow.db")}`,
    "--artifacts-destination",
    join(dir, "artifacts"),
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "--workers",
    "1",
  ];
  // Own process group (detached), so stop() reaches the uvicorn/gunicorn workers it forks.
  const child = spawn(MLFLOW_BIN, args, {
    cwd: dir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PYTHONUNBUFFERED: "1",
      // The job runner (huey consumers) serves GenAI features only; off, the server starts faster with fewer processes.
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: "false",
      MLFLOW_DISABLE_TELEMETRY: "true",
      DO_NOT_TRACK: "true",
    },
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-STDERR_TAIL_CHARS);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let exitCode: number | string | null | undefined;
  const exited = new Promise<void>((done) =>
    child.once("exit", (code, sig) => {
      exitCode = code ?? sig;
      done();
    }),
  );
  const pid = child.pid!;
  // Never leave a server behind when the test process ends without calling stop().
  const onExit = () => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  };
  process.on("exit", onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off("exit", onExit);
    if (exitCode === undefined) {
      killTree(pid);
      await exited;
    }
    if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
  };

  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitCode !== undefined) {
      await stop();
      throw new Error(`mlflow server on port ${port} exited (${exitCode}) before it was ready:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`mlflow server on port ${port} did not answer GET /health within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    }
    await Bun.sleep(100);
  }
  return { url, port, dir, stop };
}
