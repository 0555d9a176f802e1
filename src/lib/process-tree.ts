// Process trees read from /proc: list a process's descendants, kill a whole tree (stopped first so
// nothing forks while we kill), and kill what a crashed server recorded, guarded against pid reuse.
// Linux only. Imports nothing of the app.
import { readdirSync, readFileSync } from "node:fs";

/** A process as recorded durably: its pid plus /proc start time (clock ticks since boot), which tells a reused pid apart. */
export type ProcessRecord = { pid: number; startTime: string };

type Stat = { pid: number; state: string; ppid: number; pgrp: number; startTime: string };

/** Parse /proc/<pid>/stat; undefined when the process is gone or the file is unreadable. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may itself contain spaces and ')': fields resume after the LAST ')'.
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const rest = text.slice(close + 2).split(" ");
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (!state || !startTime || !Number.isInteger(ppid) || !Number.isInteger(pgrp)) return undefined;
  return { pid, state, ppid, pgrp, startTime };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined when no such process exists. */
export function processStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

/** True when the process exists and is not a zombie (an exited process that its parent has not reaped yet). */
export function isAlive(pid: number): boolean {
  const s = readStat(pid);
  return s !== undefined && !isZombie(s);
}

function isZombie(s: Stat): boolean {
  return s.state === "Z" || s.state === "X" || s.state === "x";
}

/** Every descendant of rootPid (children, grandchildren, ...) found by parent pid, parents before children; the root itself is excluded. */
export function descendants(rootPid: number): ProcessRecord[] {
  const children = new Map<number, Stat[]>();
  for (const s of allStats()) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const out: ProcessRecord[] = [];
  const seen = new Set<number>([rootPid]);
  const queue = [rootPid];
  for (let i = 0; i < queue.length; i++) {
    for (const c of children.get(queue[i]!) ?? []) {
      if (seen.has(c.pid)) continue;
      seen.add(c.pid);
      out.push({ pid: c.pid, startTime: c.startTime });
      queue.push(c.pid);
    }
  }
  return out;
}

/** kill(2) that reports whether the signal was delivered; ESRCH (already gone) is false, other errors (EPERM) throw. */
function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw e;
  }
}

/** Live processes (other than this one) whose command line contains `needle`, e.g. a private run directory. */
export function processesWithCmdline(needle: string): ProcessRecord[] {
  const out: ProcessRecord[] = [];
  for (const s of allStats()) {
    if (isZombie(s) || s.pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${s.pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (cmdline.includes(needle)) out.push({ pid: s.pid, startTime: s.startTime });
  }
  return out;
}

/** Longest wait for SIGSTOP to take effect (a process in uninterruptible sleep stops only when it leaves it). */
const STOP_WAIT_MS = 200;

function waitUntilStopped(pids: number[], maxMs: number): void {
  const end = performance.now() + maxMs;
  for (;;) {
    const running = pids.some((pid) => {
      const s = readStat(pid);
      return s !== undefined && s.state !== "T" && s.state !== "t" && !isZombie(s);
    });
    if (!running || performance.now() > end) return;
    Bun.sleepSync(1);
  }
}

export type KillTreeOptions = {
  /** Also SIGSTOP/SIGKILL the process group led by the root (when the root leads one). Default true. */
  group?: boolean;
};

/**
 * SIGSTOP the root and all its descendants (re-walking until no new child appears), then SIGKILL them all and,
 * when the root leads a process group, the group too. Tolerates processes that are already gone; idempotent.
 * Returns the pids the SIGKILL reached. Throws only on EPERM-like errors.
 */
export function killTree(rootPid: number, opts: KillTreeOptions = {}): number[] {
  return killTreeRecords(rootPid, opts).map((p) => p.pid);
}

function killTreeRecords(rootPid: number, opts: KillTreeOptions): ProcessRecord[] {
  const rootStat = readStat(rootPid);
  const leadsGroup = (opts.group ?? true) && rootStat !== undefined && rootStat.pgrp === rootPid;
  // Stopping the group first freezes every member at once, before we walk the tree.
  if (leadsGroup) signal(-rootPid, "SIGSTOP");
  const tree = new Map<number, string>();
  if (rootStat) {
    tree.set(rootPid, rootStat.startTime);
    signal(rootPid, "SIGSTOP");
  }
  // SIGSTOP takes effect asynchronously and a process caught mid-fork still gets its child: wait until every member
  // is really stopped, then walk again; once a walk over a fully stopped tree adds nothing, nobody can fork any more.
  for (let round = 0; round < 20; round++) {
    let added = 0;
    for (const d of descendants(rootPid)) {
      if (tree.has(d.pid)) continue;
      tree.set(d.pid, d.startTime);
      signal(d.pid, "SIGSTOP");
      added++;
    }
    if (added === 0 && round > 0) break;
    waitUntilStopped([...tree.keys()], STOP_WAIT_MS);
  }
  const killed: ProcessRecord[] = [];
  for (const [pid, startTime] of tree) {
    // Between the walk and now the pid can only have been reused if the process exited; check before killing.
    // A zombie is already dead: signalling it succeeds but kills nothing.
    const s = readStat(pid);
    if (!s || s.startTime !== startTime || isZombie(s)) continue;
    if (signal(pid, "SIGKILL")) killed.push({ pid, startTime });
  }
  if (leadsGroup) signal(-rootPid, "SIGKILL");
  return killed;
}

/**
 * Kill processes recorded earlier (typically by a server that has since died) together with their descendants,
 * but only those whose /proc start time still matches the record, so a reused pid is never hit.
 * Returns every process killed (recorded ones and their descendants), each once; idempotent.
 */
export function killRecorded(procs: readonly ProcessRecord[]): ProcessRecord[] {
  const out = new Map<number, ProcessRecord>();
  for (const p of procs) {
    if (!Number.isInteger(p.pid) || p.pid <= 1) continue;
    if (processStartTime(p.pid) !== p.startTime) continue;
    for (const k of killTreeRecords(p.pid, {})) out.set(k.pid, k);
  }
  return [...out.values()];
}
