// The sandbox every piece of pushed code runs in (notebooks, and the converter that unpickles their models):
// probed once at start, then used per pipeline. With NOTEBOOK_SANDBOX=auto and no working bubblewrap, code runs
// unsandboxed (with its rlimits still) and the status says so wherever people look.
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { limitArgv, type Mounts, sandboxArgv, type SandboxLimits, type SandboxSpec, type TopLevelDirs } from "./sandbox-command.ts";

export type { Mounts } from "./sandbox-command.ts";
import { rootExposing, runtimeRoots, topLevelDirs } from "./runtime-roots.ts";

export type SandboxSetting = "auto" | "bwrap" | "off";

/** What /health and the pages report. */
export type SandboxStatus = {
  setting: SandboxSetting;
  /** True when pushed code runs under bubblewrap. */
  active: boolean;
  /** Why it is not active (off by setting, or what the probe met), in words for operators. */
  problem?: string;
};

export type SandboxOptions = {
  setting: SandboxSetting;
  /** The executables pushed code is run with (papermill, python): their runtimes are mounted read-only. */
  executables: readonly string[];
  /** Directories that must never be visible inside (the data dir, the database's dir). */
  privateDirs: readonly string[];
  limits: SandboxLimits;
  /** Where the start-up probe may make a scratch work dir (removed afterwards). */
  scratchDir: string;
  /** The bubblewrap executable; default `bwrap` from PATH. */
  bwrap?: string;
};

/** A work dir made ready for one sandboxed run: run commands there with `argv`, in the environment from `env`. */
export type PreparedRun = {
  /**
   * The argv that runs `command` with working directory `cwd` (inside the work dir), network on or off, with `mounts`
   * seen at their own paths as well (unsandboxed, everything is seen anyway).
   */
  argv(command: readonly string[], cwd: string, opts: { network: boolean; mounts?: Mounts }): string[];
  /** HOME and TMPDIR as the code sees them. */
  env: { HOME: string; TMPDIR: string };
};

/** `run` with `mounts` added to every command it runs (an environment the code uses, read-only). */
export function withMounts(run: PreparedRun, mounts: Mounts): PreparedRun {
  return { env: run.env, argv: (command, cwd, opts) => run.argv(command, cwd, { ...opts, mounts }) };
}

// Each pipeline's code runs as its own uid (when the server is root), so RLIMIT_NPROC counts that pipeline's
// processes alone. The range sits far above ordinary users' and the usual subordinate-uid ranges.
export const SANDBOX_UID_BASE = 1_500_000_000;
const SANDBOX_UID_SPAN = 1_000_000;
/** The id `prepare` takes for environment builds: they run as one uid of their own, which owns the shared package cache. */
export const ENVIRONMENT_BUILDER_ID = SANDBOX_UID_SPAN - 1;
const SHM_BYTES_MAX = 512 * 1024 * 1024;

/** Runs pushed code under bubblewrap when it can; see SandboxStatus. */
export class NotebookSandbox {
  private constructor(
    readonly status: SandboxStatus,
    private readonly opts: SandboxOptions,
    private readonly bwrap: string,
    private readonly readOnly: readonly string[],
    private readonly topLevel: TopLevelDirs,
  ) {}

  /**
   * Probe bubblewrap by running the Python runtime inside it. Throws ConfigError when `setting` is `bwrap` and the
   * probe fails, or when a runtime directory to mount would expose a private one (whatever the setting but `off`).
   */
  static async start(opts: SandboxOptions): Promise<NotebookSandbox> {
    const bwrap = opts.bwrap ?? Bun.which("bwrap") ?? "bwrap";
    const readOnly = runtimeRoots(opts.executables);
    const topLevel = topLevelDirs();
    if (opts.setting === "off")
      return new NotebookSandbox(
        { setting: "off", active: false, problem: "NOTEBOOK_SANDBOX=off: pushed code runs with the server's rights" },
        opts,
        bwrap,
        readOnly,
        topLevel,
      );
    const exposed = rootExposing(readOnly, opts.privateDirs);
    if (exposed) {
      throw new ConfigError(
        `the notebook runtime directory ${exposed.root} contains ${exposed.dir}: the sandbox would show it to notebooks; put DATA_DIR (and the database) outside the Python environment, or set NOTEBOOK_SANDBOX=off`,
      );
    }
    const candidate = new NotebookSandbox({ setting: opts.setting, active: true }, opts, bwrap, readOnly, topLevel);
    const problem = await candidate.probe();
    if (problem === undefined) return candidate;
    if (opts.setting === "bwrap") throw new ConfigError(`invalid NOTEBOOK_SANDBOX="bwrap": the sandbox cannot run here: ${problem}`);
    return new NotebookSandbox(
      { setting: "auto", active: false, problem: `bubblewrap cannot run here (${problem}): pushed code runs with the server's rights` },
      opts,
      bwrap,
      readOnly,
      topLevel,
    );
  }

  /**
   * Make `workDir` ready for pipeline `pipelineId`'s code: a private HOME and /tmp inside it, a passwd naming the
   * sandbox's user, and (when the server is root) the whole dir handed to that pipeline's uid. Idempotent.
   */
  prepare(workDir: string, pipelineId: number): PreparedRun {
    const home = join(workDir, ".sandbox", "home");
    const tmp = join(workDir, ".sandbox", "tmp");
    mkdirSync(home, { recursive: true });
    mkdirSync(tmp, { recursive: true });
    const env = { HOME: home, TMPDIR: this.status.active ? "/tmp" : tmp };
    if (!this.status.active) {
      return { env, argv: (command) => [...limitArgv(this.opts.limits), ...command] };
    }
    const runAs = process.getuid?.() === 0 ? SANDBOX_UID_BASE + (pipelineId % SANDBOX_UID_SPAN) : undefined;
    const uid = runAs ?? process.getuid?.() ?? 0;
    const gid = runAs ?? process.getgid?.() ?? 0;
    const etc = join(workDir, ".sandbox", "etc");
    mkdirSync(etc, { recursive: true });
    writeFileSync(
      join(etc, "passwd"),
      `root:x:0:0:root:/root:/usr/sbin/nologin\nnotebook:x:${uid}:${gid}:notebook:${home}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    );
    writeFileSync(join(etc, "group"), `root:x:0:\nnotebook:x:${gid}:\nnogroup:x:65534:\n`);
    if (runAs !== undefined) {
      // The etc dir stays root's (the code cannot rewrite what it is told about users); the rest becomes the code's own.
      chownTree(workDir, runAs, new Set([etc]));
      chmodSync(workDir, 0o700);
    }
    return {
      env,
      argv: (command, cwd, { network, mounts }) => {
        const spec: SandboxSpec = {
          bwrap: this.bwrap,
          readOnly: this.readOnly,
          workDir,
          mounts,
          tmpDir: tmp,
          etcFiles: { passwd: join(etc, "passwd"), group: join(etc, "group") },
          cwd,
          network,
          runAs,
          limits: this.opts.limits,
          shmBytes: Math.min(this.opts.limits.dataBytes, SHM_BYTES_MAX),
        };
        return sandboxArgv(spec, this.topLevel, command);
      },
    };
  }

  /**
   * Hand `dir` (and everything in it) to the uid that code prepared for `pipelineId` runs as, when the server is root
   * and the sandbox active; otherwise the code runs with the server's uid and nothing changes.
   */
  grant(dir: string, pipelineId: number): void {
    if (!this.status.active || process.getuid?.() !== 0) return;
    const uid = SANDBOX_UID_BASE + (pipelineId % SANDBOX_UID_SPAN);
    chownTree(dir, uid, new Set());
  }

  /** Run the runtime's python inside a scratch sandbox; undefined when it worked, else what went wrong. */
  private async probe(): Promise<string | undefined> {
    if (!existsSync(this.bwrap) && !Bun.which(this.bwrap)) return "bubblewrap (bwrap) is not installed";
    const python = this.opts.executables.find((e) => /python[0-9.]*$/.test(e)) ?? "python3";
    const dir = join(this.opts.scratchDir, `sandbox-probe-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      const run = this.prepare(dir, 0);
      const proc = Bun.spawn(run.argv([python, "-c", "print('sandbox ok')"], dir, { network: false }), {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", ...run.env, LANG: "C.UTF-8" },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        timeout: 30_000,
      });
      const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      if (code === 0 && out.trim() === "sandbox ok") return undefined;
      const why = err.trim().split("\n").filter(Boolean).at(-1) ?? `exit code ${code}`;
      return why.slice(0, 300);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** lchown every entry under `dir` (and dir itself) to uid:uid, never following a symlink, skipping `except` subtrees. */
function chownTree(dir: string, uid: number, except: ReadonlySet<string>): void {
  lchownSync(dir, uid, uid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (except.has(path)) continue;
    lchownSync(path, uid, uid);
    if (entry.isDirectory() && !lstatSync(path).isSymbolicLink()) chownTree(path, uid, except);
  }
}
