// A replica following MLflow (`mlops replica --follow-mlflow`) with a real `mlflow server` and a real primary pushing
// to it through papermill: it serves the version MLflow's "deployed" alias points at, follows the primary's deploy,
// rollback and undeploy through MLflow, never serves a file replaced in MLflow or a version whose signature tags were
// edited, keeps serving while MLflow is away and converges when it is back, and answers /health 503 when started with
// MLflow down and an empty cache. Its settings stop it with one clear line.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MlflowClient } from "../mlflow/mlflow-client.ts";
import { DEPLOYED_ALIAS, MODEL_ARTIFACT, VERSION_TAG } from "../mlflow/mlflow-restore.ts";
import { SHA256_TAG, SIGNATURE_TAG, VersionSigner } from "../mlflow/model-signature.ts";
import { commit, makeRepo, ROOT, sendPush, startTestServer, type TestServer, WEBHOOK_SECRET, waitForStatus } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { type MlflowServer, startMlflowServer } from "../testing/mlflow-server.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";
import { seedCache, startMlflowTestReplica, type TestReplica } from "../testing/replica-support.ts";
import { freePort, type MlopsProcess, runMlopsCommand, spawnMlops } from "../testing/server-process.ts";
import { makeTestRegressor } from "../testing/test-models.ts";

const MODEL = "followed";
// What the primary signs with is derived from its webhook secret; a replica holds only the derived key.
const KEY = new VersionSigner(WEBHOOK_SECRET).keyHex();
const TRACKING_SECRET = "tracking-password-0123456789";

let mlflowDir: string;
let mlflow: MlflowServer;
let primary: TestServer;
let client: MlflowClient;
let replica: TestReplica;
let child: MlopsProcess;
let onnxB64: string;
let repo: { dir: string; sha: string };
let repoId: number;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  mlflowDir = mkdtempSync(join(tmpdir(), "mlops-mlflow-kept-"));
  mlflow = await startMlflowServer({ dir: mlflowDir });
  client = new MlflowClient(mlflow.url);
  primary = await startTestServer({ MLFLOW_TRACKING_URI: mlflow.url });
  onnxB64 = await tinyOnnxBase64();
  repo = makeRepo({ "model.ipynb": modelNotebook(MODEL, onnxB64) });
  repoId = await registerRepo(primary, "acme/followed", repo.dir);
  await sendPush(primary.base, { fullName: "acme/followed", cloneUrl: repo.dir, after: repo.sha });
  const [first] = await waitForCreated(primary, repoId);
  expect(await waitForStatus(primary, first!.id, ["succeeded", "failed"], 120_000)).toMatchObject({ status: "succeeded" });
  await aliasAt("1");
}, 240_000);

afterAll(async () => {
  await child?.kill();
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await replica?.stop();
  await primary?.stop();
  await mlflow?.stop();
});

type Health = {
  status: string;
  models: Record<string, number>;
  primary?: unknown;
  source?: { kind: string; url: string; reachable: boolean; since: string; revision: number | null; error?: string };
  state_source: string | null;
  reason?: string;
  problems: { model: string; wanted: number; serving: number | null; error: string }[];
};
const health = async (base: string) => {
  const res = await fetch(`${base}/health`);
  return { code: res.status, ...((await res.json()) as Health) };
};
const api = (path: string, body?: object) => primary.api(path, { method: "POST", body: body && JSON.stringify(body) });

/** Until MLflow's deployed alias of the model points at the version mlops numbers `version` (undefined: no alias). */
const aliasAt = (version: string | undefined) =>
  eventually(async () => (await client.versionByAlias(MODEL, DEPLOYED_ALIAS))?.tags[VERSION_TAG] === version, {
    what: `MLflow's deployed alias of ${MODEL} at ${version}`,
    timeoutMs: 60_000,
    everyMs: 200,
  });

/** Until every replica at `bases` serves the model at `version` (undefined: does not serve it). */
const converged = (version: number | undefined, bases = [replica.base, child.base]) =>
  eventually(
    async () => {
      for (const base of bases) if ((await health(base).catch(() => undefined))?.models[MODEL] !== version) return false;
      return true;
    },
    { what: `replicas at ${bases.join(", ")} serving ${MODEL} at ${version}`, timeoutMs: 60_000 },
  );

/** Set a tag of MLflow's registered version `version` of the model, as anyone who can reach MLflow can. */
async function setVersionTag(version: string, key: string, value: string): Promise<void> {
  const res = await fetch(`${mlflow.url}/api/2.0/mlflow/model-versions/set-tag`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: MODEL, version, key, value }),
  });
  expect(res.status).toBe(200);
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("a replica following MLflow", () => {
  test("serves the version the deployed alias points at, as a process too, and says it follows MLflow", async () => {
    replica = await startMlflowTestReplica(mlflow.url, KEY, { mlflow: { retryMs: 500 } });
    // startReplica returns after the first sync: it serves at once.
    const h = await health(replica.base);
    expect(h).toMatchObject({ code: 200, status: "ok", models: { [MODEL]: 1 }, state_source: "mlflow", problems: [] });
    expect(h.source).toMatchObject({ kind: "mlflow", url: mlflow.url, reachable: true });
    expect(h.primary).toBeUndefined();
    const answer = await predict(replica.base, MODEL);
    expect(answer.status).toBe(200);
    expect(answer.body.version).toBe(1);
    const notHere = await fetch(`${replica.base}/api/models`);
    expect(notHere.status).toBe(404);
    expect(((await notHere.json()) as { error: string }).error).toContain(`following MLflow's "deployed" aliases at ${mlflow.url}`);
    const metrics = await (await fetch(`${replica.base}/metrics`)).text();
    expect(metrics).toContain("mlops_replica_mlflow_reachable 1");
    expect(metrics).not.toContain("mlops_replica_primary_");

    const dir = mkdtempSync(join(tmpdir(), "mlops-replica-child-"));
    child = spawnMlops(["replica", "--follow-mlflow"], {
      dataDir: dir,
      port: freePort(),
      name: "replica",
      // Credentials in the URI, as behind an authenticating proxy (this MLflow ignores them): sent, never shown.
      env: { MLFLOW_TRACKING_URI: mlflow.url.replace("://", `://mlops:${TRACKING_SECRET}@`), MLFLOW_SIGNATURE_KEY: KEY, MLFLOW_POLL_SECONDS: "1" },
    });
    await converged(1, [child.base]);
    expect((await predict(child.base, MODEL)).body.version).toBe(1);
    const shown = [await (await fetch(`${child.base}/health`)).text(), await (await fetch(`${child.base}/api/models`)).text(), child.output()];
    for (const text of shown) expect(text).not.toContain(TRACKING_SECRET);
    expect(shown[0]).toContain("http://***@127.0.0.1");
  }, 120_000);

  test("a push, a rollback, an undeploy and a deploy on the primary are followed through MLflow", async () => {
    const sha2 = commit(repo.dir, { "model.ipynb": modelNotebook(MODEL, onnxB64, "print('v2')") }, "v2");
    await sendPush(primary.base, { fullName: "acme/followed", cloneUrl: repo.dir, after: sha2, before: repo.sha });
    const second = (await waitForCreated(primary, repoId, 2)).find((p) => p.commit === sha2);
    expect(await waitForStatus(primary, second!.id, ["succeeded", "failed"], 120_000)).toMatchObject({ status: "succeeded" });
    await aliasAt("2");
    await converged(2);
    expect((await predict(replica.base, MODEL)).body.version).toBe(2);

    expect((await api(`/api/models/${MODEL}/rollback`)).status).toBe(200);
    await converged(1);
    expect((await api(`/api/models/${MODEL}/undeploy`)).status).toBe(200);
    await converged(undefined);
    expect((await predict(replica.base, MODEL)).status).toBe(404);
    expect((await predict(child.base, MODEL)).status).toBe(404);
    expect((await api(`/api/models/${MODEL}/deploy`, { version: 1 })).status).toBe(200);
    await converged(1);
    expect((await predict(replica.base, MODEL)).body.version).toBe(1);
    // Only what serves stays cached.
    expect(existsSync(join(replica.dataDir, "replica", "models", MODEL, "2.onnx"))).toBe(false);
  }, 240_000);

  test("a file replaced in MLflow, or a version whose tags were edited to match another file, is never served", async () => {
    const mv2 = (await client.searchModelVersions(MODEL)).find((v) => v.tags[VERSION_TAG] === "2")!;
    const run2 = await client.getRun(mv2.runId);
    const original = await client.downloadArtifact(run2, MODEL_ARTIFACT);
    const signedSha = mv2.tags[SHA256_TAG]!;
    const signature = mv2.tags[SIGNATURE_TAG]!;
    expect(sha(original)).toBe(signedSha);
    // A valid model of its own: were it served, version 2 would load and answer.
    const otherPath = join(mkdtempSync(join(tmpdir(), "mlops-other-model-")), "other.onnx");
    await makeTestRegressor(otherPath);
    const other = new Uint8Array(readFileSync(otherPath));

    // The file under the signed version is replaced; the primary then deploys version 2.
    await client.uploadArtifact(run2, MODEL_ARTIFACT, other);
    expect((await api(`/api/models/${MODEL}/deploy`, { version: 2 })).status).toBe(200);
    await aliasAt("2");
    for (const base of [replica.base, child.base]) {
      const h = await eventually(
        async () => {
          const h = await health(base);
          return h.problems.some((p) => p.model === MODEL && p.wanted === 2 && p.error.includes("is not the one its signature covers")) && h;
        },
        { what: `the replica at ${base} to refuse the replaced file`, timeoutMs: 30_000 },
      );
      expect(h).toMatchObject({ code: 200, models: { [MODEL]: 1 } });
      expect((await predict(base, MODEL)).body.version).toBe(1);
    }
    expect(existsSync(join(replica.dataDir, "replica", "models", MODEL, "2.onnx"))).toBe(false);
    expect(replica.sync.problems()).toHaveLength(1);

    // Whoever replaced it also makes the sha256 tag match the new file: the signature no longer covers the version.
    await setVersionTag(mv2.version, SHA256_TAG, sha(other));
    for (const base of [replica.base, child.base]) {
      const h = await eventually(
        async () => {
          const h = await health(base);
          return h.problems.some((p) => p.model === MODEL && p.error.includes("carries no valid mlops signature")) && h;
        },
        { what: `the replica at ${base} to refuse the version with edited tags`, timeoutMs: 30_000 },
      );
      expect(h).toMatchObject({ code: 200, models: { [MODEL]: 1 } });
      expect((await predict(base, MODEL)).body.version).toBe(1);
    }
    // A signature copied from elsewhere does not help either.
    await setVersionTag(mv2.version, SIGNATURE_TAG, new VersionSigner("another secret").sign({ name: MODEL, version: 2, sha256: sha(other) }));
    await eventually(async () => (await client.versionByAlias(MODEL, DEPLOYED_ALIAS))?.tags[SIGNATURE_TAG] !== signature, { what: "the tag edited" });
    expect((await health(replica.base)).models[MODEL]).toBe(1);

    // Put back as the primary made it: the replicas take version 2 and the problem is gone.
    await client.uploadArtifact(run2, MODEL_ARTIFACT, original);
    await setVersionTag(mv2.version, SHA256_TAG, signedSha);
    await setVersionTag(mv2.version, SIGNATURE_TAG, signature);
    await converged(2);
    expect((await health(replica.base)).problems).toEqual([]);
    expect((await predict(replica.base, MODEL)).body.version).toBe(2);
  }, 180_000);

  test("MLflow stopped: replicas keep serving and say so, a replica starts from its cache, one with an empty cache answers 503; all converge when MLflow is back", async () => {
    const port = mlflow.port;
    await mlflow.stop();
    const down = await eventually(
      async () => {
        const h = await health(replica.base);
        return h.source?.reachable === false && h;
      },
      { what: "the replica to see MLflow down", timeoutMs: 30_000 },
    );
    expect(down).toMatchObject({ code: 200, status: "ok", models: { [MODEL]: 2 } });
    expect(down.source?.error).toContain("unreachable");
    expect((await predict(replica.base, MODEL)).body.version).toBe(2);
    expect(await (await fetch(`${replica.base}/metrics`)).text()).toContain("mlops_replica_mlflow_reachable 0");

    // A replica restarted meanwhile serves what its cache holds.
    const copied = mkdtempSync(join(tmpdir(), "mlops-replica-copy-"));
    cpSync(replica.dataDir, copied, { recursive: true });
    const fromCache = await startMlflowTestReplica(mlflow.url, KEY, { dataDir: copied });
    cleanups.push(() => fromCache.stop());
    expect(await health(fromCache.base)).toMatchObject({ code: 200, models: { [MODEL]: 2 }, state_source: "cache", source: { reachable: false } });
    expect((await predict(fromCache.base, MODEL)).body.version).toBe(2);
    // One with nothing cached has nothing to serve yet.
    const empty = await startMlflowTestReplica(mlflow.url, KEY);
    cleanups.push(() => empty.stop());
    const starting = await health(empty.base);
    expect(starting).toMatchObject({ code: 503, models: {}, state_source: null });
    expect(starting.reason).toContain("MLflow has not answered and the cache is empty");

    mlflow = await startMlflowServer({ port, dir: mlflowDir });
    expect((await api(`/api/models/${MODEL}/deploy`, { version: 1 })).status).toBe(200);
    await converged(1, [replica.base, child.base, fromCache.base, empty.base]);
    for (const r of [replica, fromCache, empty]) {
      expect(await health(r.base)).toMatchObject({ code: 200, state_source: "mlflow", source: { reachable: true }, problems: [] });
      expect((await predict(r.base, MODEL)).body.version).toBe(1);
    }
  }, 180_000);
});

describe("mlops replica --follow-mlflow as a process", () => {
  test("a missing or bad setting, or both a primary URL and the flag, stops it with one clear line, exit 2, and leaves its cache alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mlops-replica-bad-"));
    const onnx = join(dir, "model.onnx");
    writeFileSync(onnx, Buffer.from(onnxB64, "base64"));
    await seedCache(dir, 3, { [MODEL]: { version: 1, onnxPath: onnx } });
    const state = readFileSync(join(dir, "replica", "state.json"), "utf8");
    const away = "http://127.0.0.1:9";
    const cases: [string[], Record<string, string>, string][] = [
      [["replica", "--follow-mlflow"], { MLFLOW_SIGNATURE_KEY: KEY }, 'mlops: cannot start: invalid MLFLOW_TRACKING_URI="": must be set to the MLflow server'],
      [["replica", "--follow-mlflow"], { MLFLOW_TRACKING_URI: "ftp://mlflow", MLFLOW_SIGNATURE_KEY: KEY }, 'invalid MLFLOW_TRACKING_URI="ftp://mlflow"'],
      [
        ["replica", "--follow-mlflow"],
        { MLFLOW_TRACKING_URI: away },
        'mlops: cannot start: invalid MLFLOW_SIGNATURE_KEY="": must be set to the primary\'s model signature key',
      ],
      [
        ["replica", "--follow-mlflow"],
        { MLFLOW_TRACKING_URI: away, MLFLOW_SIGNATURE_KEY: WEBHOOK_SECRET },
        "64 hexadecimal digits (run mlops mlflow-signature-key there)",
      ],
      [["replica", "--follow-mlflow"], { MLFLOW_TRACKING_URI: away, MLFLOW_SIGNATURE_KEY: KEY, MLFLOW_POLL_SECONDS: "0" }, 'invalid MLFLOW_POLL_SECONDS="0"'],
      [
        ["replica", away, "--follow-mlflow"],
        { MLFLOW_TRACKING_URI: away, MLFLOW_SIGNATURE_KEY: KEY },
        "give either a primary URL or --follow-mlflow, not both",
      ],
      [
        ["replica", "--follow-mlflow", away],
        { MLFLOW_TRACKING_URI: away, MLFLOW_SIGNATURE_KEY: KEY },
        "give either a primary URL or --follow-mlflow, not both",
      ],
    ];
    for (const [args, env, line] of cases) {
      const { code, err } = await runMlopsCommand(args, { DATA_DIR: dir, ...env });
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(err.trim().split("\n")).toEqual([expect.stringContaining(line)]);
    }
    expect(readFileSync(join(dir, "replica", "state.json"), "utf8")).toBe(state);
  }, 60_000);

  test("mlops mlflow-signature-key prints the key derived from the primary's webhook secret, and refuses without one", async () => {
    const run = (env: Record<string, string>) => runMlopsCommand(["mlflow-signature-key"], { DATA_DIR: mkdtempSync(join(tmpdir(), "mlops-keyed-")), ...env });
    const keyed = await run({ GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET });
    expect(keyed.code).toBe(0);
    expect(keyed.out.trim().split("\n").at(-1)).toBe(KEY);
    expect(keyed.out).not.toContain(WEBHOOK_SECRET);
    const none = await run({});
    expect(none.code).toBe(1);
    expect(none.err).toContain("no webhook secret yet");
  }, 60_000);
});
