import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { descendants, isAlive, killRecorded, killTree, processesWithCmdline, processStartTime } from "./process-tree.ts";
import { eventually } from "../testing/eventually.ts";

const spawned: number[] = [];
const dirs: string[] = [];

afterEach(() => {
  // Never leave sleepers behind, even when an assertion failed half-way.
  for (const pid of spawned.splice(0)) killTree(pid);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  await eventually(cond, { what: "the condition", timeoutMs, everyMs: 20 });
}

/** A shell with a plain child, a child in its own session (like a Jupyter kernel) with a grandchild, and a child whose comm has ") " in it. */
function spawnTree(): { root: number; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "ptree-"));
  dirs.push(dir);
  const weird = join(dir, "we) ird (x");
  symlinkSync("/bin/sleep", weird);
  const script = `sleep 300 & setsid bash -c 'sleep 300 & wait' & '${weird}' 300 & wait`;
  const proc = Bun.spawn(["bash", "-c", script], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  spawned.push(proc.pid);
  return { root: proc.pid, dir };
}

describe("process-tree", () => {
  test("processStartTime reads field 22 and is stable; undefined for a missing pid", () => {
    const st = processStartTime(process.pid);
    expect(st).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(st!);
    expect(processStartTime(2 ** 22 + 12345)).toBeUndefined();
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
  });

  test("descendants walks all levels, across sessions and odd comm names", async () => {
    const { root } = spawnTree();
    // sleep, setsid bash, its sleep, the weirdly named sleep
    await waitFor(() => descendants(root).length >= 4);
    const tree = descendants(root);
    expect(tree.length).toBe(4);
    for (const p of tree) expect(p.startTime).toBe(processStartTime(p.pid)!);
    const { stdout } = Bun.spawnSync(["ps", "-o", "pid=", "--ppid", String(root)]);
    const direct = stdout.toString().trim().split(/\s+/).map(Number);
    expect(direct.length).toBe(3);
    for (const pid of direct) expect(tree.map((p) => p.pid)).toContain(pid);
  });

  test("killTree kills the root, every descendant (including the setsid one) and the group", async () => {
    const { root } = spawnTree();
    await waitFor(() => descendants(root).length >= 4);
    const before = [root, ...descendants(root).map((p) => p.pid)];
    const killed = killTree(root);
    expect(killed.sort()).toEqual([...before].sort());
    // Zombies awaiting their reaper count as dead.
    await waitFor(() => before.every((pid) => !isAlive(pid)), 3000);
    expect(killTree(root)).toEqual([]);
  });

  test("killTree leaves nothing of a tree that keeps forking while it is killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ptree-fork-"));
    dirs.push(dir);
    const sleeper = join(dir, "sleeper");
    symlinkSync("/bin/sleep", sleeper);
    // Two forking loops, one of them in its own session, each starting a sleeper every few ms.
    const loop = `while :; do '${sleeper}' 300 & sleep 0.005; done`;
    const proc = Bun.spawn(["bash", "-c", `${loop} & setsid bash -c "${loop}" & wait`], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
    spawned.push(proc.pid);
    await waitFor(() => processesWithCmdline(sleeper).length >= 20);
    killTree(proc.pid);
    // The forking loops are among what matches dir (their command lines name the sleeper): once nothing matches, no
    // process is left that could start another sleeper.
    await waitFor(() => processesWithCmdline(dir).length === 0, 3000);
  });

  test("killRecorded with a wrong start time kills nothing; with the right one kills the tree", async () => {
    const { root } = spawnTree();
    await waitFor(() => descendants(root).length >= 4);
    const all = [{ pid: root, startTime: processStartTime(root)! }, ...descendants(root)];
    const wrong = all.map((p) => ({ pid: p.pid, startTime: String(Number(p.startTime) + 1) }));
    expect(killRecorded(wrong)).toEqual([]);
    expect(all.every((p) => isAlive(p.pid))).toBe(true);

    const killed = killRecorded([all[0]!]);
    expect(killed.map((p) => p.pid).sort()).toEqual(all.map((p) => p.pid).sort());
    await waitFor(() => all.every((p) => !isAlive(p.pid)), 3000);
    expect(killRecorded(all)).toEqual([]);
  });
});
