// RUNNER_BACKEND=ray when things go wrong, against a real two-node Ray cluster and the server as a child process (run
// by scripts/test-ray.sh inside a network namespace with loopback alone), in order: a server whose cluster does not
// answer keeps the pushed pipeline queued, saying why, and runs it once the cluster is there (its requirements.txt
// installed by Ray from the local wheel dir, Ray's own lines marked in the log); a server SIGKILLed while a job runs
// follows that job again at its next start and deploys what it made; a cluster whose head is lost fails the pipeline
// within RAY_LOST_TIMEOUT_SECONDS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exampleNotebook, makeRepo, sendPush, signIn, waitForPipelines, waitForStatus } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { predict, registerRepo, ROWS, waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";
import { startRayCluster, type RayCluster } from "../testing/ray-cluster.ts";
import { freePort, spawnServer, waitForReady, type ServerProcess } from "../testing/server-process.ts";
import { RayJobsClient } from "./ray-jobs-client.ts";

const LOST_SECONDS = 15;
const dataDir = mkdtempSync(join(tmpdir(), "mlops-ray-faults-"));
const port = freePort();
const dashboardPort = freePort();
const rayAddress = `http://127.0.0.1:${dashboardPort}`;
let cluster: RayCluster | undefined;
let server: ServerProcess;
const ray = new RayJobsClient({ address: rayAddress });

/** The server on the test's data dir and port, pointed at the Ray address whether or not a cluster is there yet. */
async function startServer(): Promise<ServerProcess> {
  const s = spawnServer({
    dataDir,
    port,
    name: "server",
    env: {
      RUNNER_BACKEND: "ray",
      RAY_ADDRESS: rayAddress,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      RAY_LOST_TIMEOUT_SECONDS: String(LOST_SECONDS),
      PIPELINE_TIMEOUT_SECONDS: "600",
      WORKER_CONCURRENCY: "4",
      // A SIGTERM lets running pipelines go on this long before it detaches from their jobs.
      SHUTDOWN_GRACE_SECONDS: "1",
    },
  });
  await waitForReady(s, 60_000);
  return s;
}

/** The iris example as model `name`, its training cell first printing "tick 0" … "tick <ticks-1>", one a second. */
function tickingIris(name: string, ticks: number, metadata: object = {}): string {
  const nb = JSON.parse(exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', `MODEL_NAME = \\"${name}\\"`)) as {
    cells: { metadata?: { tags?: string[] }; source: string[] | string }[];
    metadata: Record<string, unknown>;
  };
  const training = nb.cells.find((c) => c.metadata?.tags?.includes("mlops:training"))!;
  const source = Array.isArray(training.source) ? training.source.join("") : training.source;
  training.source = `import time\nfor i in range(${ticks}):\n    print(f"tick {i}", flush=True)\n    time.sleep(1)\n${source}`;
  Object.assign(nb.metadata, metadata);
  return JSON.stringify(nb);
}

/** The cluster the first test brings up; the later tests fail at once without it instead of waiting out their time. */
function clusterUp(): RayCluster {
  if (!cluster) throw new Error("no Ray cluster: the first test, which starts it, failed before it came up");
  return cluster;
}

const logOf = async (id: number) => (await server.api(`/api/pipelines/${id}/logs`)).text();

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.kill();
  await cluster?.stop();
});

describe("RUNNER_BACKEND=ray under faults", () => {
  test("with the cluster away a pushed pipeline stays queued saying why, then runs once the cluster answers; Ray installs its requirements.txt", async () => {
    const nb = tickingIris("waiter", 0);
    const check = 'import tabulate\nprint(f"tabulate {tabulate.__version__} from the runtime env", flush=True)\n';
    const withCheck = JSON.parse(nb) as { cells: { metadata?: { tags?: string[] }; source: string }[] };
    const prep = withCheck.cells.find((c) => c.metadata?.tags?.includes("mlops:preprocessing"))!;
    prep.source = check + (Array.isArray(prep.source) ? (prep.source as string[]).join("") : prep.source);
    const repo = makeRepo({ "waiter.ipynb": JSON.stringify(withCheck), "requirements.txt": "tabulate==0.9.0\n" });
    const repoId = await registerRepo(server, "acme/ray-waiter", repo.dir);
    expect((await sendPush(server.base, { fullName: "acme/ray-waiter", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const waiting = await eventually(
      async () => {
        const list = ((await (await server.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: { id: number }[] }).pipelines;
        if (!list[0]) return undefined;
        const p = (await (await server.api(`/api/pipelines/${list[0].id}`)).json()) as {
          id: number;
          status: string;
          waiting: { reason: string; since: string } | null;
        };
        return p.waiting ? p : undefined;
      },
      { what: "the pipeline to wait for Ray", timeoutMs: 60_000 },
    );
    expect(waiting.status).toBe("queued");
    expect(waiting.waiting!.reason).toStartWith(`waiting for Ray at ${rayAddress}: `);
    const page = await (await fetch(`${server.base}/pipelines/${waiting.id}`, { headers: { Cookie: await signIn(server.base) } })).text();
    expect(page).toContain(`waiting for Ray at ${rayAddress}`);

    // The cluster comes up where the server looks for it; the waiting pipeline is tried again and runs.
    cluster = await startRayCluster({ workerResources: { trainer: 1 }, dashboardPort });
    const [p] = await waitForPipelines(server, `repo=${repoId}`, 1, 240_000);
    const log = await logOf(p!.id);
    expect({ status: p!.status, error: p!.error, log: p!.status === "succeeded" ? "" : log }).toEqual({ status: "succeeded", error: null, log: "" });
    expect(((await (await server.api(`/api/pipelines/${p!.id}`)).json()) as { waiting: unknown }).waiting).toBeNull();
    // Said once, however many times it was tried.
    expect(log.split("\n").filter((l) => l.startsWith(`waiting for Ray at ${rayAddress}`))).toHaveLength(1);
    expect(log).toContain("tabulate 0.9.0 from the runtime env");
    // Ray's own lines are marked as Ray's.
    expect(log).toMatch(/^\[ray\] .*Runtime env is setting up\.$/m);
    expect(log).toMatch(/^\[ray\] Running entrypoint for job mlops-\d+-1: /m);
    expect((await predict(server.base, "waiter", ROWS)).status).toBe(200);
  }, 420_000);

  test("a server SIGKILLed while its Ray job runs follows the job again at the next start, and deploys what it made", async () => {
    clusterUp();
    const repo = makeRepo({ "resumed.ipynb": tickingIris("resumed", 25) });
    const repoId = await registerRepo(server, "acme/ray-resumed", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-resumed", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    await waitForLog(server, id, "tick 3", 180_000);
    await server.kill();
    expect((await ray.status(`mlops-${id}-1`))?.status).toBe("RUNNING");

    server = await startServer();
    const p = await waitForStatus(server, id, ["succeeded", "failed", "cancelled", "timed_out"], 240_000);
    const log = await logOf(id);
    expect({ status: p.status, error: p.error, log: p.status === "succeeded" ? "" : log }).toEqual({ status: "succeeded", error: null, log: "" });
    expect(log).toContain(`the server restarted while mlops-${id}-1 ran: following it again`);
    // Nothing printed twice, nothing lost: the log resumed where it was stored.
    for (let i = 0; i < 25; i++) expect(log.split("\n").filter((l) => l === `tick ${i}`)).toHaveLength(1);
    // The same job was followed, never submitted again.
    expect((await ray.status(`mlops-${id}-1`))?.status).toBe("SUCCEEDED");
    expect(await ray.status(`mlops-${id}-2`)).toBeUndefined();
    expect((await predict(server.base, "resumed", ROWS)).status).toBe(200);
  }, 480_000);

  test("a server stopped with SIGTERM while its Ray job runs leaves the job running, and the next start finishes the pipeline", async () => {
    clusterUp();
    const repo = makeRepo({ "drained.ipynb": tickingIris("drained", 30) });
    const repoId = await registerRepo(server, "acme/ray-drained", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-drained", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    await waitForLog(server, id, "tick 2", 180_000);
    server.proc.kill("SIGTERM");
    expect(await server.proc.exited).toBe(0);
    expect((await ray.status(`mlops-${id}-1`))?.status).toBe("RUNNING");

    server = await startServer();
    const p = await waitForStatus(server, id, ["succeeded", "failed", "cancelled", "timed_out"], 240_000);
    const log = await logOf(id);
    expect({ status: p.status, error: p.error, log: p.status === "succeeded" ? "" : log }).toEqual({ status: "succeeded", error: null, log: "" });
    expect(log).toContain(`execute the server is stopping; run mlops-${id}-1 goes on, and the next start of the server follows it again`);
    expect(log).toContain(`the server restarted while mlops-${id}-1 ran: following it again`);
    for (let i = 0; i < 30; i++) expect(log.split("\n").filter((l) => l === `tick ${i}`)).toHaveLength(1);
    expect(await ray.status(`mlops-${id}-2`)).toBeUndefined();
  }, 480_000);

  test("losing the Ray head mid-job fails the pipeline within RAY_LOST_TIMEOUT_SECONDS, saying so", async () => {
    const running = clusterUp();
    // On the worker node, so the job's own process outlives the head.
    const repo = makeRepo({ "orphan.ipynb": tickingIris("orphan", 600, { mlops: { resources: { resources: { trainer: 1 } } } }) });
    const repoId = await registerRepo(server, "acme/ray-orphan", repo.dir);
    await sendPush(server.base, { fullName: "acme/ray-orphan", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    await waitForLog(server, id, "tick 2", 180_000);
    await running.stopHead();
    const lostAt = Date.now();
    const p = await waitForStatus(server, id, ["succeeded", "failed", "cancelled", "timed_out"], (LOST_SECONDS + 60) * 1000);
    expect(p.status).toBe("failed");
    expect(p.error).toContain(`lost the Ray cluster at ${rayAddress}: no answer for ${LOST_SECONDS} s (RAY_LOST_TIMEOUT_SECONDS) while job mlops-${id}-1 ran`);
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(LOST_SECONDS * 1000);
  }, 300_000);
});
