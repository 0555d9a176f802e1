// Linux lets any process of the same uid read another's /proc/<pid>/environ and memory, and attach a debugger to it,
// while the process is "dumpable". The server holds the admin token, the webhook secret and GITHUB_TOKEN in its
// environment and memory, so it clears that flag at start: then /proc/<pid>/ belongs to root and only a process
// with CAP_SYS_PTRACE can look inside. Children start dumpable again at execve, which the notebook sandbox needs.
import { dlopen } from "bun:ffi";

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;

/** Mark this process non-dumpable. Returns null on success, else why it could not (not Linux/glibc, prctl refused). */
export function makeNonDumpable(): string | null {
  if (process.platform !== "linux") return `not on Linux (${process.platform})`;
  let libc;
  try {
    // prctl is variadic; passing the unused arguments as zeros is how glibc callers do it.
    libc = dlopen("libc.so.6", { prctl: { args: ["i32", "u64", "u64", "u64", "u64"], returns: "i32" } });
  } catch (e) {
    return `libc.so.6 could not be opened: ${e instanceof Error ? e.message : String(e)}`;
  }
  try {
    if (libc.symbols.prctl(PR_SET_DUMPABLE, 0n, 0n, 0n, 0n) !== 0) return "prctl(PR_SET_DUMPABLE, 0) failed";
    if (libc.symbols.prctl(PR_GET_DUMPABLE, 0n, 0n, 0n, 0n) !== 0) return "the process is still dumpable after prctl";
    return null;
  } finally {
    libc.close();
  }
}
