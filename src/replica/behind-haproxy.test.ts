// Scale-out end to end with real processes on loopback: the compiled executable as primary and as two replicas,
// behind Debian's HAProxy running the repository's deploy/haproxy.cfg (health checks on /health). A push deploys a
// model that both replicas then serve. A client hammering HAProxy through five deploys, a rollback and one replica's
// restart sees zero failed requests; with the primary stopped the replicas keep answering, and when it returns with
// a newer deployment they converge; a revoked token is refused and the replicas keep serving what they have.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildExecutable } from "../../scripts/build.ts";
import { exampleNotebook, makeRepo, sendPush, waitForPipelines } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { registerRepo } from "../testing/pipeline-fixtures.ts";
import { type HaproxyProcess, startHaproxy } from "../testing/haproxy.ts";
import { type ReplicaProcess, spawnReplica, storeOnPrimary } from "../testing/replica-support.ts";
import { freePort, type ServerProcess, spawnServer, waitForReady } from "../testing/server-process.ts";
import { makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";

const GRACE_SECONDS = "3";
let exe: string;
let f: ServingFixtures;
let primary: ServerProcess;
let primaryDir: string;
let primaryPort: number;
let token: string;
let tokenId: number;
const replicas: { proc: ReplicaProcess; port: number; dir: string }[] = [];
let haproxy: HaproxyProcess;

type Health = { status: string; models: Record<string, number>; primary: { reachable: boolean; error?: string | null } };
const health = async (base: string) => (await (await fetch(`${base}/health`)).json()) as Health;

async function startPrimary(): Promise<ServerProcess> {
  const p = spawnServer({ dataDir: primaryDir, port: primaryPort, name: "primary", command: [exe], env: { LOG_LEVEL: "warn" } });
  await waitForReady(p, 30_000);
  return p;
}

async function startReplica(i: number): Promise<ReplicaProcess> {
  const r = replicas[i]!;
  r.proc = spawnReplica(primary.base, token, r.dir, { SHUTDOWN_GRACE_SECONDS: GRACE_SECONDS, LOG_LEVEL: "warn" }, { port: r.port, command: [exe] });
  await eventually(async () => (await fetch(`${r.proc.base}/health`).catch(() => undefined))?.status === 200, {
    what: `replica ${i + 1} to serve`,
    timeoutMs: 30_000,
  });
  return r.proc;
}

const deploy = (version: number) => primary.api("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version }) });

/** Until both replicas serve iris at `version`. */
function converged(version: number, what: string) {
  return eventually(
    async () => {
      for (const r of replicas) if ((await health(r.proc.base)).models.iris !== version) return false;
      return true;
    },
    { what, timeoutMs: 20_000 },
  );
}

/** Clients sending predictions through HAProxy until stopped; every answer that is not a 200 is a failure. */
function hammer(clients: number) {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const versions = new Set<string>();
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      try {
        const res = await fetch(`${haproxy.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows.slice(0, 2) }) });
        const body = await res.text();
        if (res.status === 200) {
          ok++;
          versions.add(res.headers.get("x-model-version") ?? "?");
        } else failures.push(`${res.status} ${body.slice(0, 200)}`);
      } catch (e) {
        failures.push(String(e));
      }
    }
  });
  return {
    ok: () => ok,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { ok, failures, versions };
    },
  };
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-scale-out-"));
  [{ outfile: exe }, f] = await Promise.all([buildExecutable(join(dir, "build", "mlops")), makeServingFixtures()]);
  primaryDir = mkdtempSync(join(dir, "primary-"));
  primaryPort = freePort();
  primary = await startPrimary();
  // Made with the command line, against the running primary's data dir: the token alone on the last line.
  const made = Bun.spawnSync([exe, "create-replica-token", "--name", "haproxy test"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DATA_DIR: primaryDir, LOG_LEVEL: "warn" },
  });
  expect(made.exitCode).toBe(0);
  token = made.stdout.toString().trim().split("\n").at(-1)!;
  expect(token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
  const listed = (await (await primary.api("/api/replica-tokens")).json()) as { tokens: { id: number; name: string }[] };
  tokenId = listed.tokens.find((t) => t.name === "haproxy test")!.id;
  expect(await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath)).toBe(1);
  expect(await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath)).toBe(2);
  expect((await deploy(1)).status).toBe(200);
  for (const i of [0, 1]) {
    replicas.push({ proc: undefined as unknown as ReplicaProcess, port: freePort(), dir: mkdtempSync(join(dir, `replica${i + 1}-`)) });
    await startReplica(i);
  }
  haproxy = await startHaproxy([`127.0.0.1:${replicas[0]!.port}`, `127.0.0.1:${replicas[1]!.port}`]);
}, 180_000);

afterAll(async () => {
  if (process.env.DEBUG_HAPROXY) console.log(haproxy?.output());
  await haproxy?.stop();
  for (const r of replicas) await r.proc?.kill();
  await primary?.kill();
});

describe("a primary and two replicas (the compiled executable) behind HAProxy", () => {
  test("a push deploys a new model on the primary, and both replicas serve it, through HAProxy too", async () => {
    const repo = makeRepo({ "iris.ipynb": exampleNotebook("iris-onnx.ipynb").replace('MODEL_NAME = \\"iris\\"', 'MODEL_NAME = \\"pushed\\"') });
    const repoId = await registerRepo(primary, "acme/pushed", repo.dir);
    expect((await sendPush(primary.base, { fullName: "acme/pushed", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const [p] = await waitForPipelines(primary, `repo=${repoId}`, 1, 120_000);
    expect({ status: p!.status, error: p!.error, version: p!.model_version }).toEqual({ status: "succeeded", error: null, version: 1 });
    for (const r of replicas)
      await eventually(async () => (await health(r.proc.base)).models.pushed === 1, { what: "the replica to serve the pushed model", timeoutMs: 20_000 });
    const res = await fetch(`${haproxy.base}/models/pushed/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows }) });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-model-version")).toBe("1");
  }, 180_000);

  test("five deploys, a rollback and a replica's restart under load: zero failed requests, both replicas follow each change", async () => {
    await eventually(
      async () =>
        (await fetch(`${haproxy.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows }) })).status === 200,
      {
        what: "HAProxy to send predictions to a replica",
        timeoutMs: 15_000,
      },
    );
    const load = hammer(4);
    for (const version of [2, 1, 2, 1, 2]) {
      expect((await deploy(version)).status).toBe(200);
      await converged(version, `both replicas to serve v${version}`);
    }
    // Deployed before: 1, 2, 1, 2, 1, 2; a rollback goes back to 1.
    expect((await primary.api("/api/models/iris/rollback", { method: "POST" })).status).toBe(200);
    await converged(1, "both replicas to follow the rollback to v1");

    // Replica 1 restarts: draining (health 503, requests still answered), gone, back on the same port from its cache and the primary.
    const before = load.ok();
    replicas[0]!.proc.proc.kill("SIGTERM");
    expect(await replicas[0]!.proc.proc.exited).toBe(0);
    await startReplica(0);
    await converged(1, "the restarted replica to serve v1");
    await eventually(() => load.ok() > before + 50, { what: "requests to go on after the restart", timeoutMs: 15_000 });
    const { ok, failures, versions } = await load.stop();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect([...versions].sort()).toEqual(["1", "2"]);
  }, 180_000);

  test("with the primary stopped the replicas keep answering; when it returns with a newer deployment they converge", async () => {
    await primary.kill();
    for (const r of replicas)
      await eventually(async () => (await health(r.proc.base)).primary.reachable === false, { what: "the replica to see the primary gone", timeoutMs: 20_000 });
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${haproxy.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows }) });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-model-version")).toBe("1");
    }
    primary = await startPrimary();
    expect((await deploy(2)).status).toBe(200);
    await converged(2, "both replicas to converge on the deployment made while they were cut off");
  }, 120_000);

  test("a revoked replica token is refused; the replicas say so and keep serving what they have", async () => {
    expect((await primary.api(`/api/replica-tokens/${tokenId}`, { method: "DELETE" })).status).toBe(204);
    const refused = await fetch(`${primary.base}/api/replication/deployments`, { headers: { Authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(401);
    for (const r of replicas)
      await eventually(async () => (await health(r.proc.base)).primary.error?.includes("401") === true, {
        what: "the replica to report its token refused",
        timeoutMs: 20_000,
      });
    const res = await fetch(`${haproxy.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows }) });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-model-version")).toBe("2");
  }, 60_000);
});
