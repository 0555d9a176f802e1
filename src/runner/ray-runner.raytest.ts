// RUNNER_BACKEND=ray end to end, against a real two-node Ray cluster (run by scripts/test-ray.sh, inside a network
// namespace with loopback alone): pushes deploy and serve through Ray jobs that upload their results with the
// pipeline's token; a notebook asking for the worker's custom resource runs there; one asking for a GPU nobody has
// fails after RAY_PENDING_TIMEOUT_SECONDS naming it; cancel stops the Ray job; a repository's runner_resources apply.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exampleNotebook, makeRepo, notebook, sendPush, signIn, startTestServer, waitForPipelines, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { predict, registerRepo, ROWS, waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";
import { startRayCluster, type RayCluster } from "../testing/ray-cluster.ts";
import { readEvents } from "../testing/sse.ts";
import { RayJobsClient } from "./ray-jobs-client.ts";

// Long enough for the examples here, short enough for the timeout test to wait it out.
const TIMEOUT_SECONDS = 45;
let cluster: RayCluster;
let server: TestServer;
let ray: RayJobsClient;

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

beforeAll(async () => {
  cluster = await startRayCluster({ workerResources: { trainer: 1 } });
  ray = new RayJobsClient({ address: cluster.address });
  const port = freePort();
  server = await startTestServer({
    RUNNER_BACKEND: "ray",
    RAY_ADDRESS: cluster.address,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    PORT: String(port),
    // It counts the runtime env's pip install on the node too (Ray shows both as PENDING): under load that takes 15 s.
    RAY_PENDING_TIMEOUT_SECONDS: "40",
    PIPELINE_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
    WORKER_CONCURRENCY: "4",
  });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await cluster?.stop();
});

/** `nb` with `metadata.mlops.resources` set. */
function asking(nb: string, resources: object): string {
  const parsed = JSON.parse(nb) as { metadata: Record<string, unknown> };
  parsed.metadata.mlops = { resources };
  return JSON.stringify(parsed);
}

const jobOf = (pipelineId: number) => ray.status(`mlops-${pipelineId}-1`);

describe("RUNNER_BACKEND=ray", () => {
  test("the example notebooks run as Ray jobs, upload their results, deploy and serve; a joblib model is converted on the node", async () => {
    const repo = makeRepo({ "iris-onnx.ipynb": exampleNotebook("iris-onnx.ipynb"), "iris-joblib.ipynb": exampleNotebook("iris-joblib.ipynb") });
    const repoId = await registerRepo(server, "acme/ray", repo.dir);
    expect((await sendPush(server.base, { fullName: "acme/ray", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, 2, 240_000);
    for (const p of ended) {
      const log = await (await server.api(`/api/pipelines/${p.id}/logs`)).text();
      expect({ path: p.notebook_path, status: p.status, error: p.error, log: p.status === "succeeded" ? "" : log }).toEqual({
        path: p.notebook_path,
        status: "succeeded",
        error: null,
        log: "",
      });
      expect(log).toContain("mlops: running");
      expect(log).toContain("mlops: uploaded model, metrics, notebook");
      expect((await jobOf(p.id))?.status).toBe("SUCCEEDED");
    }
    const joblibLog = await (await server.api(`/api/pipelines/${ended.find((p) => p.notebook_path === "iris-joblib.ipynb")!.id}/logs`)).text();
    expect(joblibLog).toContain("mlops: converted to ONNX on the node");
    for (const model of ["iris", "iris-joblib"]) {
      const answer = await predict(server.base, model, ROWS);
      expect(answer.status).toBe(200);
      expect(answer.body.predictions).toHaveLength(ROWS.length);
    }
  }, 300_000);

  test("a notebook asking for the worker's custom resource runs on the worker node", async () => {
    const nb = asking(exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"iris-trainer\\"'), { resources: { trainer: 1 } });
    const repo = makeRepo({ "train.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-trainer", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-trainer", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 240_000);
    expect(p!.status).toBe("succeeded");
    expect((await jobOf(p!.id))?.driverNodeId).toBe(cluster.workerNodeId);
    // In Ray's own working dir on the node, nowhere in the server's DATA_DIR.
    const log = await (await server.api(`/api/pipelines/${p!.id}/logs`)).text();
    const input = /^Input Notebook:\s+(\S+)$/m.exec(log)?.[1];
    expect(input).toStartWith(cluster.tempDir);
    expect(input).not.toStartWith(server.dataDir);
    // Where it ran, in the API and on the page, with a link to the job in Ray's dashboard.
    const detail = (await (await server.api(`/api/pipelines/${p!.id}`)).json()) as { runner: Record<string, unknown> };
    expect(detail.runner).toEqual({
      backend: "ray",
      job_id: `mlops-${p!.id}-1`,
      node_id: cluster.workerNodeId,
      dashboard_url: ray.dashboardUrl(`mlops-${p!.id}-1`),
    });
    const page = await (await fetch(`${server.base}/pipelines/${p!.id}`, { headers: { Cookie: await signIn(server.base) } })).text();
    expect(page).toContain(`<a href="${ray.dashboardUrl(`mlops-${p!.id}-1`)}">mlops-${p!.id}-1</a>`);
  }, 300_000);

  test("a notebook asking for a GPU no node has fails after RAY_PENDING_TIMEOUT_SECONDS, naming what it asked", async () => {
    const nb = asking(exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"iris-gpu\\"'), { num_gpus: 1 });
    const repo = makeRepo({ "gpu.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-gpu", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-gpu", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 120_000);
    expect(p!.status).toBe("failed");
    expect(p!.error).toContain("RAY_PENDING_TIMEOUT_SECONDS");
    expect(p!.error).toContain("num_gpus 1");
    // Ray's stop does not end a job no node took (it fails it after its own start timeout); nothing of it ran.
    expect((await jobOf(p!.id))?.status).toBe("PENDING");
  }, 180_000);

  test("what the notebook prints reaches the pipeline's live stream while the job runs, most lines within 2 s", async () => {
    const TICKS = 12;
    const nb = notebook([
      { tags: ["mlops:config"], source: 'MODEL_NAME = "ticker"\nVERSION = "1"' },
      { tags: ["mlops:preprocessing"], source: "import time" },
      { tags: ["mlops:training"], source: `for i in range(${TICKS}):\n    print(f"tick {i} at {time.time():.6f}", flush=True)\n    time.sleep(0.5)` },
      { tags: ["mlops:export"], source: "pass" },
    ]);
    const repo = makeRepo({ "ticker.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-ticker", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-ticker", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    const events = await readEvents(await server.api(`/api/pipelines/${id}/events`));
    const ticks = events.filter((e) => e.event === "log" && /tick \d+ at /.test(e.data));
    expect(ticks).toHaveLength(TICKS);
    const printedAt = (data: string) => Number(/tick \d+ at ([\d.]+)/.exec((JSON.parse(data) as { line: string }).line)![1]) * 1000;
    // Live, not at the end: the first tick arrived before the last was printed.
    expect(ticks[0]!.arrivedAt).toBeLessThan(printedAt(ticks.at(-1)!.data));
    const latencies = ticks.map((e) => e.arrivedAt - printedAt(e.data)).sort((a, b) => a - b);
    console.log(`Ray job print → SSE client, ${latencies.length} lines: p50 ${latencies[latencies.length >> 1]} ms, max ${latencies.at(-1)} ms`);
    expect(latencies.filter((ms) => ms <= 2_000).length).toBeGreaterThanOrEqual(Math.ceil(TICKS * 0.8));
    // The pipeline itself fails at register (the notebook writes no model): only the stream is under test.
    expect(events.at(-1)?.event).toBe("done");
  }, 240_000);

  test("a requirements.txt Ray cannot install fails the pipeline with pip's words, Ray's whole message in the log", async () => {
    const nb = exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"iris-unresolvable\\"');
    const repo = makeRepo({ "train.ipynb": nb, "requirements.txt": "nonexistent-package-for-mlops==1.0\n" });
    const repoId = await registerRepo(server, "acme/ray-unresolvable", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-unresolvable", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 180_000);
    expect(p!.status).toBe("failed");
    expect(p!.error).toStartWith("Ray could not set up the job's runtime environment (the requirements.txt it installs with pip): ERROR: ");
    expect(p!.error).toContain("nonexistent-package-for-mlops==1.0");
    expect(p!.phases.find((ph) => ph.name === "execute")?.status).toBe("failed");
    const log = await (await server.api(`/api/pipelines/${p!.id}/logs`)).text();
    expect(log).toContain("[ray] runtime_env setup failed");
    expect((await jobOf(p!.id))?.status).toBe("FAILED");
  }, 240_000);

  test("a job id another server already took on the shared cluster fails the pipeline saying so, and its job is left alone", async () => {
    const newest = ((await (await server.api("/api/pipelines")).json()) as { pipelines: { id: number }[] }).pipelines[0]?.id ?? 0;
    const taken = `mlops-${newest + 1}-1`;
    await ray.submit({ submissionId: taken, entrypoint: 'python -c "print(1)"', metadata: { mlops_server: "http://another-mlops:8000" } });
    const repo = makeRepo({ "train.ipynb": exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"iris-collides\\"') });
    const repoId = await registerRepo(server, "acme/ray-collides", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-collides", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 120_000);
    expect(p!.id).toBe(newest + 1);
    expect(p!.status).toBe("failed");
    expect(p!.error).toContain(`Ray already has a job ${taken} that this server did not submit: another mlops server shares the cluster`);
    expect((await jobOf(p!.id))?.metadata?.mlops_server).toBe("http://another-mlops:8000");
  }, 180_000);

  test("cancelling a pipeline stops its Ray job", async () => {
    const nb = notebook([
      { tags: ["mlops:config"], source: 'MODEL_NAME = "sleeper"\nVERSION = "1"' },
      { tags: ["mlops:preprocessing"], source: "pass" },
      { tags: ["mlops:training"], source: 'import time\nprint("sleeping now", flush=True)\ntime.sleep(600)' },
      { tags: ["mlops:export"], source: "pass" },
    ]);
    const repo = makeRepo({ "sleep.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-sleep", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-sleep", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    await waitForLog(server, id, "sleeping now", 120_000);
    expect((await server.api(`/api/pipelines/${id}/cancel`, { method: "POST" })).status).toBeLessThan(300);
    const p = await waitForStatus(server, id, ["cancelled"], 60_000);
    expect(p.status).toBe("cancelled");
    await eventually(async () => (await jobOf(id))?.status === "STOPPED", { what: "the Ray job to be stopped", timeoutMs: 30_000 });
  }, 240_000);

  test("a notebook past PIPELINE_TIMEOUT_SECONDS ends timed_out and its Ray job is stopped", async () => {
    const nb = notebook([
      { tags: ["mlops:config"], source: 'MODEL_NAME = "too-slow"\nVERSION = "1"' },
      { tags: ["mlops:preprocessing"], source: "pass" },
      { tags: ["mlops:training"], source: 'import time\nprint("sleeping now", flush=True)\ntime.sleep(600)' },
      { tags: ["mlops:export"], source: "pass" },
    ]);
    const repo = makeRepo({ "slow.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-slow", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-slow", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 180_000);
    expect(p!.status).toBe("timed_out");
    expect(p!.error).toContain(`PIPELINE_TIMEOUT_SECONDS (${TIMEOUT_SECONDS} s)`);
    await eventually(async () => (await jobOf(p!.id))?.status === "STOPPED", { what: "the Ray job to be stopped", timeoutMs: 30_000 });
  }, 240_000);

  test("a repository's runner_resources asking for the worker's custom resource runs its notebook (no resources of its own) on the worker node", async () => {
    const nb = exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"iris-repo-trainer\\"');
    // Ray runs a job that asks for no resources on the head node: only the repository's resources move it.
    expect(JSON.parse(nb).metadata.mlops?.resources).toBeUndefined();
    const repo = makeRepo({ "train.ipynb": nb });
    const repoId = await registerRepo(server, "acme/ray-repo-trainer", repo.dir, { runner_resources: { resources: { trainer: 1 } } });
    await sendPush(server.base, { fullName: "acme/ray-repo-trainer", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 240_000);
    expect(p!.status).toBe("succeeded");
    expect((await jobOf(p!.id))?.driverNodeId).toBe(cluster.workerNodeId);
    const detail = (await (await server.api(`/api/pipelines/${p!.id}`)).json()) as { runner: { node_id: string } };
    expect(detail.runner.node_id).toBe(cluster.workerNodeId);
  }, 300_000);
});
