import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive, killRecorded, processesWithCmdline, type ProcessRecord } from "../lib/process-tree.ts";
import { papermillArgs, runPapermill, type PapermillOptions } from "./papermill-runner.ts";
import { eventually } from "../testing/eventually.ts";

const PAPERMILL = join(import.meta.dir, "../../.venv/bin/papermill");
const haveVenv = existsSync(PAPERMILL);
if (!haveVenv) console.warn(`skipping papermill tests: ${PAPERMILL} missing (run scripts/setup-python.sh)`);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "papermill-runner-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Cell = { source: string; tags?: string[] };

/** Write an nbformat 4 notebook with a python3 kernelspec; returns its path. */
function notebook(name: string, cells: Cell[]): string {
  const nb = {
    cells: cells.map((c, i) => ({
      cell_type: "code",
      execution_count: null,
      id: `c${i}`,
      metadata: { tags: c.tags ?? [] },
      outputs: [],
      source: c.source,
    })),
    metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" }, language_info: { name: "python" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  const path = join(dir, `${name}.ipynb`);
  writeFileSync(path, JSON.stringify(nb));
  return path;
}

type Run = { lines: { stream: string; line: string }[]; spawned: ProcessRecord[] };

function options(name: string, input: string, extra: Partial<PapermillOptions> = {}): PapermillOptions & Run {
  const lines: Run["lines"] = [];
  const spawned: ProcessRecord[] = [];
  return {
    lines,
    spawned,
    papermill: PAPERMILL,
    input,
    output: join(dir, `${name}.out.ipynb`),
    cwd: dir,
    parameters: {},
    env: {},
    timeoutMs: 30_000,
    onLine: (stream, line) => lines.push({ stream, line }),
    onSpawn: (procs) => spawned.push(...procs),
    ...extra,
  };
}

/** Lines the notebook printed after a marker, e.g. `OUT:{json}`. */
const printed = (run: Run, marker: string) => run.lines.filter((l) => l.line.startsWith(marker)).map((l) => l.line.slice(marker.length));

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  await eventually(cond, { what: "the condition", timeoutMs });
}

/** Everything the run started is gone: each recorded pid, and anything whose command line mentions the test dir. */
async function expectNothingLeft(run: Run): Promise<void> {
  // Allow the reaper a moment: a killed process is a zombie until reaped, and isAlive already treats it as dead.
  await waitFor(() => run.spawned.every((p) => !isAlive(p.pid)), 2000).catch(() => {});
  expect(run.spawned.filter((p) => isAlive(p.pid))).toEqual([]);
  expect(processesWithCmdline(dir)).toEqual([]);
}

const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

describe("papermillArgs", () => {
  test("strings go raw with -r, numbers and booleans typed with -p; bad names throw", () => {
    const args = papermillArgs({ input: "/a/in.ipynb", output: "/a/out.ipynb", cwd: "/a", parameters: { P: "/tmp/x/model.onnx", ID: "42", N: 3, F: false } });
    expect(args).toEqual([
      "/a/in.ipynb",
      "/a/out.ipynb",
      "-r",
      "P",
      "/tmp/x/model.onnx",
      "-r",
      "ID",
      "42",
      "-p",
      "N",
      "3",
      "-p",
      "F",
      "False",
      "--log-output",
      "--no-progress-bar",
      "--cwd",
      "/a",
    ]);
    expect(() => papermillArgs({ input: "i", output: "o", cwd: "/", parameters: { "bad-name": "x" } })).toThrow(TypeError);
    expect(() => papermillArgs({ input: "i", output: "o", cwd: "/", parameters: { N: Number.NaN } })).toThrow(TypeError);
  });
});

describe.skipIf(!haveVenv)("runPapermill", () => {
  test("succeeds; parameters keep their types, strings verbatim; lines stream in order; the kernel is reported", async () => {
    const input = notebook("ok", [
      { source: 'MODEL_OUTPUT_PATH = ""\nPIPELINE_ID = ""\nN = 0\nFLAG = False\nODD = ""', tags: ["parameters"] },
      {
        source: [
          "import json",
          "vals = {k: [type(v).__name__, v] for k, v in dict(MODEL_OUTPUT_PATH=MODEL_OUTPUT_PATH, PIPELINE_ID=PIPELINE_ID, N=N, FLAG=FLAG, ODD=ODD).items()}",
          'print("PARAMS:" + json.dumps(vals))',
          "for i in range(20):",
          '    print(f"SEQ:{i}")',
          'print("UNI:héllo ✓")',
        ].join("\n"),
      },
    ]);
    const odd = 'say "hi" \\ back\nnew line é -r --help';
    const run = options("ok", input, { parameters: { MODEL_OUTPUT_PATH: "/tmp/x/model.onnx", PIPELINE_ID: "42", N: 3, FLAG: true, ODD: odd } });
    const result = await runPapermill(run);
    expect(result).toMatchObject({ status: "succeeded", exitCode: 0 });
    expect(result.error).toBeUndefined();
    expect(JSON.parse(printed(run, "PARAMS:")[0]!)).toEqual({
      MODEL_OUTPUT_PATH: ["str", "/tmp/x/model.onnx"],
      PIPELINE_ID: ["str", "42"],
      N: ["int", 3],
      FLAG: ["bool", true],
      ODD: ["str", odd],
    });
    expect(printed(run, "SEQ:")).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(printed(run, "UNI:")).toEqual(["héllo ✓"]);
    // ipykernel's warning about its loopback TCP sockets is not passed on to the log.
    expect(run.lines.some((l) => l.line.includes("without encryption"))).toBe(false);
    // papermill first, then the kernel it started (in its own session, found by parent pid).
    expect(run.spawned.length).toBeGreaterThanOrEqual(2);
    expect(existsSync(run.output)).toBe(true);
    await expectNothingLeft(run);
  }, 30_000);

  test("a cell that raises fails the run; the failed cell is read from the output notebook", async () => {
    const input = notebook("raise", [
      { source: "x = 1", tags: ["mlops:preprocessing"] },
      { source: "def train():\n    raise ValueError('bad labels: 3 classes')\ntrain()", tags: ["mlops:training"] },
      { source: "print('never')" },
    ]);
    const run = options("raise", input);
    const result = await runPapermill(run);
    expect(result.status).toBe("failed");
    expect(result.exitCode).toBe(1);
    const cell = result.failedCell!;
    expect(cell).toMatchObject({ index: 1, tags: ["mlops:training"], ename: "ValueError", evalue: "bad labels: 3 classes" });
    expect(cell.source).toStartWith("def train():");
    expect(cell.traceback).toContain("ValueError: bad labels: 3 classes");
    expect(cell.traceback).not.toContain("\x1b[");
    expect(result.error).toBe("cell 2 of the notebook [mlops:training] raised ValueError: bad labels: 3 classes");
    expect(run.lines.some((l) => l.line.includes("never"))).toBe(false);
    await expectNothingLeft(run);
  }, 30_000);

  test("a notebook past its timeout is killed with its kernel: timed_out, nothing left", async () => {
    const input = notebook("slow", [{ source: 'print("SLEEPING", flush=True)\nimport time\ntime.sleep(300)' }]);
    const run = options("slow", input, { timeoutMs: 6000 });
    const result = await runPapermill(run);
    expect(result.status).toBe("timed_out");
    expect(result.exitCode).toBeNull();
    expect(result.durationMs).toBeGreaterThanOrEqual(6000);
    expect(result.durationMs).toBeLessThan(15_000);
    expect(printed(run, "SLEEPING")).toHaveLength(1);
    expect(run.spawned.length).toBeGreaterThanOrEqual(2);
    await expectNothingLeft(run);
  }, 30_000);

  test("an abort signal cancels a running notebook and kills its kernel: cancelled, nothing left", async () => {
    const input = notebook("cancel", [{ source: 'print("SLEEPING", flush=True)\nimport time\ntime.sleep(300)' }]);
    const abort = new AbortController();
    const run = options("cancel", input, { signal: abort.signal, timeoutMs: 60_000 });
    const kernels: number[] = [];
    const onSpawn = run.onSpawn!;
    run.onSpawn = (procs) => {
      onSpawn(procs);
      for (const p of procs) if (cmdline(p.pid).includes("ipykernel_launcher")) kernels.push(p.pid);
    };
    const running = runPapermill(run);
    await waitFor(() => printed(run, "SLEEPING").length > 0, 20_000);
    expect(kernels.length).toBe(1);
    expect(isAlive(kernels[0]!)).toBe(true);
    abort.abort();
    const result = await running;
    expect(result).toMatchObject({ status: "cancelled", exitCode: null });
    await expectNothingLeft(run);
  }, 30_000);

  test("the notebook sees only the variables passed in env, not the server's", async () => {
    process.env.MLOPS_SECRET_TEST = "1";
    try {
      const input = notebook("env", [
        {
          source: 'import os, json\nprint("ENV:" + json.dumps({k: os.environ.get(k) for k in ["MLOPS_SECRET_TEST", "PASSED_IN", "LANG", "PYTHONUNBUFFERED"]}))',
        },
        { source: 'print("HOME:" + os.environ["HOME"])\nprint("KEYS:" + ",".join(sorted(os.environ)))' },
      ]);
      const run = options("env", input, { env: { PASSED_IN: "yes", MLFLOW_RUN_ID: "abc" } });
      const result = await runPapermill(run);
      expect(result.status).toBe("succeeded");
      expect(JSON.parse(printed(run, "ENV:")[0]!)).toEqual({ MLOPS_SECRET_TEST: null, PASSED_IN: "yes", LANG: "C.UTF-8", PYTHONUNBUFFERED: "1" });
      // HOME is a private directory under cwd, removed after the run.
      const home = printed(run, "HOME:")[0]!;
      expect(home.startsWith(join(dir, ".mlops-home-"))).toBe(true);
      expect(existsSync(home)).toBe(false);
      // Exactly: what we passed, what the runner sets, and what ipykernel itself adds for its own output handling.
      const runnerSet = ["HOME", "LANG", "LOGNAME", "PATH", "PYTHONUNBUFFERED", "TMPDIR", "USER"];
      const kernelSet = [
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "FORCE_COLOR",
        "GIT_PAGER",
        "JPY_PARENT_PID",
        "MPLBACKEND",
        "PAGER",
        "PYDEVD_DISABLE_FILE_VALIDATION",
        "PYDEVD_USE_FRAME_EVAL",
        "TERM",
      ];
      expect(printed(run, "KEYS:")[0]!.split(",")).toEqual(["MLFLOW_RUN_ID", "PASSED_IN", ...runnerSet, ...kernelSet].sort());
      await expectNothingLeft(run);
    } finally {
      delete process.env.MLOPS_SECRET_TEST;
    }
  }, 30_000);

  test("papermill killed from outside: failed, and its orphaned kernel is killed too", async () => {
    const input = notebook("orphan", [{ source: 'print("SLEEPING", flush=True)\nimport time\ntime.sleep(300)' }]);
    const run = options("orphan", input);
    const running = runPapermill(run);
    await waitFor(() => printed(run, "SLEEPING").length > 0, 20_000);
    const [papermill, ...rest] = run.spawned;
    const kernel = rest.find((p) => cmdline(p.pid).includes("ipykernel_launcher"))!;
    process.kill(papermill!.pid, "SIGKILL");
    const result = await running;
    expect(result).toMatchObject({ status: "failed", exitCode: null });
    expect(result.error).toContain("SIGKILL");
    expect(isAlive(kernel.pid)).toBe(false);
    await expectNothingLeft(run);
  }, 30_000);

  test("a server that dies mid-run leaves papermill running; killRecorded on its records ends it all", async () => {
    const input = notebook("crash", [{ source: 'print("SLEEPING", flush=True)\nimport time\ntime.sleep(300)' }]);
    const records = join(dir, "crash-records.jsonl");
    writeFileSync(records, "");
    const script = `
        import { appendFileSync } from "node:fs";
        import { runPapermill } from ${JSON.stringify(join(import.meta.dir, "papermill-runner.ts"))};
        await runPapermill({
          papermill: ${JSON.stringify(PAPERMILL)}, input: ${JSON.stringify(input)}, output: ${JSON.stringify(join(dir, "crash.out.ipynb"))},
          cwd: ${JSON.stringify(dir)}, parameters: {}, env: {}, timeoutMs: 60000,
          onLine: (s, l) => { if (l.startsWith("SLEEPING")) appendFileSync(${JSON.stringify(records)}, "SLEEPING\\n"); },
          onSpawn: (procs) => { for (const p of procs) appendFileSync(${JSON.stringify(records)}, JSON.stringify(p) + "\\n"); },
        });`;
    const server = Bun.spawn([process.execPath, "-e", script], { stdio: ["ignore", "inherit", "inherit"] });
    const lines = () => readFileSync(records, "utf8").split("\n").filter(Boolean);
    await waitFor(() => lines().includes("SLEEPING"), 20_000);
    server.kill("SIGKILL");
    await server.exited;
    const recorded: ProcessRecord[] = lines()
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l));
    expect(recorded.length).toBeGreaterThanOrEqual(2);
    // papermill and its kernel outlive the server (papermill has its own session).
    expect(recorded.every((p) => isAlive(p.pid))).toBe(true);
    const killed = killRecorded(recorded);
    expect(killed.map((p) => p.pid).sort()).toEqual(recorded.map((p) => p.pid).sort());
    await expectNothingLeft({ lines: [], spawned: recorded });
  }, 30_000);

  test("an already aborted signal never starts papermill", async () => {
    const abort = new AbortController();
    abort.abort();
    const run = options("pre-aborted", join(dir, "does-not-matter.ipynb"), { signal: abort.signal });
    const result = await runPapermill(run);
    expect(result.status).toBe("cancelled");
    expect(run.spawned).toEqual([]);
  });

  test("a missing input notebook fails with papermill's own message", async () => {
    const run = options("missing", join(dir, "missing.ipynb"));
    const result = await runPapermill(run);
    expect(result.status).toBe("failed");
    expect(result.exitCode).not.toBe(0);
    expect(result.failedCell).toBeUndefined();
    expect(result.error).toContain("missing.ipynb");
    await expectNothingLeft(run);
  }, 30_000);
});
