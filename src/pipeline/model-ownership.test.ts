// Model ownership end to end: real pushes of real notebooks from several real git repositories to one server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, sendPush, startTestServer, waitForPipelines, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";

let server: TestServer;
let onnxB64: string;

beforeAll(async () => {
  [server, onnxB64] = await Promise.all([startTestServer(), tinyOnnxBase64()]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

type ModelJson = { owner: string | null; serving_version: number | null; versions: { version: number; lineage: { repo_id: number; commit: string } }[] };

async function model(name: string): Promise<ModelJson> {
  return (await (await server.api(`/api/models/${name}`)).json()) as ModelJson;
}

const ENDED = ["succeeded", "failed", "cancelled", "timed_out", "superseded"];

/** Run now on a repository; returns the one pipeline it queued, once it ended. */
async function runNow(repoId: number) {
  const res = await server.api(`/api/repos/${repoId}/run`, { method: "POST" });
  expect(res.status).toBe(202);
  const { pipelines } = (await res.json()) as { pipelines: { id: number }[] };
  expect(pipelines).toHaveLength(1);
  return waitForStatus(server, pipelines[0]!.id, ENDED);
}

const failedPhase = (p: { phases: { name: string; status: string }[] }) => p.phases.find((ph) => ph.status === "failed")?.name;

describe("model ownership", () => {
  test("another repository naming a model is refused at validate and the owner keeps serving; after a transfer it can; ownership survives removing and registering a repository again", async () => {
    // acme/models registers wine-classifier first: it owns it.
    const a = makeRepo({ "wine.ipynb": modelNotebook("wine-classifier", onnxB64, 'print("acme trains", flush=True)') });
    const aId = await registerRepo(server, "acme/models", a.dir);
    await sendPush(server.base, { fullName: "acme/models", cloneUrl: a.dir, after: a.sha });
    const [first] = await waitForPipelines(server, `repo=${aId}`, 1);
    expect(first).toMatchObject({ status: "succeeded", model_version: 1 });
    expect(await model("wine-classifier")).toMatchObject({ owner: "acme/models", serving_version: 1 });

    // evil/repo names it, with a perfect score: refused before its notebook runs, and A keeps serving.
    const evilNotebook = modelNotebook(
      "wine-classifier",
      onnxB64,
      'print("evil trains", flush=True)',
      'json.dump({"accuracy": 1.0}, open(METRICS_OUTPUT_PATH, "w"))',
    );
    const b = makeRepo({ "takeover.ipynb": evilNotebook });
    const bId = await registerRepo(server, "evil/repo", b.dir);
    await sendPush(server.base, { fullName: "evil/repo", cloneUrl: b.dir, after: b.sha });
    const [refused] = await waitForPipelines(server, `repo=${bId}`, 1);
    expect(refused).toMatchObject({ status: "failed", error: "model wine-classifier belongs to acme/models" });
    expect(failedPhase(refused!)).toBe("validate");
    expect(refused!.phases.find((ph) => ph.name === "execute")!.status).toBe("skipped");
    expect(await (await server.api(`/api/pipelines/${refused!.id}/logs`)).text()).not.toContain("evil trains");
    const kept = await model("wine-classifier");
    expect(kept).toMatchObject({ owner: "acme/models", serving_version: 1 });
    expect(kept.versions.map((v) => [v.version, v.lineage.repo_id, v.lineage.commit])).toEqual([[1, aId, a.sha]]);
    expect((await predict(server.base, "wine-classifier")).body.version).toBe(1);

    // An admin transfers it: now evil/repo's pipeline registers and deploys, and acme/models is the one refused.
    const moved = await server.api("/api/models/wine-classifier/owner", { method: "POST", body: JSON.stringify({ full_name: "evil/repo" }) });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as ModelJson).owner).toBe("evil/repo");
    expect(await runNow(bId)).toMatchObject({ status: "succeeded", model_version: 2 });
    expect((await predict(server.base, "wine-classifier")).body.version).toBe(2);

    // Removing evil/repo and registering it again (a new id) keeps the model its own: ownership goes by full name.
    expect((await server.api(`/api/repos/${bId}`, { method: "DELETE" })).status).toBe(204);
    const bAgain = await registerRepo(server, "evil/repo", b.dir);
    expect(bAgain).not.toBe(bId);
    expect((await model("wine-classifier")).owner).toBe("evil/repo");
    const aRefused = await runNow(aId);
    expect(aRefused).toMatchObject({ status: "failed", error: "model wine-classifier belongs to evil/repo" });
    expect(failedPhase(aRefused)).toBe("validate");
    expect(await runNow(bAgain)).toMatchObject({ status: "succeeded", model_version: 3 });
    expect((await predict(server.base, "wine-classifier")).body.version).toBe(3);
  }, 180_000);

  test("two repositories that both pass validate for a new name: the one that registers first owns it, the other fails at register and stores nothing", async () => {
    // race/late's notebook passes validate (the name is free), then waits in its training cell until race/early's
    // version of the same name serves, so it reaches register second.
    const waitUntilServed = [
      "import urllib.request",
      'print("late is past validate", flush=True)',
      "for _ in range(1200):",
      "    try:",
      `        if urllib.request.urlopen("${server.base}/v2/models/race-model/ready").status == 200: break`,
      "    except Exception: pass",
      "    time.sleep(0.05)",
    ].join("\n");
    const late = makeRepo({ "late.ipynb": modelNotebook("race-model", onnxB64, waitUntilServed) });
    const lateId = await registerRepo(server, "race/late", late.dir);
    await sendPush(server.base, { fullName: "race/late", cloneUrl: late.dir, after: late.sha });
    const [latePipeline] = await waitForCreated(server, lateId);
    await waitForLog(server, latePipeline!.id, "late is past validate");
    expect((await model("race-model")).versions).toBeUndefined(); // nothing stored yet: 404 body

    const early = makeRepo({ "early.ipynb": modelNotebook("race-model", onnxB64) });
    const earlyId = await registerRepo(server, "race/early", early.dir);
    await sendPush(server.base, { fullName: "race/early", cloneUrl: early.dir, after: early.sha });
    const [earlyDone] = await waitForPipelines(server, `repo=${earlyId}`, 1);
    expect(earlyDone).toMatchObject({ status: "succeeded", model_version: 1 });

    const lateDone = await waitForStatus(server, latePipeline!.id, ENDED);
    expect(lateDone).toMatchObject({ status: "failed", error: "model race-model belongs to race/early", model_version: null });
    expect(failedPhase(lateDone)).toBe("register");
    const m = await model("race-model");
    expect(m).toMatchObject({ owner: "race/early", serving_version: 1 });
    expect(m.versions.map((v) => [v.version, v.lineage.repo_id])).toEqual([[1, earlyId]]);
    expect(readdirSync(join(server.dataDir, "models", "race-model"))).toEqual(["1"]); // no staging copy left behind
  }, 180_000);
});
