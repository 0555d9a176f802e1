// Pushes never run old or foreign code: a real bare "remote" repository that the test pushes commits and branches to,
// signed push deliveries (replayed, for other branches, overtaken), and real notebooks run by a real server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commit, git, sendPush, startTestServer, waitForPipelines, type TestServer } from "../testing/e2e.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForLog } from "../testing/pipeline-fixtures.ts";
import { eventually } from "../testing/eventually.ts";

let server: TestServer;
let onnxB64: string;

beforeAll(async () => {
  [server, onnxB64] = await Promise.all([startTestServer(), tinyOnnxBase64()]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

/** A bare repository standing for GitHub, and a working clone that commits and pushes to it. */
function makeRemote(files: Record<string, string>): { remote: string; work: string; sha: string } {
  const remote = mkdtempSync(join(tmpdir(), "mlops-remote-"));
  git(remote, "init", "--bare", "-q");
  const work = mkdtempSync(join(tmpdir(), "mlops-work-"));
  git(work, "init", "-q");
  const sha = commit(work, files, "initial");
  git(work, "remote", "add", "origin", remote);
  git(work, "push", "-q", "origin", "HEAD:refs/heads/main");
  return { remote, work, sha };
}

type Delivery = { id: string; outcome: string; detail: string };

async function deliveries(query = ""): Promise<Delivery[]> {
  return ((await (await server.api(`/api/deliveries?limit=1000${query}`)).json()) as { deliveries: Delivery[] }).deliveries;
}

/** Poll until the background intake of delivery `id` has recorded what it did (the detail no longer says only that it was accepted). */
function waitForIntake(id: string, timeoutMs = 30_000): Promise<Delivery> {
  return eventually(
    async () => {
      const d = (await deliveries()).find((x) => x.id === id);
      return d !== undefined && !d.detail.startsWith("push to ") && d;
    },
    { what: `the intake of delivery ${id} to finish`, timeoutMs },
  );
}

type Listed = { id: number; notebook_path: string; commit: string; status: string };

async function pipelinesOf(repoId: number): Promise<Listed[]> {
  return ((await (await server.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: Listed[] }).pipelines;
}

type ModelJson = { serving_version: number | null; versions: { version: number; lineage: { commit: string } }[] };

async function servingCommit(name: string): Promise<{ version: number | null; commit: string | undefined }> {
  const m = (await (await server.api(`/api/models/${name}`)).json()) as ModelJson;
  return { version: m.serving_version, commit: m.versions.find((v) => v.version === m.serving_version)?.lineage.commit };
}

const nb = (model: string, marker: string) => modelNotebook(model, onnxB64, `print(${JSON.stringify(marker)}, flush=True)`);

describe("the registered branch's head decides what a push runs", () => {
  test("a replayed first push runs nothing new; pushes of another branch's commit, a pull request's head or an unknown commit are refused naming the head; main's newest commit keeps serving", async () => {
    const r = makeRemote({ "m.ipynb": nb("head-rule", "code of c1") });
    const c1 = r.sha;
    const repoId = await registerRepo(server, "acme/head-rule", r.remote);
    const firstPush = { fullName: "acme/head-rule", cloneUrl: r.remote, after: c1 } as const;
    expect((await sendPush(server.base, { ...firstPush, deliveryId: "hr-first" })).status).toBe(202);
    await waitForPipelines(server, `repo=${repoId}`, 1);

    const c2 = commit(r.work, { "m.ipynb": nb("head-rule", "code of c2") }, "c2");
    git(r.work, "push", "-q", "origin", "HEAD:refs/heads/main");
    await sendPush(server.base, { fullName: "acme/head-rule", cloneUrl: r.remote, before: c1, after: c2, created: false, deliveryId: "hr-second" });
    const ran = await waitForPipelines(server, `repo=${repoId}`, 2);
    expect(ran.map((p) => [p.status, p.model_version])).toEqual([
      ["succeeded", 2],
      ["succeeded", 1],
    ]);
    expect(await servingCommit("head-rule")).toEqual({ version: 2, commit: c2 });

    // The first push's body again, under a fresh delivery id: its commit is behind main, and the notebook already
    // has a pipeline at the head, so nothing runs (before this rule it ran c1 and auto-deploy rolled back to it).
    expect((await sendPush(server.base, { ...firstPush, deliveryId: "hr-replayed" })).status).toBe(202);
    const replayed = await waitForIntake("hr-replayed");
    expect(replayed.outcome).toBe("accepted");
    expect(replayed.detail).toContain(`commit ${c1.slice(0, 12)} is behind the head of main: its changed notebooks run at the head ${c2}`);
    expect(replayed.detail).toContain(`skipped m.ipynb: pipeline ${ran[0]!.id} already runs it at ${c2.slice(0, 12)} (succeeded)`);

    // A commit that exists only on another branch, one that is only a pull request's head, and one that does not exist.
    git(r.work, "checkout", "-q", "-b", "feature");
    const onFeature = commit(r.work, { "m.ipynb": nb("head-rule", "code of feature") }, "feature");
    git(r.work, "push", "-q", "origin", "HEAD:refs/heads/feature");
    git(r.work, "checkout", "-q", "--detach", c2);
    const prHead = commit(r.work, { "m.ipynb": nb("head-rule", "code of a pull request") }, "pr");
    git(r.work, "push", "-q", "origin", "HEAD:refs/pull/1/head");
    const unknown = "1234567890abcdef1234567890abcdef12345678";
    for (const [id, after] of [
      ["hr-feature", onFeature],
      ["hr-pull", prHead],
      ["hr-unknown", unknown],
    ] as const) {
      expect((await sendPush(server.base, { fullName: "acme/head-rule", cloneUrl: r.remote, before: c2, after, created: false, deliveryId: id })).status).toBe(
        202,
      );
      const d = await waitForIntake(id);
      expect(d.outcome).toBe("refused");
      expect(d.detail).toBe(`refused: commit ${after} is not on branch main (its head is ${c2}); nothing runs`);
    }
    expect((await deliveries("&outcome=refused")).map((d) => d.id)).toEqual(["hr-unknown", "hr-pull", "hr-feature"]);
    expect((await deliveries("&outcome=accepted")).map((d) => d.id)).toContain("hr-replayed");

    expect(await pipelinesOf(repoId)).toHaveLength(2);
    expect(await servingCommit("head-rule")).toEqual({ version: 2, commit: c2 });
    expect((await predict(server.base, "head-rule")).body.version).toBe(2);
  }, 120_000);

  test("two quick pushes (the second on the remote before the first's intake): every changed notebook runs once, at the head", async () => {
    const r = makeRemote({ "a.ipynb": nb("quick-a", "a at c0"), "b.ipynb": nb("quick-b", "b at c0") });
    const c0 = r.sha;
    const repoId = await registerRepo(server, "acme/quick", r.remote);
    await sendPush(server.base, { fullName: "acme/quick", cloneUrl: r.remote, after: c0, deliveryId: "quick-0" });
    await waitForPipelines(server, `repo=${repoId}`, 2);

    // c1 changes a; c2 changes a and b. Both reach the remote before either delivery is taken in.
    const c1 = commit(r.work, { "a.ipynb": nb("quick-a", "a at c1") }, "c1");
    const c2 = commit(r.work, { "a.ipynb": nb("quick-a", "a at c2"), "b.ipynb": nb("quick-b", "b at c2") }, "c2");
    git(r.work, "push", "-q", "origin", "HEAD:refs/heads/main");
    await Promise.all([
      sendPush(server.base, { fullName: "acme/quick", cloneUrl: r.remote, before: c0, after: c1, created: false, deliveryId: "quick-1" }),
      sendPush(server.base, { fullName: "acme/quick", cloneUrl: r.remote, before: c1, after: c2, created: false, deliveryId: "quick-2" }),
    ]);
    await waitForIntake("quick-1");
    await waitForIntake("quick-2");

    const all = await waitForPipelines(server, `repo=${repoId}`, 4);
    const fresh = (await pipelinesOf(repoId)).filter((p) => p.commit !== c0);
    expect(all).toHaveLength(4); // a and b at c0, then a and b once each
    expect(fresh.map((p) => [p.notebook_path, p.commit, p.status]).sort()).toEqual([
      ["a.ipynb", c2, "succeeded"],
      ["b.ipynb", c2, "succeeded"],
    ]);
    for (const p of fresh) await waitForLog(server, p.id, `${p.notebook_path[0]} at c2`);
    expect(await servingCommit("quick-a")).toEqual({ version: 2, commit: c2 });
    expect(await servingCommit("quick-b")).toEqual({ version: 2, commit: c2 });
  }, 120_000);
});
