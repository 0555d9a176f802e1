// When pushed code fails because it reached one of its limits, the pipeline's reason names the limit (and its
// setting), not only the exception the limit caused.
import type { NotebookSettings } from "../config.ts";
import type { FailedCell } from "../runner/notebook-errors.ts";

/** papermill's exit code when the kernel died under it. */
const DEAD_KERNEL_EXIT = 138;

/**
 * The reason naming the limit a failed run ran into, or undefined when the failure does not look like one:
 * MemoryError (RLIMIT_DATA), EAGAIN from fork or thread creation (RLIMIT_NPROC), EFBIG (RLIMIT_FSIZE), or a kernel
 * that died (most often of memory).
 */
export function limitReason(run: { failedCell?: FailedCell; exitCode: number | null; error?: string }, limits: NotebookSettings): string | undefined {
  const cell = run.failedCell;
  const where = cell ? ` (cell ${cell.index + 1}: ${cell.ename}${cell.evalue ? `: ${cell.evalue}` : ""})` : "";
  const text = cell ? `${cell.ename} ${cell.evalue} ${cell.traceback}` : (run.error ?? "");
  if (cell?.ename === "MemoryError" || /\bMemoryError\b|std::bad_alloc|Cannot allocate memory/.test(text)) {
    return `the notebook ran out of memory: NOTEBOOK_MEMORY_MB=${limits.memoryMb} limits each of its processes to ${limits.memoryMb} MB${where}`;
  }
  if (/Resource temporarily unavailable|can't start new thread|\[Errno 11\]/.test(text)) {
    return `the notebook started too many processes or threads: NOTEBOOK_MAX_PROCESSES=${limits.maxProcesses} limits them${where}`;
  }
  if (/File too large|\[Errno 27\]/.test(text)) {
    return `the notebook wrote a file larger than NOTEBOOK_MAX_FILE_MB=${limits.maxFileMb} MB${where}`;
  }
  if (!cell && run.exitCode === DEAD_KERNEL_EXIT) {
    return `the Jupyter kernel died: most often it ran out of memory (NOTEBOOK_MEMORY_MB=${limits.memoryMb} limits each notebook process), or it was killed`;
  }
  return undefined;
}
