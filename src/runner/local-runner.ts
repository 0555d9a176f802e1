// The local backend: papermill on this machine, inside the notebook sandbox. Its runs die with the server (a
// sandboxed notebook goes with its PID namespace; an unsandboxed one is killed at the next start from the recorded
// pids), so nothing can be attached after a restart.
import type { PythonEnvironments } from "../environments/python-environments.ts";
import type { Requirements } from "../environments/requirements-file.ts";
import { type NotebookSandbox, type PreparedRun, withMounts } from "../sandbox/notebook-sandbox.ts";
import { runPapermill } from "./papermill-runner.ts";
import type { NotebookRunner, PreparedEnvironment, RunEvents, RunHandle, RunSpec } from "./runner.ts";

export type LocalRunnerOptions = {
  /** The papermill executable of the bundled notebook runtime. */
  papermill: string;
  /** Builds and keeps per-repository environments on this machine. */
  environments: Pick<PythonEnvironments, "ensure">;
  sandbox: Pick<NotebookSandbox, "prepare">;
  /** Whether notebooks may use the network (NOTEBOOK_NETWORK). */
  network: boolean;
  /** Longest log line (NOTEBOOK_LOG_LINE_MAX_CHARS). */
  maxLineChars: number;
};

/** The sandboxed run `run`, seeing `environment`'s directory read-only when the notebook has an environment of its own. */
export function withEnvironment(run: PreparedRun, environment: PreparedEnvironment | undefined): PreparedRun {
  const dir = environment?.local?.dir;
  return dir ? withMounts(run, { readOnly: [dir] }) : run;
}

export class LocalRunner implements NotebookRunner {
  readonly name = "local";
  readonly runsOutliveServer = false;

  constructor(private readonly opts: LocalRunnerOptions) {}

  /** Build (or reuse) the environment on this machine. */
  async prepare(requirements: Requirements, log: (line: string) => void, signal?: AbortSignal): Promise<PreparedEnvironment> {
    const env = await this.opts.environments.ensure(requirements, log, signal);
    return { id: env.key, requirements, reused: env.reused, local: { python: env.python, papermill: env.papermill, dir: env.dir } };
  }

  submit(spec: RunSpec, events: RunEvents): RunHandle {
    const abort = new AbortController();
    const local = spec.environment?.local;
    const result = runPapermill({
      papermill: local?.papermill ?? this.opts.papermill,
      input: spec.notebook,
      output: spec.outputs.executed,
      cwd: spec.cwd,
      parameters: spec.parameters,
      env: { ...spec.env, ...spec.parameters },
      timeoutMs: spec.timeoutMs,
      signal: abort.signal,
      onLine: (stream, line) => events.onLine(stream, line),
      onSpawn: events.onSpawn,
      sandbox: withEnvironment(this.opts.sandbox.prepare(spec.workDir, spec.pipelineId), spec.environment),
      network: this.opts.network,
      maxLineChars: this.opts.maxLineChars,
    }).then(
      (r) => ({ ...r, outputs: spec.outputs }),
      // runPapermill rejects only for parameters papermill cannot take: still a failed run, never a throw.
      (e: unknown) => ({ status: "failed" as const, exitCode: null, durationMs: 0, error: e instanceof Error ? e.message : String(e), outputs: spec.outputs }),
    );
    return { id: `local:${spec.pipelineId}:${Date.now()}`, result, cancel: () => abort.abort() };
  }

  /** This machine is always there to run on. */
  async unavailable(): Promise<undefined> {
    return undefined;
  }

  /** Local runs do not outlive the server. */
  attach(): undefined {
    return undefined;
  }
}
