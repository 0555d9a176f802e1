// The runner contract as the local backend keeps it: real papermill in the real sandbox, on real notebooks.
// Lines stream while it runs, the handle's id names the run, the result carries the status, the failed cell and the
// outputs; cancel and the time limit stop it with nothing left running; nothing can be attached after a restart.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive, processStartTime, type ProcessRecord } from "../lib/process-tree.ts";
import { NotebookSandbox } from "../sandbox/notebook-sandbox.ts";
import { notebook, VENV_BIN } from "../testing/e2e.ts";
import { testEnvironments } from "../testing/test-environments.ts";
import { LocalRunner } from "./local-runner.ts";
import type { RunEvents, RunSpec } from "./runner.ts";

let runner: LocalRunner;
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "mlops-local-runner-"));
  const sandbox = await NotebookSandbox.start({
    setting: "auto",
    executables: [join(VENV_BIN, "papermill"), join(VENV_BIN, "python"), join(VENV_BIN, "uv")],
    privateDirs: [join(root, "private")],
    limits: { dataBytes: 4096 * 1024 * 1024, processes: 1024, fileBytes: 1024 * 1024 * 1024 },
    scratchDir: join(root, "scratch"),
  });
  const environments = testEnvironments(join(root, "environments"), sandbox);
  runner = new LocalRunner({ papermill: join(VENV_BIN, "papermill"), environments, sandbox, network: false, maxLineChars: 10_000 });
});

let next = 1;
/** A pipeline work dir holding `cells` as the notebook, and the spec that runs it. */
function specFor(cells: { tags: string[]; source: string }[], timeoutMs = 60_000): RunSpec {
  const pipelineId = next++;
  const workDir = join(root, "pipelines", String(pipelineId));
  const repo = join(workDir, "repo");
  mkdirSync(repo, { recursive: true });
  mkdirSync(join(workDir, "output"), { recursive: true });
  writeFileSync(join(repo, "nb.ipynb"), notebook(cells));
  return {
    pipelineId,
    notebook: join(repo, "nb.ipynb"),
    cwd: repo,
    workDir,
    outputs: { model: join(workDir, "output", "model"), metrics: join(workDir, "output", "metrics.json"), executed: join(workDir, "executed.ipynb") },
    parameters: { MODEL_OUTPUT_PATH: join(workDir, "output", "model"), PIPELINE_ID: String(pipelineId) },
    env: { RUN_SECRET: "in-the-environment-only" },
    timeoutMs,
  };
}

function recorder() {
  const lines: string[] = [];
  const procs: ProcessRecord[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  const events: RunEvents = {
    onLine: (_stream, line) => {
      lines.push(line);
      for (const w of waiters.filter((w) => line.includes(w.text))) w.resolve();
    },
    onSpawn: (p) => procs.push(...p),
  };
  const sawLine = (text: string) => (lines.some((l) => l.includes(text)) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve })));
  return { lines, procs, events, sawLine };
}

const alive = (procs: ProcessRecord[]) => procs.filter((p) => processStartTime(p.pid) === p.startTime && isAlive(p.pid));

describe("LocalRunner", () => {
  test("without an environment, submit runs the bundled runtime, streams lines and ends succeeded with the outputs where the spec put them", async () => {
    const spec = specFor([
      { tags: ["mlops:training"], source: `import os\nprint("pipeline", PIPELINE_ID, os.environ["RUN_SECRET"])\nopen(MODEL_OUTPUT_PATH, "w").write("m")` },
    ]);
    const r = recorder();
    const handle = runner.submit(spec, r.events);
    expect(handle.id).toStartWith(`local:${spec.pipelineId}:`);
    const result = await handle.result;
    expect(result).toMatchObject({ status: "succeeded", exitCode: 0, outputs: spec.outputs });
    expect(r.lines.join("\n")).toContain(`pipeline ${spec.pipelineId} in-the-environment-only`);
    // the environment reached the notebook without being written into it as a parameter
    const executed = (await Bun.file(spec.outputs.executed).json()) as { cells: { source: string[] }[]; metadata: { papermill: { parameters: object } } };
    expect(executed.metadata.papermill.parameters).toEqual(spec.parameters);
    expect(executed.cells[0]!.source.join("")).not.toContain("in-the-environment-only");
    expect(r.procs.length).toBeGreaterThan(0);
    expect(existsSync(spec.outputs.executed)).toBe(true);
    expect(existsSync(spec.outputs.model)).toBe(true);
    expect(alive(r.procs)).toEqual([]);
  }, 60_000);

  test("a raising cell is a failed result naming the cell, not a throw", async () => {
    const spec = specFor([
      { tags: ["mlops:config"], source: "x = 1" },
      { tags: ["mlops:training"], source: 'raise ValueError("no rows")' },
    ]);
    const result = await runner.submit(spec, recorder().events).result;
    expect(result.status).toBe("failed");
    expect(result.failedCell).toMatchObject({ index: 1, tags: ["mlops:training"], ename: "ValueError", evalue: "no rows" });
    expect(result.error).toContain("ValueError: no rows");
  }, 60_000);

  test("cancel stops the run: cancelled, nothing of it left running; a second cancel changes nothing", async () => {
    const spec = specFor([{ tags: ["mlops:training"], source: 'import time\nprint("waiting", flush=True)\ntime.sleep(300)' }]);
    const r = recorder();
    const handle = runner.submit(spec, r.events);
    await r.sawLine("waiting");
    handle.cancel();
    handle.cancel();
    const result = await handle.result;
    expect(result.status).toBe("cancelled");
    expect(alive(r.procs)).toEqual([]);
  }, 60_000);

  test("the spec's time limit ends it as timed_out", async () => {
    const spec = specFor([{ tags: ["mlops:training"], source: "import time\ntime.sleep(300)" }], 3_000);
    const r = recorder();
    const result = await runner.submit(spec, r.events).result;
    expect(result.status).toBe("timed_out");
    expect(alive(r.procs)).toEqual([]);
  }, 60_000);

  test("prepare builds the environment a requirements file names; the run uses its python and cannot write into it", async () => {
    const log: string[] = [];
    const environment = await runner.prepare({ path: "requirements.txt", lines: ["tabulate==0.9.0"] }, (l) => log.push(l));
    expect(environment.local?.dir).toStartWith(join(root, "environments"));
    expect(log.join("\n")).toContain("+ tabulate==0.9.0");
    const spec = {
      ...specFor([
        {
          tags: ["mlops:training"],
          source: [
            "import os, sys, tabulate",
            'print("prefix", sys.prefix)',
            'print("tabulate", tabulate.__version__)',
            "try:",
            '    open(os.path.join(sys.prefix, "planted.py"), "w")',
            '    print("wrote into the environment")',
            "except OSError as e:",
            '    print("cannot write", e.errno)',
          ].join("\n"),
        },
      ]),
      environment,
    };
    const r = recorder();
    const result = await runner.submit(spec, r.events).result;
    expect(result.status).toBe("succeeded");
    const out = r.lines.join("\n");
    expect(out).toContain(`prefix ${environment.local!.dir}`);
    expect(out).toContain("tabulate 0.9.0");
    expect(out).toMatch(/cannot write (30|13)/);
    expect(existsSync(join(environment.local!.dir, "planted.py"))).toBe(false);
  }, 300_000);

  test("local runs do not outlive the server: attach finds nothing", () => {
    expect(runner.attach()).toBeUndefined();
  });
});
