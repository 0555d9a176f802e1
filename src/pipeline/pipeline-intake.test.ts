// Which pipelines run, end to end: changed notebooks only, new branches, supersede, retry and manual run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { commit, makeRepo, notebook, sendPush, startTestServer, waitForPipelines, waitForStatus, type TestServer } from "../testing/e2e.ts";
import {
  listPipelines,
  modelNotebook,
  predict,
  processesMentioning,
  registerRepo,
  sleeperNotebook,
  tinyOnnxBase64,
  waitForCreated,
  waitForLog,
  workDirOf,
} from "../testing/pipeline-fixtures.ts";

let server: TestServer;
let onnxB64: string;

beforeAll(async () => {
  [server, onnxB64] = await Promise.all([startTestServer(), tinyOnnxBase64()]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const untagged = notebook([{ tags: [], source: "print('scratch')" }]);

describe("push, retry and manual run on one repository", () => {
  let repo: { dir: string; sha: string };
  let repoId: number;
  let changedOnly: number;

  test("a branch creation push runs every tagged notebook; untagged ones are skipped", async () => {
    repo = makeRepo({ "a.ipynb": modelNotebook("sel-a", onnxB64), "b.ipynb": modelNotebook("sel-b", onnxB64), "notes.ipynb": untagged });
    repoId = await registerRepo(server, "acme/select", repo.dir);
    const res = await sendPush(server.base, { fullName: "acme/select", cloneUrl: repo.dir, after: repo.sha, created: true, deliveryId: "select-created" });
    expect(res.status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, 2);
    expect(ended.map((p) => [p.notebook_path, p.status]).sort()).toEqual([
      ["a.ipynb", "succeeded"],
      ["b.ipynb", "succeeded"],
    ]);
    const deliveries = (await (await server.api("/api/deliveries")).json()) as { deliveries: { id: string; detail: string }[] };
    expect(deliveries.deliveries.find((d) => d.id === "select-created")!.detail).toContain("skipped notes.ipynb: no mlops:* cell tags");
  }, 60_000);

  test("a push that changes one of two notebooks (before = the previous commit) starts exactly one pipeline", async () => {
    const before = repo.sha;
    // The new a.ipynb runs for a few seconds, long enough for the retry test below to meet it running.
    const sha = commit(repo.dir, { "a.ipynb": modelNotebook("sel-a", onnxB64, 'print("training a v2", flush=True)\ntime.sleep(2)') }, "change a only");
    repo = { ...repo, sha };
    expect((await sendPush(server.base, { fullName: "acme/select", cloneUrl: repo.dir, after: sha, before, created: false })).status).toBe(202);
    const [newest] = await waitForCreated(server, repoId, 3);
    changedOnly = newest!.id;
    expect(newest).toMatchObject({ notebook_path: "a.ipynb", commit: sha, trigger: "push" });

    // retry of a pipeline that still runs is refused
    await waitForLog(server, changedOnly, "training a v2");
    const early = await server.api(`/api/pipelines/${changedOnly}/retry`, { method: "POST" });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: string }).error).toContain("has not ended yet");

    const all = await waitForPipelines(server, `repo=${repoId}`, 3);
    expect(all).toHaveLength(3); // nothing for b.ipynb, no duplicate for a.ipynb
    expect(all.find((p) => p.id === changedOnly)!.status).toBe("succeeded");
  }, 60_000);

  test("retry queues a new pipeline for the same commit and notebook, linked by retry_of", async () => {
    const res = await server.api(`/api/pipelines/${changedOnly}/retry`, { method: "POST" });
    expect(res.status).toBe(202);
    const retried = (await res.json()) as { id: number; retry_of: number; commit: string; notebook_path: string; trigger: string; status: string };
    expect(retried).toMatchObject({ retry_of: changedOnly, commit: repo.sha, notebook_path: "a.ipynb", trigger: "retry" });
    expect(["queued", "running"]).toContain(retried.status);
    const done = await waitForStatus(server, retried.id, ["succeeded", "failed", "cancelled", "timed_out"]);
    expect(done.status).toBe("succeeded");
    expect(done.model_version).toBe(3); // v1 from the first push, v2 from the changed notebook, v3 from the retry
    expect((await listPipelines(server, repoId)).length).toBe(4);
    expect((await predict(server.base, "sel-a")).body.version).toBe(3);
  }, 60_000);

  test("manual run: 202 with one pipeline per tagged notebook at the branch head; untagged skipped", async () => {
    const sha = commit(repo.dir, { "notes.ipynb": notebook([{ tags: [], source: "print('more scratch')" }]) }, "notes only");
    const res = await server.api(`/api/repos/${repoId}/run`, { method: "POST" });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { pipelines: { id: number; notebook_path: string }[]; skipped: { path: string; reason: string }[] };
    expect(body.pipelines.map((p) => p.notebook_path).sort()).toEqual(["a.ipynb", "b.ipynb"]);
    expect(body.skipped).toEqual([{ path: "notes.ipynb", reason: "no mlops:* cell tags" }]);
    for (const { id } of body.pipelines) {
      const p = await waitForStatus(server, id, ["succeeded", "failed", "cancelled", "timed_out"]);
      expect(p).toMatchObject({ status: "succeeded", commit: sha, trigger: "manual", before: null });
    }
    expect((await listPipelines(server, repoId)).length).toBe(6);
  }, 60_000);
});

describe("supersede", () => {
  let single: TestServer;
  afterAll(async () => {
    await single?.stop();
  });

  test("a newer push of a queued notebook supersedes the older pipeline, which never runs", async () => {
    single = await startTestServer({ WORKER_CONCURRENCY: "1" });
    // A sleeper in another repository holds the only worker, so the pushes below stay queued.
    const occupy = makeRepo({ "sleepy.ipynb": sleeperNotebook("occupier", "holding the worker") });
    const occupyId = await registerRepo(single, "acme/occupy", occupy.dir);
    await sendPush(single.base, { fullName: "acme/occupy", cloneUrl: occupy.dir, after: occupy.sha });
    const sleeperId = (await waitForCreated(single, occupyId))[0]!.id;
    await waitForStatus(single, sleeperId, ["running"]);

    const repo = makeRepo({ "m.ipynb": modelNotebook("twice", onnxB64, 'print("commit 1")') });
    const repoId = await registerRepo(single, "acme/twice", repo.dir);
    await sendPush(single.base, { fullName: "acme/twice", cloneUrl: repo.dir, after: repo.sha });
    const [older] = await waitForCreated(single, repoId, 1);
    const sha2 = commit(repo.dir, { "m.ipynb": modelNotebook("twice", onnxB64, 'print("commit 2", flush=True)') }, "second");
    await sendPush(single.base, { fullName: "acme/twice", cloneUrl: repo.dir, after: sha2, before: repo.sha, created: false });
    const [newer] = await waitForCreated(single, repoId, 2);
    expect(newer!.commit).toBe(sha2);

    const old = await waitForStatus(single, older!.id, ["superseded"], 10_000);
    expect(old.error).toContain(`superseded by pipeline ${newer!.id}`);
    expect((await waitForStatus(single, newer!.id, ["queued"], 1_000)).status).toBe("queued");

    // Free the worker: the sleeper's whole tree goes.
    expect((await single.api(`/api/pipelines/${sleeperId}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await waitForStatus(single, sleeperId, ["cancelled", "failed", "succeeded"])).status).toBe("cancelled");
    expect(processesMentioning(workDirOf(single.dataDir, sleeperId))).toEqual([]);

    const ran = await waitForStatus(single, newer!.id, ["succeeded", "failed", "cancelled", "timed_out"]);
    expect(ran.status).toBe("succeeded");
    expect(await (await single.api(`/api/pipelines/${newer!.id}/logs`)).text()).toContain("commit 2");

    // Only the newer one ran: the older never started, logged nothing, registered nothing.
    const oldAfter = (await (await single.api(`/api/pipelines/${older!.id}`)).json()) as {
      status: string;
      started_at: string | null;
      phases: { status: string }[];
    };
    expect(oldAfter.status).toBe("superseded");
    expect(oldAfter.started_at).toBeNull();
    expect(oldAfter.phases.every((ph) => ph.status === "skipped")).toBe(true);
    expect(await (await single.api(`/api/pipelines/${older!.id}/logs`)).text()).toBe("");
    const model = (await (await single.api("/api/models/twice")).json()) as {
      serving_version: number;
      versions: { version: number; lineage: { commit: string } }[];
    };
    expect(model.versions.map((v) => [v.version, v.lineage.commit])).toEqual([[1, sha2]]);
    expect((await listPipelines(single, repoId)).length).toBe(2);
  }, 90_000);
});
