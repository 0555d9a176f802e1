// The Jobs API client against a real two-node Ray cluster (run by scripts/test-ray.sh, inside a network namespace
// with loopback alone): packages, jobs placed by resources, logs, stop, the errors a caller must tell apart.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../lib/process-tree.ts";
import { zipDirectory } from "../lib/zip-directory.ts";
import { eventually } from "../testing/eventually.ts";
import { type RayCluster, startRayCluster } from "../testing/ray-cluster.ts";
import { type RayJobInfo, RayApiError, RayJobsClient, RayUnreachableError } from "./ray-jobs-client.ts";

let cluster: RayCluster;
let ray: RayJobsClient;
let workingDir: string;

beforeAll(async () => {
  cluster = await startRayCluster({ workerResources: { trainer: 1 } });
  // Extra headers (RAY_HEADERS) go with every request; Ray itself ignores them.
  ray = new RayJobsClient({ address: cluster.address, headers: { "x-mlops-test": "1" } });
  const dir = mkdtempSync(join(tmpdir(), "ray-job-src-"));
  writeFileSync(
    join(dir, "hello.py"),
    [
      "import os, sys, time",
      "print('greeting:', open('data/greeting.txt').read().strip(), flush=True)",
      "for i in range(3):",
      "    print('line', i, flush=True)",
      "print('to stderr', file=sys.stderr, flush=True)",
      "if os.environ.get('PID_FILE'):",
      "    open(os.environ['PID_FILE'], 'w').write(str(os.getpid()))",
      "    print('ready', flush=True)",
      "    time.sleep(600)",
      "",
    ].join("\n"),
  );
  mkdirSync(join(dir, "data"));
  writeFileSync(join(dir, "data", "greeting.txt"), "hello from the package\n");
  workingDir = (await ray.uploadPackage(zipDirectory(dir))).uri;
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
}, 60_000);

let seq = 0;
/** A submission id of its own for each job of this file. */
const jobId = (name: string) => `test-${name}-${++seq}`;

async function finalStatus(id: string, timeoutMs = 60_000): Promise<RayJobInfo> {
  return eventually(
    async () => {
      const s = await ray.status(id);
      return s && (s.status === "SUCCEEDED" || s.status === "FAILED" || s.status === "STOPPED") ? s : undefined;
    },
    { what: `Ray job ${id} to end`, timeoutMs },
  );
}

test("a package is uploaded once under its content-addressed name; the second upload of the same bytes is skipped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ray-pkg-"));
  writeFileSync(join(dir, "a.txt"), `made at ${performance.now()}\n`);
  const zip = zipDirectory(dir);
  const first = await ray.uploadPackage(zip);
  expect(first.uri).toMatch(/^gcs:\/\/_ray_pkg_[0-9a-f]{40}\.zip$/);
  expect(first.uploaded).toBe(true);
  const second = await ray.uploadPackage(zip);
  expect(second).toEqual({ uri: first.uri, uploaded: false });
  // Other bytes, another name.
  const other = await ray.uploadPackage(zipDirectory(dir, { "b.txt": "b" }));
  expect(other.uri).not.toBe(first.uri);
  expect(other.uploaded).toBe(true);
});

test("a job runs the script of its working dir to SUCCEEDED; its logs hold what it printed, and logsSince only what is new", async () => {
  const id = jobId("hello");
  expect(await ray.submit({ submissionId: id, entrypoint: "python hello.py", runtimeEnv: { working_dir: workingDir }, metadata: { pipeline: "7" } })).toBe(id);
  const end = await finalStatus(id);
  expect(end).toMatchObject({ submissionId: id, status: "SUCCEEDED", entrypoint: "python hello.py", metadata: { pipeline: "7" }, driverExitCode: 0 });
  expect(end.driverNodeId).toMatch(/^[0-9a-f]{56}$/);
  expect([cluster.headNodeId, cluster.workerNodeId]).toContain(end.driverNodeId!);
  const logs = await ray.logs(id);
  expect(logs).toContain("greeting: hello from the package\nline 0\nline 1\nline 2\n");
  expect(logs).toContain("to stderr");

  const part = await ray.logsSince(id, logs.indexOf("line 1"));
  expect(part).toEqual({ text: logs.slice(logs.indexOf("line 1")), offset: logs.length, restarted: false });
  expect(await ray.logsSince(id, logs.length)).toEqual({ text: "", offset: logs.length, restarted: false });
  expect(await ray.logsSince(id, logs.length + 100)).toEqual({ text: logs, offset: logs.length, restarted: true });
});

test("followLogs hands over the log while the job runs, then ends complete; from an offset it gives only the rest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ray-ticker-"));
  // Each tick waits for the test to have seen the one before (a file it writes), so the job is surely still running.
  writeFileSync(
    join(dir, "tick.py"),
    "import os, sys, time\nfor i in range(3):\n    print('tick', i, flush=True)\n    while not os.path.exists(sys.argv[1] + str(i)):\n        time.sleep(0.05)\nprint('done', flush=True)\n",
  );
  const acks = mkdtempSync(join(tmpdir(), "ray-acks-"));
  const { uri } = await ray.uploadPackage(zipDirectory(dir));
  const id = jobId("ticker");
  await ray.submit({ submissionId: id, entrypoint: `python tick.py ${join(acks, "ack")}`, runtimeEnv: { working_dir: uri } });
  let text = "";
  const statusAtTicks: string[] = [];
  const followed = await ray.followLogs(id, (piece) => {
    text += piece;
    for (let i = 0; i < 3; i++) {
      if (text.includes(`tick ${i}\n`) && !existsSync(join(acks, `ack${i}`))) {
        statusAtTicks.push(`tick ${i}`);
        writeFileSync(join(acks, `ack${i}`), "");
      }
    }
  });
  expect(statusAtTicks).toEqual(["tick 0", "tick 1", "tick 2"]);
  expect(followed.complete).toBe(true);
  expect((await ray.status(id))!.status).toBe("SUCCEEDED");
  const logs = await ray.logs(id);
  expect(text).toBe(logs);
  expect(followed.offset).toBe(logs.length);
  expect(logs).toContain("tick 0\ntick 1\ntick 2\ndone\n");

  // Resuming (a restarted server that stored part of it) gives the rest, exactly.
  const from = logs.indexOf("tick 1");
  let rest = "";
  const resumed = await ray.followLogs(
    id,
    (piece) => {
      rest += piece;
    },
    { offset: from },
  );
  expect(rest).toBe(logs.slice(from));
  expect(resumed).toEqual({ offset: logs.length, complete: true });

  const unknown = await ray.followLogs("no-such-job", () => {}).catch((e) => e);
  expect(unknown).toBeInstanceOf(RayApiError);
  expect(unknown.status).toBe(404);
});

test("a job asking for the worker's custom resource runs on the worker node", async () => {
  const id = jobId("trainer");
  await ray.submit({ submissionId: id, entrypoint: "python hello.py", runtimeEnv: { working_dir: workingDir }, entrypointResources: { trainer: 1 } });
  const end = await finalStatus(id);
  expect(end.status).toBe("SUCCEEDED");
  expect(end.driverNodeId).toBe(cluster.workerNodeId);
  expect(cluster.workerNodeId).not.toBe(cluster.headNodeId);
});

test("a job asking for a GPU no node has stays PENDING, saying it waits for resources, while jobs after it run; Ray's stop() does not end it", async () => {
  const gpu = jobId("gpu");
  await ray.submit({ submissionId: gpu, entrypoint: "python -c 'print(1)'", entrypointNumGpus: 1 });
  // A job submitted after it gets placed and finishes: the cluster had every chance to place the GPU job too.
  const after = jobId("after-gpu");
  await ray.submit({ submissionId: after, entrypoint: "python -c 'print(2)'" });
  expect((await finalStatus(after)).status).toBe("SUCCEEDED");
  const waiting = await ray.status(gpu);
  expect(waiting).toMatchObject({ status: "PENDING", driverNodeId: undefined });
  expect(waiting!.message).toMatch(/waiting for resources/i);
  expect(await ray.logs(gpu)).toBe("");

  // Ray answers that it is stopping the job, but the stop is a call to the job's supervisor, which no node took:
  // the job stays PENDING (until Ray's own RAY_JOB_START_TIMEOUT_SECONDS, 15 minutes by default, fails it). A caller
  // that gives up on a pending job records the end itself.
  expect(await ray.stop(gpu)).toBe(true);
  const later = jobId("after-stop");
  await ray.submit({ submissionId: later, entrypoint: "python -c 'print(3)'" });
  expect((await finalStatus(later)).status).toBe("SUCCEEDED");
  expect((await ray.status(gpu))!.status).toBe("PENDING");
});

test("stop() ends a running job: STOPPED, its process gone; stopping it again says false", async () => {
  const id = jobId("sleeper");
  const pidFile = join(mkdtempSync(join(tmpdir(), "ray-pid-")), "pid");
  await ray.submit({ submissionId: id, entrypoint: "python hello.py", runtimeEnv: { working_dir: workingDir, env_vars: { PID_FILE: pidFile } } });
  await eventually(async () => (await ray.logs(id)).includes("ready"), { what: "the sleeping job to start", timeoutMs: 60_000 });
  expect((await ray.status(id))!.status).toBe("RUNNING");
  const pid = Number(readFileSync(pidFile, "utf8"));
  expect(isAlive(pid)).toBe(true);

  expect(await ray.stop(id)).toBe(true);
  const end = await finalStatus(id);
  expect(end.status).toBe("STOPPED");
  await eventually(() => !isAlive(pid), { what: `the job's process ${pid} to end`, timeoutMs: 30_000 });
  expect(await ray.stop(id)).toBe(false);
});

test("submitting a submission id again is a RayApiError marked duplicate, and the first job is left as it was", async () => {
  const id = jobId("dup");
  await ray.submit({ submissionId: id, entrypoint: "python hello.py", runtimeEnv: { working_dir: workingDir } });
  const first = await finalStatus(id);
  const err = await ray.submit({ submissionId: id, entrypoint: "python -c 'print(666)'" }).catch((e) => e);
  expect(err).toBeInstanceOf(RayApiError);
  expect(err.duplicateSubmission).toBe(true);
  expect(err.rayMessage).toContain(`Job with submission_id ${id} already exists`);
  // One line of Ray's words, not its traceback.
  expect(err.rayMessage).not.toContain("\n");
  expect(err.rayMessage).not.toContain("Traceback");
  expect(await ray.status(id)).toEqual(first);
  expect(await ray.logs(id)).not.toContain("666");
});

test("a job installs a package from the local wheel directory through its runtime env's pip, offline, and imports it", async () => {
  // Not part of the cluster's own Python: the job must install it.
  expect(Bun.spawnSync([cluster.python, "-c", "import tabulate"]).exitCode).not.toBe(0);
  expect(existsSync(cluster.wheels)).toBe(true);
  const id = jobId("pip");
  await ray.submit({
    submissionId: id,
    entrypoint: `python -c "import tabulate; print('tabulate', tabulate.__version__); print(tabulate.tabulate([[1, 2]], headers=['a', 'b']))"`,
    runtimeEnv: { pip: { packages: ["tabulate==0.9.0"], pip_install_options: ["--no-index", "--find-links", cluster.wheels, "--disable-pip-version-check"] } },
  });
  const end = await finalStatus(id, 120_000);
  const logs = await ray.logs(id);
  expect(end.status, `${end.message}\n${logs}`).toBe("SUCCEEDED");
  expect(logs).toContain("tabulate 0.9.0");
  expect(logs).toMatch(/a\s+b\n-+\s+-+\n\s*1\s+2/);
}, 150_000);

test("a job whose pip requirement is not in the wheel directory FAILS with Ray's reason", async () => {
  const id = jobId("pip-missing");
  await ray.submit({
    submissionId: id,
    entrypoint: "python -c 'print(1)'",
    runtimeEnv: { pip: { packages: ["no-such-package-mlops==1.0"], pip_install_options: ["--no-index", "--find-links", cluster.wheels] } },
  });
  const end = await finalStatus(id, 120_000);
  expect(end.status).toBe("FAILED");
  expect(end.errorType).toBe("RUNTIME_ENV_SETUP_FAILURE");
  expect(end.message).toContain("no-such-package-mlops");
}, 150_000);

test("the cluster's Python runs a notebook with papermill inside a job, scikit-learn and the ONNX converters included", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ray-nb-"));
  const code = [
    "import matplotlib, numpy as np, onnx, onnxmltools, pandas as pd, sklearn, skl2onnx",
    "from sklearn.linear_model import LogisticRegression",
    "from skl2onnx import to_onnx",
    "X = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)",
    "model = LogisticRegression().fit(X, [0, 1, 1, 0])",
    "proto = to_onnx(model, X[:1], options={id(model): {'zipmap': False}})",
    "onnx.checker.check_model(proto)",
    "print('sklearn', sklearn.__version__, 'onnx graph nodes', len(proto.graph.node))",
  ].join("\n");
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: [{ cell_type: "code", id: "c1", metadata: {}, execution_count: null, outputs: [], source: code }],
  };
  writeFileSync(join(dir, "train.ipynb"), JSON.stringify(nb));
  const { uri } = await ray.uploadPackage(zipDirectory(dir));
  const id = jobId("papermill");
  await ray.submit({ submissionId: id, entrypoint: "papermill train.ipynb out.ipynb --log-output --no-progress-bar", runtimeEnv: { working_dir: uri } });
  const end = await finalStatus(id, 120_000);
  const logs = await ray.logs(id);
  expect(end.status, `${end.message}\n${logs}`).toBe("SUCCEEDED");
  expect(logs).toMatch(/sklearn 1\.8\.0 onnx graph nodes \d+/);
}, 150_000);

test("an unknown job: status undefined, stop false, logs a RayApiError 404", async () => {
  expect(await ray.status("no-such-job")).toBeUndefined();
  expect(await ray.stop("no-such-job")).toBe(false);
  const err = await ray.logs("no-such-job").catch((e) => e);
  expect(err).toBeInstanceOf(RayApiError);
  expect(err.status).toBe(404);
  expect(err.duplicateSubmission).toBe(false);
});

test("a malformed submission is a RayApiError 400 with Ray's one-line reason", async () => {
  const err = await ray.submit({ submissionId: jobId("bad"), entrypoint: "python -c 'print(1)'", entrypointMemoryBytes: 1.5 }).catch((e) => e);
  expect(err).toBeInstanceOf(RayApiError);
  expect(err.status).toBe(400);
  expect(err.rayMessage).toBe("entrypoint_memory must be an integer, got <class 'float'>");
  expect(err.rayMessage).not.toContain("\n");
});

test("against a closed port every call is a RayUnreachableError, at once rather than after the timeout", async () => {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  const closed = new RayJobsClient({ address: `http://127.0.0.1:${port}`, timeoutMs: 60_000 });
  const started = performance.now();
  for (const call of [
    () => closed.status("x"),
    () => closed.submit({ submissionId: "x", entrypoint: "true" }),
    () => closed.uploadPackage(new Uint8Array(3)),
  ]) {
    const err = await call().catch((e) => e);
    expect(err).toBeInstanceOf(RayUnreachableError);
    expect(err.message).toContain(`Ray at http://127.0.0.1:${port} did not answer`);
  }
  expect(performance.now() - started).toBeLessThan(10_000);
});
