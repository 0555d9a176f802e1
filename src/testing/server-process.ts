// Test support: the server as a real child process (`bun src/main.ts serve`), for tests where the server itself
// may be hurt (signalled, stopped) and the test runner must survive to tell.
import { join } from "node:path";
import { ADMIN_TOKEN, ROOT, VENV_BIN, WEBHOOK_SECRET } from "./e2e.ts";

export type ServerProcess = {
  proc: Bun.Subprocess;
  base: string;
  /** fetch on the API with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** SIGKILL the server if it still runs (after a SIGCONT, in case something stopped it) and wait for it. */
  kill(): Promise<void>;
};

/** A free loopback port (bound and released). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

/** Spawn the server on `dataDir` with the test tokens plus `env`, and wait until /health answers 200. Output goes to `<dataDir>/server.{out,err}`. */
export async function spawnServerProcess(dataDir: string, env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ServerProcess> {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = Bun.spawn([process.execPath, join(ROOT, "src", "main.ts"), "serve"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? dataDir,
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
      ADMIN_TOKEN,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PAPERMILL: join(VENV_BIN, "papermill"),
      PYTHON: join(VENV_BIN, "python"),
      LOG_LEVEL: "warn",
      WORKER_CONCURRENCY: "1",
      ...env,
    },
    stdin: "ignore",
    stdout: Bun.file(join(dataDir, "server.out")),
    stderr: Bun.file(join(dataDir, "server.err")),
  });
  const server: ServerProcess = {
    proc,
    base,
    api: (path, init = {}) =>
      fetch(base + path, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...(init.headers as Record<string, string>) } }),
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`${base}/health`).then((r) => r.status === 200, () => false);
    if (ok) return server;
    if (proc.exitCode !== null || Date.now() > deadline) {
      await server.kill();
      throw new Error(`the server did not start (exit ${proc.exitCode}); see ${join(dataDir, "server.err")}`);
    }
    await Bun.sleep(50);
  }
}
