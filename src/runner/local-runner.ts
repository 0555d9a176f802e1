// The local backend: papermill on this machine, inside the notebook sandbox. Its runs die with the server (a
// sandboxed notebook goes with its PID namespace; an unsandboxed one is killed at the next start from the recorded
// pids), so nothing can be attached after a restart.
import type { NotebookSandbox } from "../sandbox/notebook-sandbox.ts";
import { runPapermill } from "./papermill-runner.ts";
import type { NotebookRunner, RunEvents, RunHandle, RunSpec } from "./runner.ts";

export type LocalRunnerOptions = {
  /** The papermill executable of the notebook runtime. */
  papermill: string;
  sandbox: Pick<NotebookSandbox, "prepare">;
  /** Whether notebooks may use the network (NOTEBOOK_NETWORK). */
  network: boolean;
  /** Longest log line (NOTEBOOK_LOG_LINE_MAX_CHARS). */
  maxLineChars: number;
};

export class LocalRunner implements NotebookRunner {
  readonly name = "local";

  constructor(private readonly opts: LocalRunnerOptions) {}

  /** The bundled runtime is ready from the start: nothing to prepare. */
  async prepare(_spec: RunSpec, _log: (line: string) => void): Promise<void> {}

  submit(spec: RunSpec, events: RunEvents): RunHandle {
    const abort = new AbortController();
    const result = runPapermill({
      papermill: this.opts.papermill,
      input: spec.notebook,
      output: spec.outputs.executed,
      cwd: spec.cwd,
      parameters: spec.parameters,
      env: { ...spec.env, ...spec.parameters },
      timeoutMs: spec.timeoutMs,
      signal: abort.signal,
      onLine: (stream, line) => events.onLine(stream, line),
      onSpawn: events.onSpawn,
      sandbox: this.opts.sandbox.prepare(spec.workDir, spec.pipelineId),
      network: this.opts.network,
      maxLineChars: this.opts.maxLineChars,
    }).then(
      (r) => ({ ...r, outputs: spec.outputs }),
      // runPapermill rejects only for parameters papermill cannot take: still a failed run, never a throw.
      (e: unknown) => ({ status: "failed" as const, exitCode: null, durationMs: 0, error: e instanceof Error ? e.message : String(e), outputs: spec.outputs }),
    );
    return { id: `local:${spec.pipelineId}:${Date.now()}`, result, cancel: () => abort.abort() };
  }

  /** Local runs do not outlive the server. */
  attach(_handleId: string, _events: RunEvents): undefined {
    return undefined;
  }
}
