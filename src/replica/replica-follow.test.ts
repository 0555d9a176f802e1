// Replicas following a real primary over loopback: one in this process, one as `bun src/main.ts replica`. They serve
// what the primary serves, follow deploys, rollbacks and undeploys with zero failed requests, refuse a file that does
// not match its sha256, keep serving while the primary is away, converge when it returns, and lose it when their
// token is revoked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../testing/e2e.ts";
import { eventually, pace } from "../testing/eventually.ts";
import { type ReplicaProcess, spawnReplica, startTestReplica, storeOnPrimary, type TestReplica, withPrimaryStore } from "../testing/replica-support.ts";
import { freePort } from "../testing/server-process.ts";
import { makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";

let f: ServingFixtures;
let primary: TestServer;
let primaryDir: string;
let primaryPort: number;
let token: string;
let inproc: TestReplica;
let child: ReplicaProcess;
// The in-process replica retries fast, so the tests that stop the primary wait seconds, not the 10 s cap.
const FAST = { backoffMs: { first: 100, max: 500 } };

const startPrimary = () => startTestServer({ PORT: String(primaryPort) }, primaryDir);

beforeAll(async () => {
  f = await makeServingFixtures();
  primaryDir = mkdtempSync(join(tmpdir(), "mlops-primary-"));
  primaryPort = freePort();
  primary = await startPrimary();
  const made = await primary.api("/api/replica-tokens", { method: "POST", body: JSON.stringify({ name: "test replicas" }) });
  expect(made.status).toBe(201);
  token = ((await made.json()) as { token: string }).token;
  const v1 = await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath);
  expect((await deploy("iris", v1)).status).toBe(200);
  await storeOnPrimary(primaryDir, "reg", f.regressor.onnxPath);
  expect((await deploy("reg", 1)).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await child?.kill();
  await inproc?.stop();
  await primary?.stop();
});

const deploy = (name: string, version: number) => primary.api(`/api/models/${name}/deploy`, { method: "POST", body: JSON.stringify({ version }) });
const predict = (base: string, name: string, rows: number[][]) =>
  fetch(`${base}/models/${name}/predict`, { method: "POST", body: JSON.stringify({ inputs: rows }) });
const health = async (base: string) => (await (await fetch(`${base}/health`)).json()) as Health;
type Health = {
  status: string;
  models: Record<string, number>;
  primary: { reachable: boolean; since: string; revision: number | null; error?: string };
  state_source: string | null;
  problems: { model: string; wanted: number; serving: number | null; error: string }[];
};

/** Until every replica serves `name` at `version` (undefined: does not serve it). */
function converged(what: string, name: string, version: number | undefined, bases = [inproc.base, child.base], timeoutMs = 15_000) {
  return eventually(
    async () => {
      for (const base of bases) if ((await health(base)).models[name] !== version) return false;
      return true;
    },
    { what, timeoutMs },
  );
}

describe("replicas of a running primary", () => {
  test("sync before the port opens, then serve exactly what the primary serves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mlops-replica-child-"));
    child = spawnReplica(primary.base, token, dir);
    // The first answer the port gives is already a synced one: never a 503 "starting".
    const first = await eventually(
      async () => {
        try {
          return await fetch(`${child.base}/health`);
        } catch {
          return undefined;
        }
      },
      { what: "the replica process to listen", timeoutMs: 30_000 },
    );
    expect(first.status).toBe(200);
    expect(((await first.json()) as Health).models).toEqual({ iris: 1, reg: 1 });
    inproc = await startTestReplica(primary.base, token, { client: FAST });
    for (const base of [primary.base, inproc.base, child.base]) {
      const iris = await predict(base, "iris", f.iris.expected.rows);
      expect(iris.status).toBe(200);
      expect(await iris.json()).toEqual(await (await predict(primary.base, "iris", f.iris.expected.rows)).json());
      const reg = (await (await predict(base, "reg", f.regressor.rows)).json()) as { predictions: number[] };
      reg.predictions.forEach((p, i) => expect(p).toBeCloseTo(f.regressor.predictions[i]!, 4));
    }
    const h = await health(child.base);
    expect(h).toMatchObject({ status: "ok", state_source: "primary", primary: { reachable: true }, problems: [] });
    expect(h.primary.revision).toBeGreaterThan(0);
    const metrics = await (await fetch(`${inproc.base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^mlops_replica_revision ${h.primary.revision}$`, "m"));
    expect(metrics).toMatch(/^mlops_replica_primary_reachable 1$/m);
  }, 60_000);

  test("a deploy, a rollback and an undeploy reach both replicas within moments, with zero failed requests", async () => {
    const v2 = await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath);
    const failures: string[] = [];
    const seen = new Set<number>();
    let running = true;
    const client = async (base: string) => {
      while (running) {
        const res = await predict(base, "iris", f.iris.expected.rows);
        const body = (await res.json()) as { predictions?: unknown; version?: number };
        if (res.status !== 200 || JSON.stringify(body.predictions) !== JSON.stringify(f.iris.expected.labels))
          failures.push(`${res.status} ${JSON.stringify(body)}`);
        else seen.add(body.version!);
        await pace(2);
      }
    };
    const clients = [inproc.base, inproc.base, child.base, child.base].map(client);
    expect((await deploy("iris", v2)).status).toBe(200);
    await converged("both replicas to serve iris 2", "iris", v2);
    expect((await primary.api("/api/models/iris/rollback", { method: "POST" })).status).toBe(200);
    await converged("both replicas to roll back to iris 1", "iris", 1);
    expect((await deploy("iris", v2)).status).toBe(200);
    await converged("both replicas to serve iris 2 again", "iris", v2);
    running = false;
    await Promise.all(clients);
    expect(failures).toEqual([]);
    expect([...seen].sort()).toEqual([1, 2]);

    expect((await primary.api("/api/models/reg/undeploy", { method: "POST" })).status).toBe(200);
    await converged("both replicas to stop serving reg", "reg", undefined);
    for (const base of [inproc.base, child.base]) expect((await predict(base, "reg", f.regressor.rows)).status).toBe(404);
    // Its cached file goes with it.
    expect(existsSync(join(inproc.dataDir, "replica", "models", "reg"))).toBe(false);
  }, 90_000);

  test("a file that does not match the primary's sha256 is never served: the previous version keeps serving, the log and /health say why", async () => {
    const before = (await health(child.base)).models.iris!;
    const v = await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath);
    // The stored file changes on the primary's disk after its sha256 was recorded: a valid model, but not that one.
    copyFileSync(f.regressor.onnxPath, join(primaryDir, "models", "iris", String(v), "model.onnx"));
    expect((await deploy("iris", v)).status).toBe(200);
    for (const base of [inproc.base, child.base]) {
      const problem = await eventually(async () => (await health(base)).problems.find((p) => p.model === "iris" && p.wanted === v), {
        what: "the replica to report the bad file",
        timeoutMs: 15_000,
      });
      expect(problem.serving).toBe(before);
      expect(problem.error).toContain("does not match its state");
      const res = await predict(base, "iris", f.iris.expected.rows);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { version: number; predictions: unknown }).predictions).toEqual(f.iris.expected.labels);
      expect(res.headers.get("x-model-version")).toBe(String(before));
    }
    expect(existsSync(join(child.dataDir, "replica", "models", "iris", `${v}.onnx`))).toBe(false);
    expect(child.output()).toContain(`could not deploy the model; version ${before} keeps serving`);
    // Deploying a good version again clears the problem.
    expect((await deploy("iris", before)).status).toBe(200);
    await eventually(async () => (await health(inproc.base)).problems.length === 0, { what: "the problem to clear", timeoutMs: 15_000 });
  }, 60_000);

  test("with the primary stopped the replicas keep serving and say so; after it returns with a newer deployment they converge", async () => {
    const served = (await health(inproc.base)).models;
    await primary.stop();
    for (const base of [inproc.base, child.base]) {
      const down = await eventually(
        async () => {
          const res = await fetch(`${base}/health`);
          const h = (await res.json()) as Health;
          return !h.primary.reachable && res.status === 200 ? h : undefined;
        },
        { what: "the replica to see the primary gone", timeoutMs: 15_000 },
      );
      expect(down.primary.error).toBeTruthy();
      expect(down.status).toBe("ok");
      expect((await predict(base, "iris", f.iris.expected.rows)).status).toBe(200);
    }
    expect(await (await fetch(`${inproc.base}/metrics`)).text()).toMatch(/^mlops_replica_primary_reachable 0$/m);

    // A replica restarted meanwhile serves what its cache holds.
    await inproc.stop();
    inproc = await startTestReplica(primary.base, token, { client: FAST, dataDir: inproc.dataDir });
    expect(await health(inproc.base)).toMatchObject({ status: "ok", state_source: "cache", models: served, primary: { reachable: false } });
    expect((await predict(inproc.base, "iris", f.iris.expected.rows)).status).toBe(200);

    // While away, the primary's database gets a newer deployment (as a restore from a backup would): it returns with it.
    const v = await storeOnPrimary(primaryDir, "iris", f.iris.onnxPath);
    withPrimaryStore(primaryDir, (store) => store.recordDeployment({ modelName: "iris", version: v, reason: "manual", actor: "test" }));
    primary = await startPrimary();
    await converged("both replicas to follow the returned primary", "iris", v, undefined, 30_000);
    for (const base of [inproc.base, child.base]) {
      const h = await health(base);
      expect(h).toMatchObject({ status: "ok", state_source: "primary", primary: { reachable: true } });
      expect(h.models).toEqual({ iris: v });
    }
  }, 120_000);

  test("a revoked token loses the primary: the replica keeps serving and reports the refusal", async () => {
    const { tokens } = (await (await primary.api("/api/replica-tokens")).json()) as { tokens: { id: number }[] };
    for (const t of tokens) expect((await primary.api(`/api/replica-tokens/${t.id}`, { method: "DELETE" })).status).toBe(204);
    const down = await eventually(
      async () => {
        const h = await health(inproc.base);
        return !h.primary.reachable && h.primary.error?.includes("401") ? h : undefined;
      },
      { what: "the replica to be refused by the primary", timeoutMs: 20_000 },
    );
    expect(down.status).toBe("ok");
    expect((await predict(inproc.base, "iris", f.iris.expected.rows)).status).toBe(200);
  }, 60_000);
});
