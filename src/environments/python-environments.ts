// Per-repository Python environments: a repository's requirements.txt, resolved together with the platform's own
// packages by uv, built once per content and kept under DATA_DIR/environments/<key> for every pipeline that needs the
// same one. The key hashes the requirements, the Python version and the platform's packages, so a change to any of
// them makes a new environment and never alters one in use.
//
// Builds run in the notebook sandbox (with network, as the builder uid) with wheels only by default: installing a
// wheel runs no code, so one repository's build cannot plant code in the package cache that every build shares. With
// ENV_ALLOW_SDIST=true a build may run packages' build code, so it then gets a cache of its own.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Clock, systemClock } from "../lib/clock.ts";
import { readLines } from "../lib/log-lines.ts";
import { ENVIRONMENT_BUILDER_ID, type NotebookSandbox } from "../sandbox/notebook-sandbox.ts";
import platformRequirements from "./platform-requirements.txt" with { type: "text" };
import type { Requirements } from "./requirements-file.ts";

/** The platform's packages every environment holds (papermill, ipykernel, the converters), as uv reads them. */
export const PLATFORM_REQUIREMENTS: string = platformRequirements;

const MARKER = ".mlops-environment.json";
const CACHE_DIR = "uv-cache";
const BUILD_DIR = ".build";
const ERROR_LINES = 8;
const DAY_MS = 24 * 60 * 60 * 1000;

export type EnvironmentsOptions = {
  /** Where environments live (DATA_DIR/environments). */
  root: string;
  /** The uv executable (UV). */
  uv: string;
  /** The bundled runtime's python: its base interpreter is every environment's Python (no download, ever). */
  python: string;
  /** ENV_ALLOW_SDIST. */
  allowSdist: boolean;
  /** ENV_RETENTION_DAYS. */
  retentionDays: number;
  /** ENV_BUILD_TIMEOUT_SECONDS, in ms. */
  buildTimeoutMs: number;
  sandbox: Pick<NotebookSandbox, "prepare" | "grant">;
  /** Longest build log line kept. */
  maxLineChars: number;
  /** The package cache wheel-only builds share; default <root>/uv-cache (tests share one across data dirs). */
  cacheDir?: string;
  clock?: Clock;
};

/** A ready environment. */
export type PythonEnvironment = {
  key: string;
  /** The environment's directory: mounted read-only for the code that uses it. */
  dir: string;
  python: string;
  papermill: string;
  /** True when it was built before this request (by an earlier pipeline, or a concurrent one). */
  reused: boolean;
  /** `name==version` of everything installed. */
  packages: string[];
};

/** A build that failed: the message is the resolver's or installer's own words (or the time limit). */
export class EnvironmentBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnvironmentBuildError";
  }
}

type Marker = { key: string; requirements: string[]; python: string; packages: string[]; built_at: string; build_ms: number };
type BaseInterpreter = { executable: string; version: string };

/** Builds, shares and retires per-repository environments. One instance per server. */
export class PythonEnvironments {
  private readonly building = new Map<string, Promise<PythonEnvironment>>();
  private base?: Promise<BaseInterpreter>;
  private readonly clock: Clock;

  constructor(private readonly opts: EnvironmentsOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * The environment for `requirements`, built when missing (once, however many pipelines ask at the same time) and
   * reused otherwise. Progress goes to `log`. Rejects with EnvironmentBuildError when resolution or installation
   * fails, and with the signal's reason when `signal` aborts (a build others wait for goes on).
   */
  async ensure(requirements: Requirements, log: (line: string) => void, signal?: AbortSignal): Promise<PythonEnvironment> {
    const base = await this.baseInterpreter();
    const key = environmentKey(requirements.lines, base, this.opts.allowSdist);
    const dir = join(this.opts.root, key);
    log(
      `requirements from ${requirements.path} (${requirements.lines.length} line${requirements.lines.length === 1 ? "" : "s"}); environment ${key}, Python ${base.version}`,
    );
    const ready = this.readyEnvironment(key, log);
    if (ready) return ready;
    let build = this.building.get(key);
    const waiting = build !== undefined;
    if (build) log(`environment ${key} is being built for another pipeline; waiting for that build`);
    else {
      log(`cache miss: building environment ${key} with uv (wheels ${this.opts.allowSdist ? "preferred, source builds allowed" : "only"})`);
      build = this.build(key, dir, requirements, base, log).finally(() => this.building.delete(key));
      this.building.set(key, build);
    }
    const env = await untilAborted(build, signal);
    return waiting ? { ...env, reused: true } : env;
  }

  /**
   * Remove environments no pipeline used for ENV_RETENTION_DAYS (by the time of their last use), leftovers of builds
   * a crash cut short, and build scratch dirs; never one being built. Returns the keys removed.
   */
  sweep(): string[] {
    const removed: string[] = [];
    if (!existsSync(this.opts.root)) return removed;
    const oldest = this.clock.now() - this.opts.retentionDays * DAY_MS;
    for (const name of readdirSync(this.opts.root)) {
      if (name === CACHE_DIR || this.building.has(name)) continue;
      const path = join(this.opts.root, name);
      if (name === BUILD_DIR) {
        for (const scratch of readdirSync(path)) if (!this.building.has(scratch)) rmSync(join(path, scratch), { recursive: true, force: true });
        continue;
      }
      let lastUsed: number;
      try {
        lastUsed = statSync(join(path, MARKER)).mtimeMs;
      } catch {
        lastUsed = Number.NEGATIVE_INFINITY; // no marker: a build that never finished
      }
      if (lastUsed < oldest) {
        rmSync(path, { recursive: true, force: true });
        removed.push(name);
      }
    }
    return removed;
  }

  /** The base interpreter behind the bundled runtime's python and its version; asked once. */
  private baseInterpreter(): Promise<BaseInterpreter> {
    this.base ??= (async () => {
      const code = "import json, platform, sys; print(json.dumps([getattr(sys, '_base_executable', None) or sys.executable, platform.python_version()]))";
      const proc = Bun.spawn([this.opts.python, "-c", code], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
      const [out, err, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (exit !== 0) {
        this.base = undefined;
        throw new EnvironmentBuildError(`the runtime's python (${this.opts.python}) did not start: ${err.trim().split("\n").at(-1) ?? `exit ${exit}`}`);
      }
      const [executable, version] = JSON.parse(out) as [string, string];
      return { executable, version };
    })();
    return this.base;
  }

  private marker(key: string): Marker | undefined {
    try {
      return JSON.parse(readFileSync(join(this.opts.root, key, MARKER), "utf8")) as Marker;
    } catch {
      return undefined;
    }
  }

  /** The environment `key` when it was built completely (a cache hit, logged); its last use is now. */
  private readyEnvironment(key: string, log: (line: string) => void): PythonEnvironment | undefined {
    const marker = this.marker(key);
    const env = this.environment(key, true, marker?.packages ?? []);
    if (!marker || !existsSync(env.python)) return undefined;
    const now = new Date(this.clock.now());
    utimesSync(join(env.dir, MARKER), now, now);
    log(`cache hit: environment ${key} was built ${marker.built_at} in ${(marker.build_ms / 1000).toFixed(1)} s; ${marker.packages.length} packages`);
    return env;
  }

  /** Where environment `key`'s directory, python and papermill are. */
  private environment(key: string, reused: boolean, packages: string[]): PythonEnvironment {
    const dir = join(this.opts.root, key);
    return { key, dir, python: join(dir, "bin", "python"), papermill: join(dir, "bin", "papermill"), reused, packages };
  }

  private async build(key: string, dir: string, requirements: Requirements, base: BaseInterpreter, log: (line: string) => void): Promise<PythonEnvironment> {
    const started = performance.now();
    const deadline = started + this.opts.buildTimeoutMs;
    const scratch = join(this.opts.root, BUILD_DIR, key);
    // Leftovers of a build a crash cut short are never trusted.
    for (const d of [dir, scratch]) rmSync(d, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    mkdirSync(scratch, { recursive: true });
    const cache = this.opts.allowSdist ? join(scratch, CACHE_DIR) : (this.opts.cacheDir ?? join(this.opts.root, CACHE_DIR));
    mkdirSync(cache, { recursive: true });
    const platformFile = join(scratch, "platform-requirements.txt");
    const userFile = join(scratch, "requirements.txt");
    writeFileSync(platformFile, PLATFORM_REQUIREMENTS);
    writeFileSync(userFile, `${requirements.lines.join("\n")}\n`);
    try {
      const run = this.opts.sandbox.prepare(scratch, ENVIRONMENT_BUILDER_ID);
      this.opts.sandbox.grant(dir, ENVIRONMENT_BUILDER_ID);
      if (!this.opts.allowSdist) this.opts.sandbox.grant(cache, ENVIRONMENT_BUILDER_ID);
      const mounts = { writable: this.opts.allowSdist ? [dir] : [dir, cache] };
      const env = {
        PATH: "/usr/bin:/bin",
        ...run.env,
        LANG: "C.UTF-8",
        UV_CACHE_DIR: cache,
        UV_PYTHON_DOWNLOADS: "never",
        UV_NO_CONFIG: "1",
        UV_NO_PROGRESS: "1",
        // The machine's certificate store (and its proxy settings), as pip would use them: behind a TLS-inspecting
        // proxy uv's bundled roots do not verify the index.
        UV_SYSTEM_CERTS: "1",
        ...passThrough(),
        NO_COLOR: "1",
      };
      const step = async (what: string, command: string[], onLine: (line: string) => void) => {
        const left = deadline - performance.now();
        if (left <= 0) throw this.timedOut();
        const proc = Bun.spawn(run.argv(command, scratch, { network: true, mounts }), {
          cwd: scratch,
          env,
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          timeout: Math.ceil(left),
          killSignal: "SIGKILL",
        });
        const output: string[] = [];
        const keep = (line: string) => {
          if (!line.trim()) return;
          output.push(line);
          if (output.length > 200) output.shift();
          onLine(line);
        };
        await Promise.all([readLines(proc.stdout.getReader(), keep, this.opts.maxLineChars), readLines(proc.stderr.getReader(), keep, this.opts.maxLineChars)]);
        const code = await proc.exited;
        if (performance.now() >= deadline && code !== 0) throw this.timedOut();
        if (code !== 0)
          throw new EnvironmentBuildError(
            `${what} failed: ${uvError(output) ?? `uv exited with code ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}`}`,
          );
        return output;
      };
      await step("creating the environment", [this.opts.uv, "venv", "--quiet", "--python", base.executable, dir], log);
      const python = join(dir, "bin", "python");
      const binary = this.opts.allowSdist ? ["--prefer-binary"] : ["--only-binary", ":all:"];
      await step(
        "resolving and installing the requirements",
        [this.opts.uv, "pip", "install", "--python", python, ...binary, "-r", platformFile, "-r", userFile],
        log,
      );
      const packages = (await step("listing the environment", [this.opts.uv, "pip", "freeze", "--python", python], () => {})).filter((l) =>
        /^[A-Za-z0-9]/.test(l),
      );
      const buildMs = performance.now() - started;
      const marker: Marker = {
        key,
        requirements: requirements.lines,
        python: base.version,
        packages,
        built_at: new Date(this.clock.now()).toISOString(),
        build_ms: Math.round(buildMs),
      };
      writeFileSync(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
      // The marker's time is the environment's last use (see sweep).
      const now = new Date(this.clock.now());
      utimesSync(join(dir, MARKER), now, now);
      log(`environment ${key} built in ${(buildMs / 1000).toFixed(1)} s: ${packages.length} packages`);
      return this.environment(key, false, packages);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e instanceof EnvironmentBuildError ? e : new EnvironmentBuildError(e instanceof Error ? e.message : String(e));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }

  private timedOut(): EnvironmentBuildError {
    return new EnvironmentBuildError(
      `the environment build ran past ENV_BUILD_TIMEOUT_SECONDS (${Math.round(this.opts.buildTimeoutMs / 1000)} s) and was stopped`,
    );
  }
}

/** The cache key of an environment: requirements, Python, the platform's packages and the source-build setting. */
export function environmentKey(lines: readonly string[], base: BaseInterpreter, allowSdist: boolean): string {
  const hasher = new Bun.CryptoHasher("sha256");
  hasher.update(JSON.stringify({ format: 1, lines, python: base.version, base: base.executable, platform: PLATFORM_REQUIREMENTS, allowSdist }));
  return hasher.digest("hex").slice(0, 24);
}

/** uv's own explanation of a failure: its `error:` line and what follows (the resolver's causes, its hint), on one line. */
export function uvError(output: readonly string[]): string | undefined {
  const start = output.findIndex((l) => /^\s*error:/.test(l));
  if (start < 0) return undefined;
  let text = "";
  for (const raw of output.slice(start, start + ERROR_LINES)) {
    const line = raw.trim();
    if (!line) continue;
    if (!text) text = line.replace(/^error:\s*/, "");
    else if (line.startsWith("cause:")) text += `: ${line.slice("cause:".length).trim()}`;
    else if (line.startsWith("hint:")) text += ` (hint: ${line.slice("hint:".length).trim()})`;
    else text += ` ${line}`;
  }
  return text.length > 1500 ? `${text.slice(0, 1497)}...` : text;
}

// What the server's own environment says about reaching an index; nothing else of it reaches a build.
const PASS_THROUGH = ["SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"];
function passThrough(): Record<string, string> {
  return Object.fromEntries(PASS_THROUGH.filter((k) => process.env[k]).map((k) => [k, process.env[k]!]));
}

/** `promise`, or a rejection with the signal's reason as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason ?? new Error("aborted"));
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
