// Test support: the real server as a child process (`bun src/main.ts serve`), for what only a whole process shows
// (signals, exit codes, what is left running after it exits) and for tests where the server itself may be hurt
// (signalled, stopped) and the test runner must survive to tell.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, ROOT, VENV_BIN, WEBHOOK_SECRET } from "./e2e.ts";
import { eventually } from "./eventually.ts";

export type ServerProcess = MlopsProcess & {
  /** A call to the JSON API with the admin token. */
  api(path: string, init?: RequestInit): Promise<Response>;
};

/** A free loopback port (a probe server binds port 0, notes the port and closes). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

/**
 * Run `bun src/main.ts <args>` to its end with only PATH and `env` in its environment (a command that should start, or
 * refuse to, on what it is given); returns its exit code and what it printed.
 */
export async function runMlopsCommand(args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src", "main.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, out, err };
}

/** A command of mlops running as a child process, its output in files of its data dir. */
export type MlopsProcess = {
  proc: Bun.Subprocess;
  base: string;
  /** What the process printed so far (stdout and stderr). */
  output(): string;
  /** SIGKILL it if it still runs (after a SIGCONT, in case something stopped it) and wait for it. */
  kill(): Promise<void>;
};

/**
 * Spawn `bun src/main.ts <args>` (or `opts.command` <args>, e.g. a compiled executable) on `dataDir` and `port`, with
 * loopback, the notebook runtime and `LOG_LEVEL=info`, plus `env`; its output goes to `<dataDir>/<name>.out|.err`.
 * `prefix` runs before the command and must exec it (e.g. setpriv), so the pid is mlops'. Does not wait for it to listen.
 */
export function spawnMlops(
  args: string[],
  opts: { dataDir: string; port: number; name: string; env?: Record<string, string>; prefix?: string[]; command?: string[] },
): MlopsProcess {
  const out = join(opts.dataDir, `${opts.name}.out`);
  const err = join(opts.dataDir, `${opts.name}.err`);
  const proc = Bun.spawn([...(opts.prefix ?? []), ...(opts.command ?? [process.execPath, join(ROOT, "src", "main.ts")]), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? opts.dataDir,
      DATA_DIR: opts.dataDir,
      PORT: String(opts.port),
      HOST: "127.0.0.1",
      PAPERMILL: join(VENV_BIN, "papermill"),
      PYTHON: join(VENV_BIN, "python"),
      LOG_LEVEL: "info",
      ...opts.env,
    },
    stdin: "ignore",
    stdout: Bun.file(out),
    stderr: Bun.file(err),
  });
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return "";
    }
  };
  return {
    proc,
    base: `http://127.0.0.1:${opts.port}`,
    output: () => read(out) + read(err),
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGCONT");
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

/**
 * Spawn `bun src/main.ts serve` (see spawnMlops) with the test admin token and webhook secret, plus `env`. Does not
 * wait for it to listen.
 */
export function spawnServer(opts: Parameters<typeof spawnMlops>[1]): ServerProcess {
  const server = spawnMlops(["serve"], { ...opts, env: { ADMIN_TOKEN, GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, ...opts.env } });
  return {
    ...server,
    api: (path, init = {}) =>
      fetch(server.base + path, {
        ...init,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...(init.headers as Record<string, string>) },
      }),
  };
}

/** Spawn the server on `dataDir` (one worker, warnings only, plus `env`) on a free port and wait until /health answers 200. Output goes to `<dataDir>/server.{out,err}`. */
export async function spawnServerProcess(dataDir: string, env: Record<string, string> = {}, timeoutMs = 20_000): Promise<ServerProcess> {
  const server = spawnServer({ dataDir, port: freePort(), name: "server", env: { LOG_LEVEL: "warn", WORKER_CONCURRENCY: "1", ...env } });
  try {
    await waitForReady(server, timeoutMs);
    return server;
  } catch {
    await server.kill();
    throw new Error(`the server did not start (exit ${server.proc.exitCode}); see ${join(dataDir, "server.err")}`);
  }
}

/** `eventually` with positional arguments, as the process tests call it. */
export function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  return eventually(probe, { what, timeoutMs, everyMs });
}

/** Resolve once the server answers /health with 200. */
export function waitForReady(server: ServerProcess, timeoutMs = 30_000): Promise<true> {
  return waitUntil("the server to be ready", async () => ((await fetch(`${server.base}/health`)).status === 200 ? true : undefined), timeoutMs);
}
