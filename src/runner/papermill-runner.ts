// Runs one notebook with the papermill CLI: a clean environment, output streamed line by line, every process of
// the run (the Jupyter kernel included, although it starts its own session) recorded as it appears and killed
// on timeout, cancel, or when papermill exits and leaves it behind.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { readLines } from "../lib/log-lines.ts";
import { descendants, killRecorded, killTree, processesWithCmdline, processStartTime, type ProcessRecord } from "../lib/process-tree.ts";
import type { PreparedRun } from "../sandbox/notebook-sandbox.ts";
import { describeFailedCell, type FailedCell, readFailedCell } from "./notebook-errors.ts";

export type PapermillStatus = "succeeded" | "failed" | "timed_out" | "cancelled";

export type PapermillResult = {
  status: PapermillStatus;
  /** papermill's exit code; null when it was killed by a signal (timeout, cancel) or never started. */
  exitCode: number | null;
  durationMs: number;
  /** Why the run failed, in one line a user can act on. */
  error?: string;
  /** The cell that raised, read from the output notebook (papermill writes it even on failure). */
  failedCell?: FailedCell;
};

export type PapermillOptions = {
  /** Path of the papermill executable, normally `<venv>/bin/papermill`; its directory heads the notebook's PATH. */
  papermill: string;
  input: string;
  output: string;
  /** Working directory of the notebook (papermill `--cwd`) and of papermill itself. */
  cwd: string;
  /** Injected after the `parameters` cell. Strings arrive in Python verbatim as `str`; numbers as int/float; booleans as bool. */
  parameters: Record<string, string | number | boolean>;
  /**
   * The only variables the notebook sees besides PATH, HOME, TMPDIR, LANG and PYTHONUNBUFFERED, which the
   * runner sets (and which win over same-named keys here).
   */
  env: Record<string, string>;
  /** Wall-clock limit for the whole notebook, kernel start included. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called for each output line, in order per stream; must not throw (an exception is ignored so the pipe keeps draining). */
  onLine: (stream: "stdout" | "stderr", line: string) => void;
  /**
   * Called with each process of the run as it first appears (papermill at once, the kernel 1-3 s later), so the
   * caller can record them durably. If it throws, the run is killed and fails.
   */
  onSpawn?: (procs: ProcessRecord[]) => void;
  /** Private directory used as HOME and (under it) TMPDIR. Default: a fresh `.mlops-home-*` directory in cwd, removed afterwards. Ignored with `sandbox`. */
  home?: string;
  /** Run papermill in this prepared sandbox (src/sandbox), which also sets HOME and TMPDIR. */
  sandbox?: PreparedRun;
  /** Whether the sandboxed notebook may use the network (default true). */
  network?: boolean;
  /** Longest output line passed to onLine; longer ones are cut with a marker. Default: no limit. */
  maxLineChars?: number;
};

/** How often the process tree is re-read while papermill runs. */
const TRACK_INTERVAL_MS = 500;
/** How long to wait for the output pipes to close after papermill exits (a lingering kernel holds them open). */
const DRAIN_GRACE_MS = 2000;
/** papermill's exit code when the kernel died under it. */
const DEAD_KERNEL_EXIT = 138;
const STDERR_TAIL = 20;
/** setTimeout's largest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const PY_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** papermill's command-line arguments (after the executable). Throws TypeError on a name that is not a Python identifier or a non-finite number. */
export function papermillArgs(opts: Pick<PapermillOptions, "input" | "output" | "cwd" | "parameters">): string[] {
  const args = [opts.input, opts.output];
  for (const [name, value] of Object.entries(opts.parameters)) {
    if (!PY_IDENTIFIER.test(name)) throw new TypeError(`parameter name ${JSON.stringify(name)} is not a Python identifier`);
    // `-p` guesses the type ("42" becomes int, "True" bool); `-r` passes the string verbatim.
    if (typeof value === "string") args.push("-r", name, value);
    else if (typeof value === "boolean") args.push("-p", name, value ? "True" : "False");
    else if (Number.isFinite(value)) args.push("-p", name, String(value));
    else throw new TypeError(`parameter ${name} is not a finite number`);
  }
  args.push("--log-output", "--no-progress-bar", "--cwd", opts.cwd);
  return args;
}

/** The notebook's whole environment: opts.env plus the few variables Python and Jupyter need. */
export function notebookEnv(papermill: string, dirs: { HOME: string; TMPDIR: string }, env: Record<string, string>): Record<string, string> {
  return {
    ...env,
    PATH: `${dirname(papermill)}:/usr/bin:/bin`,
    HOME: dirs.HOME,
    TMPDIR: dirs.TMPDIR,
    USER: "notebook",
    LOGNAME: "notebook",
    LANG: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
  };
}

/**
 * Run a notebook with papermill and resolve once it has finished and no process of it remains.
 * Never rejects for notebook problems (they are statuses); throws TypeError for invalid parameters.
 */
export async function runPapermill(opts: PapermillOptions): Promise<PapermillResult> {
  const args = papermillArgs(opts);
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  if (opts.signal?.aborted) return { status: "cancelled", exitCode: null, durationMs: 0, error: "cancelled before start" };

  // Unsandboxed, a private HOME in cwd: jupyter_client writes the kernel's connection file under TMPDIR, so the
  // kernel's command line names this run's directory, which finds a kernel even after its parent is gone. In the
  // sandbox the kernel dies with the sandbox's PID namespace instead.
  const ownHome = opts.sandbox === undefined && opts.home === undefined;
  const home = opts.sandbox ? opts.sandbox.env.HOME : (opts.home ?? mkdtempSync(join(opts.cwd, ".mlops-home-")));
  const dirs = opts.sandbox ? opts.sandbox.env : { HOME: home, TMPDIR: join(home, "tmp") };
  if (!opts.sandbox) mkdirSync(dirs.TMPDIR, { recursive: true });
  const command = [opts.papermill, ...args];
  const argv = opts.sandbox ? opts.sandbox.argv(command, opts.cwd, { network: opts.network ?? true }) : command;

  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn(argv, {
      cwd: opts.cwd,
      env: notebookEnv(opts.papermill, dirs, opts.env),
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // New session and process group led by papermill, so its group can be signalled without touching ours.
      detached: true,
    });
  } catch (e) {
    if (ownHome) rmSync(home, { recursive: true, force: true });
    return { status: "failed", exitCode: null, durationMs: elapsed(), error: `could not start papermill: ${e instanceof Error ? e.message : String(e)}` };
  }

  let stopped: { status: PapermillStatus; error: string } | undefined;
  const stop = (status: PapermillStatus, error: string) => {
    if (stopped) return;
    stopped = { status, error };
    try {
      killTree(proc.pid);
    } catch {
      // EPERM cannot happen for our own children; never let a timer callback throw.
    }
  };

  const recorded = new Map<number, ProcessRecord>();
  const track = () => {
    if (stopped) return;
    const rootStart = processStartTime(proc.pid);
    const seen = rootStart === undefined ? [] : [{ pid: proc.pid, startTime: rootStart }, ...descendants(proc.pid)];
    const fresh = seen.filter((p) => recorded.get(p.pid)?.startTime !== p.startTime);
    if (fresh.length === 0) return;
    for (const p of fresh) recorded.set(p.pid, p);
    try {
      opts.onSpawn?.(fresh);
    } catch (e) {
      stop("failed", `could not record the notebook's processes: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  track();
  const tracker = setInterval(track, TRACK_INTERVAL_MS);
  const timer = setTimeout(
    () => stop("timed_out", `the notebook ran longer than ${Math.round(opts.timeoutMs / 1000)} s and was stopped`),
    Math.min(opts.timeoutMs, MAX_TIMER_MS),
  );
  const onAbort = () => stop("cancelled", "cancelled");
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  const stderrTail: string[] = [];
  const readers = [proc.stdout.getReader(), proc.stderr.getReader()] as const;
  const reading = Promise.all([
    readLines(readers[0], (line) => emit(opts, "stdout", line), opts.maxLineChars),
    readLines(
      readers[1],
      (line) => {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
        emit(opts, "stderr", line);
      },
      opts.maxLineChars,
    ),
  ]);

  // Critical section: from here on, every exit path must clear the timers and kill what is left of the run.
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | number | null = null;
  try {
    await proc.exited;
    exitCode = proc.exitCode;
    exitSignal = proc.signalCode;
  } finally {
    clearInterval(tracker);
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    // papermill is gone (and reaped): its kernel, reparented away, may still run for a while.
    killRecorded([...recorded.values()]);
    // A kernel started just before papermill died was never seen as its child; its command line names its
    // connection file under our private TMPDIR. Only for our own fresh directory, which no other process can name.
    if (ownHome) killRecorded(processesWithCmdline(home));
    await drain(reading, readers);
    if (ownHome) rmSync(home, { recursive: true, force: true });
  }

  const durationMs = elapsed();
  // When papermill finished on its own just as the deadline hit, its real outcome stands.
  const killedByUs = stopped !== undefined && (exitSignal !== null || stopped.status === "failed");
  if (stopped && killedByUs) return { status: stopped.status, exitCode, durationMs, error: stopped.error };
  if (exitCode === 0) return { status: "succeeded", exitCode, durationMs };
  const failedCell = readFailedCell(opts.output);
  // In the sandbox, bubblewrap reports its child's death by signal N as exit code 128 + N.
  const killedBy = exitSignal ?? (opts.sandbox && exitCode !== null && exitCode > 128 && exitCode !== DEAD_KERNEL_EXIT ? `signal ${exitCode - 128}` : null);
  const error = failedCell
    ? describeFailedCell(failedCell)
    : killedBy !== null
      ? `papermill was killed by ${killedBy} (out of memory, or killed from outside)`
      : exitCode === DEAD_KERNEL_EXIT
        ? "the Jupyter kernel died (out of memory, or killed)"
        : (lastMeaningfulLine(stderrTail) ?? `papermill exited with code ${exitCode}`);
  return { status: "failed", exitCode, durationMs, error, ...(failedCell ? { failedCell } : {}) };
}

// ipykernel ≥ 7 warns at every start that its loopback TCP sockets are not encrypted; the kernel here only ever
// listens on 127.0.0.1 for papermill, so the warning says nothing about this run and would open every log.
const KERNEL_TCP_WARNING = /Kernel is running over TCP without encryption/;

function emit(opts: PapermillOptions, stream: "stdout" | "stderr", line: string): void {
  if (stream === "stderr" && KERNEL_TCP_WARNING.test(line)) return;
  try {
    opts.onLine(stream, line);
  } catch {
    // A failing consumer must not stop the pipe from draining, or papermill would block on write.
  }
}

/** Wait for both pipes to close, but not forever: a process we could not kill may still hold them. */
async function drain(reading: Promise<unknown>, readers: readonly ReadableStreamDefaultReader<Uint8Array>[]): Promise<void> {
  let timer: Timer | undefined;
  const late = await Promise.race([reading.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), DRAIN_GRACE_MS)))]);
  clearTimeout(timer);
  if (!late) return;
  // Cancelling ends the pending read, so readLines flushes what it has and returns.
  for (const r of readers) r.cancel().catch(() => {});
  await reading;
}

function lastMeaningfulLine(lines: string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (line.length > 0) return line;
  }
  return undefined;
}
