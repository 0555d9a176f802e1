// The home page answers "is everything fine?": the verdict, traffic per serving model, pipelines running, the last
// failure, the queue, and MLflow / GitHub status reporting health where configured; /home/health is its polled part.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMMIT_STATUS_JOB } from "../github/commit-status.ts";
import { commitStatusHealth } from "../github/commit-status-health.ts";
import { TransientError } from "../lib/errors.ts";
import { MlflowSyncStore } from "../mlflow/mlflow-sync-store.ts";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";
import { JobStore } from "../queue/job-store.ts";
import { RECENT_WINDOW_MINUTES, RecentRequests } from "../serving/recent-requests.ts";
import { deployVersion, postJson } from "../testing/serving-test-support.ts";
import { makeTestApp, SIGNED_IN } from "../testing/test-app.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-home-")));
}, 60_000);

function steppedClock() {
  const clock = { t: Date.now(), now: () => clock.t };
  return clock;
}

const verdictOf = (html: string) => html.slice(html.indexOf('id="verdict"'), html.indexOf("<h2>Serving</h2>"));

describe("home page", () => {
  test("a fresh server is all fine; the health part is also served alone for polling", async () => {
    const { app } = makeTestApp();
    const html = await (await app.request("/", { headers: SIGNED_IN })).text();
    expect(verdictOf(html)).toContain("All fine");
    expect(html).toContain('hx-get="/home/health" hx-trigger="every 5s"');
    expect(html).toContain("No pipeline runs now.");
    expect(html).toContain("No pipeline has failed.");
    expect(html).not.toContain('id="mlflow-health"'); // not configured
    expect(html).not.toContain('id="github-health"');
    const fragment = await app.request("/home/health", { headers: SIGNED_IN });
    expect(fragment.status).toBe(200);
    const body = await fragment.text();
    expect(body.startsWith('<div id="home-health"')).toBe(true);
    expect(body).not.toContain("<html");
    expect(body).toContain("All fine");
  });

  test("the fragment needs a session like the page", async () => {
    const { app } = makeTestApp();
    const res = await app.request("/home/health");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/login?next=%2Fhome%2Fhealth");
  });

  test("requests per minute, errors and refusals per serving model come from its own predict requests, over a window that moves on", async () => {
    const clock = steppedClock();
    const recentRequests = new RecentRequests(clock);
    const { app, deps } = makeTestApp({}, { recentRequests });
    await deployVersion(deps, "iris", model.onnxPath);
    for (let i = 0; i < 9; i++) expect((await app.request("/models/iris/predict", postJson({ inputs: model.expected.rows }))).status).toBe(200);
    expect((await app.request("/models/iris/predict", postJson({ inputs: [[1, 2]] }))).status).toBe(422); // wrong width
    const cellsOf = (html: string) => [...html.match(/<table id="serving">[\s\S]*?<\/table>/)![0].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((m) => m[0]);
    let html = await (await app.request("/home/health", { headers: SIGNED_IN })).text();
    // A client's bad request is refused (4xx), not a failure of the server: shown, and no problem at 10%.
    expect(cellsOf(html)[0]).toContain(">iris</a>");
    expect(cellsOf(html).slice(2, 5)).toEqual([`<td class="num">${10 / RECENT_WINDOW_MINUTES}</td>`, '<td class="num">0%</td>', '<td class="num">10%</td>']);
    expect(verdictOf(html)).toContain("All fine");

    // Most requests refused: the clients and the model disagree, a problem.
    for (let i = 0; i < 15; i++) expect((await app.request("/models/iris/predict", postJson({ inputs: [[1, 2]] }))).status).toBe(422);
    html = await (await app.request("/home/health", { headers: SIGNED_IN })).text();
    expect(cellsOf(html).slice(3, 5)).toEqual(['<td class="num">0%</td>', '<td class="num error">64%</td>']);
    expect(verdictOf(html)).toContain("iris: 64% of its requests were refused (4xx");

    // Server errors (5xx, as the predict route counts them when a run fails) from 5% on.
    recentRequests.record("iris", 500);
    recentRequests.record("iris", 503);
    html = await (await app.request("/home/health", { headers: SIGNED_IN })).text();
    expect(cellsOf(html).slice(3, 5)).toEqual(['<td class="num error">7.4%</td>', '<td class="num error">59%</td>']);
    expect(verdictOf(html)).toContain("iris: 7.4% of its requests failed (5xx)");

    clock.t += RECENT_WINDOW_MINUTES * 60_000;
    const later = await (await app.request("/home/health", { headers: SIGNED_IN })).text();
    expect(later).toContain("no requests");
    expect(verdictOf(later)).toContain("All fine");
  });

  test("pipelines running now with their phase and elapsed time; queued ones waiting for their runner are a problem", async () => {
    const { app, deps } = makeTestApp();
    const store = deps.pipelineStore;
    const mk = (path: string) => store.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: path }).id;
    const running = mk("train.ipynb");
    store.markRunning(running);
    store.setPhase(running, "execute", "running");
    const waiting = mk("big.ipynb");
    store.waitForRunner(waiting, "waiting for Ray at http://ray.test:8265");
    mk("queued.ipynb");
    const html = await (await app.request("/", { headers: SIGNED_IN })).text();
    const table = html.match(/<table id="running-now">[\s\S]*?<\/table>/)![0];
    expect(table).toContain(`href="/pipelines/${running}"`);
    expect(table).toContain("<td>execute</td>");
    expect(table).toMatch(/<td class="num">\d+ ms|\d+\.\d s<\/td>/);
    expect(table).not.toContain("big.ipynb");
    expect(html).toMatch(/Queue: 0 jobs queued or running · 2 pipelines\s+waiting/);
    expect(html).toContain("1 for their runner: waiting for Ray at http://ray.test:8265");
    expect(verdictOf(html)).toContain("1 pipeline waiting for the runner: waiting for Ray at http://ray.test:8265");
  });

  test("the last failure with its reason and link is a problem until a later run of the same notebook succeeds", async () => {
    const { app, deps } = makeTestApp();
    const store = deps.pipelineStore;
    const mk = (path: string) => store.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: path }).id;
    const failed = mk("train.ipynb");
    store.markRunning(failed);
    store.finish(failed, "failed", failure("execute", FailureKind.notebook_error, "cell 4 [mlops:training] raised ValueError: bad shape"));
    const other = mk("other.ipynb");
    store.finish(other, "succeeded"); // another notebook's success fixes nothing
    let html = await (await app.request("/", { headers: SIGNED_IN })).text();
    const last = html.match(/<p id="last-failure">[\s\S]*?<\/p>/)![0];
    expect(last).toContain(`href="/pipelines/${failed}"`);
    expect(last).toContain("in execute");
    expect(last).toContain("cell 4 [mlops:training] raised ValueError: bad shape");
    expect(verdictOf(html)).toContain(`Pipeline #${failed} (train.ipynb) failed: cell 4 [mlops:training] raised ValueError: bad shape`);

    // A later timeout is the newest failure now; a success of its notebook fixes it, not the older failure.
    const timedOut = mk("slow.ipynb");
    store.finish(timedOut, "timed_out", failure("execute", FailureKind.timeout, "the notebook ran past PIPELINE_TIMEOUT_SECONDS"));
    html = await (await app.request("/", { headers: SIGNED_IN })).text();
    expect(html.match(/<p id="last-failure">[\s\S]*?<\/p>/)![0]).toContain(`href="/pipelines/${timedOut}"`);
    store.finish(mk("slow.ipynb"), "succeeded");

    const fixed = mk("train.ipynb");
    store.finish(fixed, "succeeded");
    html = await (await app.request("/", { headers: SIGNED_IN })).text();
    expect(html).toContain("fixed since: <a href=");
    expect(verdictOf(html)).toContain("All fine");
  });

  test("MLflow sync health: last success, backlog, and an error newer than the last success is a problem", async () => {
    // The health reads the app's own database, as server.ts wires it.
    let syncs: MlflowSyncStore | undefined;
    const { app: withMlflow, deps, db } = makeTestApp({}, { mlflowHealth: () => syncs!.health() });
    syncs = new MlflowSyncStore(db);
    const mk = () => deps.pipelineStore.create({ repoId: null, trigger: "manual", ref: "r", commitSha: "a".repeat(40), notebookPath: "n.ipynb" }).id;
    const a = mk();
    const b = mk();
    syncs.attempt(a, "synced", null);
    let html = await (await withMlflow.request("/", { headers: SIGNED_IN })).text();
    expect(html).toMatch(/MLflow sync: last success <time[^>]*>[^<]+<\/time> · backlog 0 pending, 0 failed/);
    expect(verdictOf(html)).toContain("All fine");

    syncs.attempt(b, "pending", "MLflow did not answer: connection refused");
    html = await (await withMlflow.request("/", { headers: SIGNED_IN })).text();
    expect(html).toContain("backlog 1 pending, 0 failed");
    expect(html).toContain("MLflow did not answer: connection refused");
    expect(verdictOf(html)).toContain("MLflow sync behind (1 pending): MLflow did not answer: connection refused");

    syncs.attempt(b, "synced", null);
    html = await (await withMlflow.request("/", { headers: SIGNED_IN })).text();
    expect(html).toContain("backlog 0 pending, 0 failed");
    expect(verdictOf(html)).toContain("All fine");
  });

  test("GitHub commit status health: none yet, a failing delivery (retrying, then given up), then ok again", async () => {
    const clock = steppedClock();
    let jobs: JobStore | undefined;
    const { app, db } = makeTestApp({}, { commitStatusHealth: () => commitStatusHealth(jobs!) });
    jobs = new JobStore(db, clock);
    const page = async () => (await app.request("/home/health", { headers: SIGNED_IN })).text();
    expect(await page()).toContain('GitHub commit statuses: <span class="muted">none posted recently</span>');

    jobs.enqueue({ kind: COMMIT_STATUS_JOB, payload: { pipelineId: 7 }, maxAttempts: 2 });
    const first = jobs.claim("w", 30_000, [COMMIT_STATUS_JOB])!;
    jobs.fail(first.id, "w", new TransientError("GitHub answered 502: Bad Gateway"));
    let html = await page();
    expect(html).toContain("last delivery failed, retrying");
    expect(html).toContain("GitHub answered 502: Bad Gateway");
    expect(verdictOf(html)).toContain("GitHub commit status delivery failing, retrying: GitHub answered 502: Bad Gateway");

    clock.t += 60_000; // past the retry's delay
    const again = jobs.claim("w", 30_000, [COMMIT_STATUS_JOB])!;
    jobs.fail(again.id, "w", new Error("GitHub answered 401: Bad credentials"));
    html = await page();
    expect(html).toMatch(/last delivery failed<\/span>/);
    expect(verdictOf(html)).toContain("not delivered");

    jobs.enqueue({ kind: COMMIT_STATUS_JOB, payload: { pipelineId: 8 } });
    const ok = jobs.claim("w", 30_000, [COMMIT_STATUS_JOB])!;
    clock.t += 1_000;
    jobs.complete(ok.id, "w");
    html = await page();
    expect(html).toContain("last delivery ok");
    expect(verdictOf(html)).toContain("All fine");
  });

  test("a long failure reason is cut to one line of the verdict; the whole reason stays under Last failure", async () => {
    const { app, deps } = makeTestApp();
    const store = deps.pipelineStore;
    const id = store.create({ repoId: null, trigger: "manual", ref: "r", commitSha: "a".repeat(40), notebookPath: "n.ipynb" }).id;
    const reason = `cell 2 raised ValueError: ${"x".repeat(500)}`;
    store.finish(id, "failed", failure("execute", FailureKind.notebook_error, reason));
    const html = await (await app.request("/", { headers: SIGNED_IN })).text();
    const problem = verdictOf(html).match(/<li><a [^>]*>([^<]*)<\/a><\/li>/)![1]!;
    expect([...problem].length).toBe(200);
    expect(problem.endsWith("…")).toBe(true);
    expect(html).toContain(reason);
  });

  test("notebooks running without a sandbox are named in the verdict", async () => {
    const { app } = makeTestApp({ NOTEBOOK_SANDBOX: "off" });
    const html = await (await app.request("/", { headers: SIGNED_IN })).text();
    expect(verdictOf(html)).toContain("Notebooks run without a sandbox");
  });
});
