// Every way a pipeline ends goes through PipelineEnding: recorded once, published once on the log bus, heard once by
// every listener. First the class on a real SQLite file; then each path through a real server (real git, real
// papermill), with a listener counting what it heard and the GitHub stand-in showing the commit-status listener
// posted the final state (before this, a running pipeline cancelled without a job never reached it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { commit, makeRepo, sendPush, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { startGitHubStandIn, type GitHubStandIn } from "../testing/github-stand-in.ts";
import { modelNotebook, registerRepo, sleeperNotebook, tinyOnnxBase64, waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";
import { openTestDb } from "../testing/db.ts";
import { LogBus, type BusEvent } from "./log-bus.ts";
import { PipelineEnding, type PipelineEnd } from "./pipeline-ending.ts";
import { failure, FailureKind, type PipelineFailure } from "./pipeline-failure.ts";
import { INTERRUPTED } from "./pipeline-states.ts";
import { PipelineStore } from "./pipeline-store.ts";

const TOKEN = "ghs_ending-test";

describe("PipelineEnding", () => {
  test("records the end with its failure, publishes done once and tells each listener once; a second end changes and tells nothing", () => {
    const store = new PipelineStore(openTestDb());
    const bus = new LogBus(store);
    const ending = new PipelineEnding(store, bus);
    const p = store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "n.ipynb" });
    store.markRunning(p.id);
    store.setPhase(p.id, "download", "running");
    const heard: PipelineEnd[][] = [[], []];
    ending.listen(() => {
      throw new Error("a broken listener");
    });
    ending.listen((e) => heard[0]!.push(e));
    ending.listen((e) => heard[1]!.push(e));
    const events: BusEvent[] = [];
    bus.subscribe(p.id, (e) => events.push(e));

    const why = failure("download", FailureKind.internal, "git fetch failed");
    expect(ending.end(p.id, "failed", why)).toBe(true);
    expect(ending.end(p.id, "cancelled", failure("download", FailureKind.cancelled, "cancelled"))).toBe(false);

    // the broken listener did not keep the others from hearing
    for (const h of heard) expect(h).toEqual([{ id: p.id, status: "failed", failure: why }]);
    expect(events).toEqual([{ type: "done", status: "failed" }]);
    expect(store.get(p.id)).toMatchObject({ status: "failed", error: "git fetch failed", failure: why });
    expect(store.phases(p.id).find((ph) => ph.name === "download")).toMatchObject({ status: "failed", error: "git fetch failed" });
  });

  test("a success carries no failure even when one is given", () => {
    const store = new PipelineStore(openTestDb());
    const ending = new PipelineEnding(store, new LogBus(store));
    const heard: PipelineEnd[] = [];
    ending.listen((e) => heard.push(e));
    const p = store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "n.ipynb" });
    ending.end(p.id, "succeeded", failure("deploy", FailureKind.internal, "ignored"));
    expect(heard).toEqual([{ id: p.id, status: "succeeded", failure: null }]);
    expect(store.get(p.id)).toMatchObject({ status: "succeeded", error: null, failure: null });
  });
});

describe("every path ends through PipelineEnding, heard once", () => {
  let github: GitHubStandIn;
  let server: TestServer;
  let onnxB64: string;
  const heard: PipelineEnd[] = [];
  const servers: TestServer[] = [];

  beforeAll(async () => {
    github = startGitHubStandIn();
    onnxB64 = await tinyOnnxBase64();
    server = await startTestServer({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url, WORKER_CONCURRENCY: "1" }, undefined, {
      endListeners: [(e) => heard.push(e)],
    });
    servers.push(server);
  }, 60_000);
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop().catch(() => undefined);
    await github?.stop();
  });

  const heardOf = (id: number) => heard.filter((e) => e.id === id);
  type ApiPipeline = { id: number; status: string; error: string | null; failure: PipelineFailure | null };
  const get = async (s: TestServer, id: number) => (await (await s.api(`/api/pipelines/${id}`)).json()) as ApiPipeline;
  const endOf = async (s: TestServer, id: number, statuses: string[], timeoutMs: number) =>
    (await waitForStatus(s, id, statuses, timeoutMs)) as unknown as ApiPipeline;

  /** The final (not pending) commit statuses GitHub received for `fullName`'s notebook `path`, once there is one. */
  const finalStatuses = async (fullName: string, path: string) => {
    const of = (rs: { body: unknown }[]) =>
      rs.map((r) => r.body as { state: string; context: string }).filter((b) => b.context === `mlops/${path}` && b.state !== "pending");
    return of(await github.waitFor(`/repos/${fullName}/statuses/`, (rs) => of(rs).length > 0, 30_000));
  };

  test("success, a raising cell, supersede, cancel of a queued and of a running pipeline (with its job), cancel of a running pipeline without a job", async () => {
    // A sleeper keeps the one worker busy while the others queue behind it.
    const busy = makeRepo({ "busy.ipynb": sleeperNotebook("ending-busy", "busy now", 300) });
    const busyRepo = await registerRepo(server, "acme/ending-busy", busy.dir);
    await sendPush(server.base, { fullName: "acme/ending-busy", cloneUrl: busy.dir, after: busy.sha });
    const busyId = (await waitForCreated(server, busyRepo))[0]!.id;
    await waitForLog(server, busyId, "busy now");

    // Two pushes of the same notebook while the worker is busy: the first is superseded before it starts.
    const twice = makeRepo({ "model.ipynb": modelNotebook("ending-twice", onnxB64) });
    const twiceRepo = await registerRepo(server, "acme/ending-twice", twice.dir);
    await sendPush(server.base, { fullName: "acme/ending-twice", cloneUrl: twice.dir, after: twice.sha });
    const [older] = await waitForCreated(server, twiceRepo);
    const sha2 = commit(twice.dir, { "model.ipynb": modelNotebook("ending-twice", onnxB64, "print('v2')") }, "v2");
    await sendPush(server.base, { fullName: "acme/ending-twice", cloneUrl: twice.dir, after: sha2, before: twice.sha });
    const newer = (await waitForCreated(server, twiceRepo, 2)).find((p) => p.id !== older!.id)!;
    expect((await endOf(server, older!.id, ["superseded"], 30_000)).failure).toMatchObject({ phase: null, kind: "cancelled" });

    // A raising notebook, and one cancelled while it waits.
    const raising = makeRepo({ "model.ipynb": modelNotebook("ending-raising", onnxB64, 'raise ValueError("no data")') });
    const raisingRepo = await registerRepo(server, "acme/ending-raising", raising.dir);
    await sendPush(server.base, { fullName: "acme/ending-raising", cloneUrl: raising.dir, after: raising.sha });
    const waiting = makeRepo({ "model.ipynb": modelNotebook("ending-waiting", onnxB64) });
    const waitingRepo = await registerRepo(server, "acme/ending-waiting", waiting.dir);
    await sendPush(server.base, { fullName: "acme/ending-waiting", cloneUrl: waiting.dir, after: waiting.sha });
    const [queued] = await waitForCreated(server, waitingRepo);
    expect((await server.api(`/api/pipelines/${queued!.id}/cancel`, { method: "POST" })).status).toBe(200);

    // A pipeline marked running whose job is gone (a cancel then has no handler to finish it).
    const orphan = server.pipelineStore.create({
      repoId: waitingRepo,
      trigger: "manual",
      ref: "refs/heads/main",
      commitSha: waiting.sha,
      notebookPath: "model.ipynb",
    });
    server.pipelineStore.markRunning(orphan.id);
    server.pipelineStore.setPhase(orphan.id, "download", "running");
    expect((await server.api(`/api/pipelines/${orphan.id}/cancel`, { method: "POST" })).status).toBe(200);

    // Now cancel the busy one (it has a job): the rest runs.
    expect((await server.api(`/api/pipelines/${busyId}/cancel`, { method: "POST" })).status).toBe(200);
    const [raised] = await waitForCreated(server, raisingRepo);
    const ends = {
      busy: await endOf(server, busyId, ["cancelled"], 30_000),
      newer: await endOf(server, newer.id, ["succeeded", "failed"], 90_000),
      raised: await endOf(server, raised!.id, ["failed"], 90_000),
      queued: await get(server, queued!.id),
      orphan: await get(server, orphan.id),
    };
    expect(ends.newer.status).toBe("succeeded");
    expect(ends.newer.failure).toBeNull();
    expect(ends.busy.failure).toMatchObject({ phase: "execute", kind: "cancelled" });
    expect(ends.raised.failure).toEqual({
      phase: "execute",
      kind: "notebook_error",
      message: ends.raised.error!,
      cell: { index: 2, tags: ["mlops:training"], exception: "ValueError: no data" },
    });
    expect(ends.queued).toMatchObject({ status: "cancelled", failure: { phase: null, kind: "cancelled", message: "cancelled before it started" } });
    expect(ends.orphan).toMatchObject({ status: "cancelled", failure: { phase: "download", kind: "cancelled" } });

    // Each heard exactly once, with the status and failure the API shows.
    for (const p of [ends.busy, ends.newer, ends.raised, ends.queued, ends.orphan, await get(server, older!.id)]) {
      expect(heardOf(p.id)).toEqual([{ id: p.id, status: p.status as PipelineEnd["status"], failure: p.failure }]);
    }
    // The commit-status listener heard them too: the final state reached GitHub, also for the job-less cancel.
    expect((await finalStatuses("acme/ending-busy", "busy.ipynb")).map((s) => s.state)).toEqual(["error"]);
    expect((await finalStatuses("acme/ending-raising", "model.ipynb")).map((s) => s.state)).toEqual(["failure"]);
    const waitingStates = (
      await github.waitFor(
        "/repos/acme/ending-waiting/statuses/",
        (rs) => rs.filter((r) => (r.body as { state: string }).state === "error").length >= 2,
        30_000,
      )
    )
      .map((r) => r.body as { state: string; description: string })
      .filter((b) => b.state === "error")
      .map((b) => b.description);
    expect(waitingStates.sort()).toEqual(["cancelled", "cancelled before it started"]);
  }, 240_000);

  test("a timeout is heard once with kind timeout", async () => {
    const fast: PipelineEnd[] = [];
    const s = await startTestServer({ PIPELINE_TIMEOUT_SECONDS: "3" }, undefined, { endListeners: [(e) => fast.push(e)] });
    servers.push(s);
    const repo = makeRepo({ "slow.ipynb": sleeperNotebook("ending-slow", "sleeping", 300) });
    const repoId = await registerRepo(s, "acme/ending-slow", repo.dir);
    await sendPush(s.base, { fullName: "acme/ending-slow", cloneUrl: repo.dir, after: repo.sha });
    const [p] = await waitForCreated(s, repoId);
    const ended = await endOf(s, p!.id, ["timed_out", "failed", "succeeded"], 90_000);
    expect(ended.status).toBe("timed_out");
    expect(ended.failure).toMatchObject({ phase: "execute", kind: "timeout" });
    expect(fast).toEqual([{ id: p!.id, status: "timed_out", failure: ended.failure }]);
  }, 120_000);

  test("a pipeline a dead server left running is ended at the next start, as interrupted, before the port opens, heard once", async () => {
    const first = await startTestServer({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url });
    const repo = first.repos.create({ full_name: "acme/ending-left", clone_url: "/nonexistent" });
    const left = first.pipelineStore.create({
      repoId: repo.id,
      trigger: "push",
      ref: "refs/heads/main",
      commitSha: "b".repeat(40),
      notebookPath: "left.ipynb",
    });
    first.pipelineStore.markRunning(left.id);
    first.pipelineStore.setPhase(left.id, "execute", "running");
    await first.stop();

    const atStart: PipelineEnd[] = [];
    const second = await startTestServer({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url }, first.dataDir, { endListeners: [(e) => atStart.push(e)] });
    servers.push(second);
    const p = await get(second, left.id);
    expect(p).toMatchObject({ status: "failed", error: INTERRUPTED, failure: { phase: "execute", kind: "interrupted", message: INTERRUPTED } });
    expect(atStart).toEqual([{ id: left.id, status: "failed", failure: p.failure }]);
    expect((await finalStatuses("acme/ending-left", "left.ipynb")).map((s) => s.state)).toEqual(["error"]);
  }, 60_000);
});
