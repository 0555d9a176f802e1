// Test support for pipeline end-to-end tests: tiny notebooks (no scikit-learn in the kernel), process checks, predict.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestModel } from "./test-models.ts";
import { notebook, ROOT, type TestServer } from "./e2e.ts";
import { eventually } from "./eventually.ts";

/** Iris rows the tiny model answers for. */
export const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 4.2, 1.5],
];

/**
 * Base64 of a small ONNX iris classifier, built once per machine by scripts/make-test-model.py (cached in the
 * temp dir keyed by the script's content), so notebooks can write a real model without importing scikit-learn.
 */
export async function tinyOnnxBase64(): Promise<string> {
  const key = Bun.hash(readFileSync(join(ROOT, "scripts", "make-test-model.py"))).toString(16);
  const dir = join(tmpdir(), `mlops-e2e-model-${key}`);
  const file = join(dir, "model.onnx");
  if (!existsSync(file)) {
    const staging = `${dir}.${process.pid}`;
    mkdirSync(staging, { recursive: true });
    await makeTestModel(staging);
    try {
      renameSync(staging, dir);
    } catch {
      // another run made it first: theirs is the same model
    }
  }
  return readFileSync(file).toString("base64");
}

/** The config/preprocessing/training cells every tiny notebook shares; `training` runs in the training cell. */
function head(modelName: string, training = "pass"): { tags: string[]; source: string }[] {
  return [
    { tags: ["mlops:config"], source: `MODEL_NAME = "${modelName}"\nVERSION = "1"` },
    { tags: ["mlops:preprocessing"], source: "import base64, json, os, sys, time" },
    { tags: ["mlops:training"], source: training },
  ];
}

const GOOD_METRICS = 'json.dump({"accuracy": 1.0}, open(METRICS_OUTPUT_PATH, "w"))';

/** A notebook that writes the tiny ONNX model and metrics (`metricsCode`, default {"accuracy": 1.0}); `training` runs before export. */
export function modelNotebook(modelName: string, onnxB64: string, training = "pass", metricsCode = GOOD_METRICS): string {
  return notebook([
    ...head(modelName, training),
    {
      tags: ["mlops:export"],
      source: [`open(MODEL_OUTPUT_PATH, "wb").write(base64.b64decode("${onnxB64}"))`, metricsCode, `print("exported", flush=True)`].join("\n"),
    },
  ]);
}

/** A notebook whose export cell is `exportSource` (after the shared cells). */
export function exportNotebook(modelName: string, exportSource: string): string {
  return notebook([...head(modelName), { tags: ["mlops:export"], source: exportSource }]);
}

/** A notebook that prints `marker` from the kernel, then sleeps `seconds`. */
export function sleeperNotebook(modelName: string, marker: string, seconds = 300): string {
  return notebook([...head(modelName, `print("${marker}", flush=True)\ntime.sleep(${seconds})`), { tags: ["mlops:export"], source: "pass" }]);
}

/**
 * A notebook that prints `marker` from the kernel, then waits until `goUrl` answers 200 (at most `seconds`), then
 * writes the tiny model: a long-running notebook the test lets finish when it chooses. A URL, not a file: the
 * sandboxed notebook sees no file of the test's, but it has the network (see gate()).
 */
export function gatedNotebook(modelName: string, onnxB64: string, marker: string, goUrl: string, seconds = 120): string {
  return modelNotebook(modelName, onnxB64, [`print("${marker}", flush=True)`, waitForUrlPython(goUrl, seconds)].join("\n"));
}

/** Python (at the top level of a cell) that waits until `url` answers 200, at most `seconds`: a gate()'s signal. */
export function waitForUrlPython(url: string, seconds = 120): string {
  return [
    `import time, urllib.request`,
    `for _ in range(${seconds * 20}):`,
    `    try:`,
    `        if urllib.request.urlopen(${JSON.stringify(url)}, timeout=1).status == 200:`,
    `            break`,
    `    except Exception:`,
    `        pass`,
    `    time.sleep(0.05)`,
  ].join("\n");
}

/** A loopback URL that answers 404 until `open()`, then 200: the go signal of gatedNotebook. */
export function gate(): { url: string; open(): void; stop(): void } {
  let opened = false;
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(null, { status: opened ? 200 : 404 }) });
  return {
    url: `http://127.0.0.1:${server.port}/go`,
    open: () => void (opened = true),
    stop: () => void server.stop(true),
  };
}

/** Live processes whose command line contains `needle` (a pipeline's work dir names papermill and its kernel). */
export function processesMentioning(needle: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        if (/\) [ZX] /.test(stat)) return false; // a zombie is already dead
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The marker that names a pipeline's processes: its work dir. */
export function workDirOf(dataDir: string, pipelineId: number): string {
  return `${dataDir}/pipelines/${pipelineId}/`;
}

export type PredictAnswer = { status: number; body: { model?: string; version?: number; predictions?: unknown[]; probabilities?: number[][]; error?: string } };

/** POST rows to /models/{name}/predict on `base`. */
export async function predict(base: string, model: string, rows: number[][] = ROWS): Promise<PredictAnswer> {
  const res = await fetch(`${base}/models/${model}/predict`, { method: "POST", body: JSON.stringify({ inputs: rows }) });
  return { status: res.status, body: (await res.json()) as PredictAnswer["body"] };
}

/** Register a repository through the API; expects 201 and returns its id. */
export async function registerRepo(server: Pick<TestServer, "api">, fullName: string, cloneUrl: string, extra: object = {}): Promise<number> {
  const res = await server.api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: fullName, clone_url: cloneUrl, ...extra }) });
  if (res.status !== 201) throw new Error(`registering ${fullName}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: number }).id;
}

type Listed = { id: number; status: string; notebook_path: string; commit: string; error: string | null; retry_of: number | null; trigger: string };

/** Pipelines of a repository, newest first. */
export async function listPipelines(server: Pick<TestServer, "api">, repoId: number): Promise<Listed[]> {
  return ((await (await server.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: Listed[] }).pipelines;
}

/** Poll until the repository has at least `count` pipelines (any status); returns them newest first. */
export function waitForCreated(server: Pick<TestServer, "api">, repoId: number, count = 1, timeoutMs = 30_000): Promise<Listed[]> {
  return eventually(
    async () => {
      const list = await listPipelines(server, repoId);
      return list.length >= count && list;
    },
    { what: `repository ${repoId} to have ${count} pipelines`, timeoutMs },
  );
}

/** Poll a pipeline's log until it contains `text`. */
export function waitForLog(server: Pick<TestServer, "api">, pipelineId: number, text: string, timeoutMs = 60_000): Promise<string> {
  return eventually(
    async () => {
      const log = await (await server.api(`/api/pipelines/${pipelineId}/logs`)).text();
      return log.includes(text) && log;
    },
    { what: `pipeline ${pipelineId}'s log to show ${JSON.stringify(text)}`, timeoutMs },
  );
}
