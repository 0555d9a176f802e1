// GitHub commit statuses: end to end through a real server (push → papermill → statuses) against a stand-in GitHub
// API that records what it was sent; then the service alone on a real SQLite file (crash resume, skips, states).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";
import { INTERRUPTED } from "../pipeline/pipeline-states.ts";
import { PipelineStore, type PipelineRow } from "../pipeline/pipeline-store.ts";
import type { Job } from "../queue/job-states.ts";
import { JobStore, RETRY_BASE_MS } from "../queue/job-store.ts";
import { openTestDb, steppedClock } from "../testing/db.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { commit, makeRepo, sendPush, startTestServer, waitForPipelines, type TestServer } from "../testing/e2e.ts";
import { startGitHubStandIn, type GitHubStandIn, type RecordedRequest } from "../testing/github-stand-in.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64 } from "../testing/pipeline-fixtures.ts";
import { COMMIT_STATUS_JOB, CommitStatuses, commitStatusOf, cut, significant, thresholdText } from "./commit-status.ts";
import { GitHubRequestError, type CommitStatus } from "./github-api.ts";
import { eventually } from "../testing/eventually.ts";
import { openDatabase } from "../db/connection.ts";
import { join } from "node:path";

const TOKEN = "ghs_stand-in-token";
const PUBLIC_URL = "https://mlops.example.test";

let github: GitHubStandIn;
let server: TestServer;
const clock = steppedClock();
beforeAll(async () => {
  github = startGitHubStandIn();
  server = await startTestServer({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url, PUBLIC_URL: `${PUBLIC_URL}/` }, undefined, { clock });
});
afterAll(async () => {
  await server?.stop();
  await github?.stop();
});

/** Register `fullName` holding `files`, push its head to `target`, and wait for its `files` pipelines to end. */
async function pushAndWait(target: TestServer, fullName: string, files: Record<string, string>) {
  const repo = makeRepo(files);
  const repoId = await registerRepo(target, fullName, repo.dir);
  expect((await sendPush(target.base, { fullName, cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
  const pipelines = await waitForPipelines(target, `repo=${repoId}`, Object.keys(files).length);
  return { sha: repo.sha, byPath: Object.fromEntries(pipelines.map((p) => [p.notebook_path, p])) };
}

const GATE = { minAccuracyThreshold: 0.7, autoDeployOnSuccess: true };

const statusOf = (r: RecordedRequest) => r.body as CommitStatus;

/** The commit-status jobs of a pipeline, read from the server's database. */
function statusJobs(target: TestServer, pipelineId: number): { state: string }[] {
  const db = openDatabase(join(target.dataDir, "mlops.db"));
  try {
    return new JobStore(db).list({ kind: COMMIT_STATUS_JOB, limit: 1000 }).filter((j) => (j.payload as { pipelineId?: number }).pipelineId === pipelineId);
  } finally {
    db.$client.close();
  }
}
const ended = (rs: RecordedRequest[]) => rs.some((r) => statusOf(r).state !== "pending" && r.answered === 201);

describe("commit statuses, end to end", () => {
  // One push of three notebooks: one status line (context) each on the same commit.
  let pushed: Promise<Awaited<ReturnType<typeof pushAndWait>>> | undefined;
  const threeNotebooks = async () => {
    const b64 = await tinyOnnxBase64();
    const longReason = "the training data is empty ".repeat(8).trim();
    pushed ??= pushAndWait(server, "acme/status-three", {
      "ok.ipynb": modelNotebook("status-ok", b64, "pass", 'json.dump({"accuracy": 0.9616}, open(METRICS_OUTPUT_PATH, "w"))'),
      "raising.ipynb": modelNotebook("status-raising", b64, `raise ValueError("${longReason}")`),
      "low.ipynb": modelNotebook("status-low", b64, "pass", 'json.dump({"accuracy": 0.41}, open(METRICS_OUTPUT_PATH, "w"))'),
    });
    const { sha, byPath } = await pushed;
    const prefix = `/repos/acme/status-three/statuses/${sha}`;
    const all = await github.waitFor(prefix, (rs) =>
      ["ok", "raising", "low"].every((n) => ended(rs.filter((r) => statusOf(r).context === `mlops/${n}.ipynb`))),
    );
    const of = (path: string) => all.filter((r) => statusOf(r).context === `mlops/${path}`);
    return { sha, byPath, prefix, of };
  };

  test("a succeeding pipeline posts pending, then success with the gate's verdict and its version, on the pushed commit, with the token, API version and a link to the run", async () => {
    const { byPath, prefix, of } = await threeNotebooks();
    const id = byPath["ok.ipynb"]!.id;
    const posts = of("ok.ipynb");
    expect(posts.map((r) => statusOf(r))).toEqual([
      { state: "pending", target_url: `${PUBLIC_URL}/pipelines/${id}`, description: "running", context: "mlops/ok.ipynb" },
      // Three significant digits of 0.9616, against MIN_ACCURACY_THRESHOLD.
      { state: "success", target_url: `${PUBLIC_URL}/pipelines/${id}`, description: "accuracy 0.962 ≥ 0.70 · deployed v1", context: "mlops/ok.ipynb" },
    ]);
    for (const r of posts) {
      expect(r).toMatchObject({ method: "POST", path: prefix, answered: 201 });
      expect(r.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28" });
    }
  }, 120_000);

  test("a notebook whose cell raises posts failure with the phase and the failing cell (numbered as pushed, tagged), cut to 140 characters", async () => {
    const { byPath, of } = await threeNotebooks();
    const p = byPath["raising.ipynb"]!;
    expect(p.status).toBe("failed");
    const final = statusOf(of("raising.ipynb").at(-1)!);
    expect(final.state).toBe("failure");
    // The injected parameters cell comes first (no `parameters` cell): the training cell is still the notebook's 3rd.
    expect(final.description).toStartWith("failed in execute: cell 3 [mlops:training] raised ValueError: the training data is empty the training");
    expect([...final.description]).toHaveLength(140);
    expect(final.description.endsWith("…")).toBe(true);
    expect(p.error).toStartWith("cell 3 of the notebook [mlops:training] raised ValueError: the training data is empty");
  }, 120_000);

  test("a metric below the threshold posts success with the number, the threshold and that nothing serves", async () => {
    const { of } = await threeNotebooks();
    expect(statusOf(of("low.ipynb").at(-1)!)).toMatchObject({ state: "success", description: "accuracy 0.41 < 0.70 · none serving" });
  }, 120_000);

  test("a version below the repository's own threshold says which version is kept serving", async () => {
    const b64 = await tinyOnnxBase64();
    const repo = makeRepo({ "model.ipynb": modelNotebook("status-kept", b64) });
    const repoId = await registerRepo(server, "acme/status-kept", repo.dir, { deploy_threshold: 0.85 });
    await sendPush(server.base, { fullName: "acme/status-kept", cloneUrl: repo.dir, after: repo.sha });
    await waitForPipelines(server, `repo=${repoId}`, 1);
    const low = modelNotebook("status-kept", b64, "pass", 'json.dump({"accuracy": 0.8496}, open(METRICS_OUTPUT_PATH, "w"))');
    const sha2 = commit(repo.dir, { "model.ipynb": low }, "worse");
    await sendPush(server.base, { fullName: "acme/status-kept", cloneUrl: repo.dir, after: sha2, before: repo.sha });
    await waitForPipelines(server, `repo=${repoId}`, 2);
    const first = await github.waitFor(`/repos/acme/status-kept/statuses/${repo.sha}`, ended);
    expect(statusOf(first.at(-1)!).description).toBe("accuracy 1 ≥ 0.85 · deployed v1");
    const second = await github.waitFor(`/repos/acme/status-kept/statuses/${sha2}`, ended);
    // Three digits would round 0.8496 up to the threshold ("0.850 < 0.85"): a fourth digit is shown instead.
    expect(statusOf(second.at(-1)!)).toMatchObject({ state: "success", description: "accuracy 0.8496 < 0.85 · kept v1" });
    expect((await predict(server.base, "status-kept")).body.version).toBe(1);
  }, 120_000);

  test("with AUTO_DEPLOY_ON_SUCCESS off, a version that passes the gate is stored and says so", async () => {
    const manual = await startTestServer({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: github.url, AUTO_DEPLOY_ON_SUCCESS: "false" });
    try {
      const { sha, byPath } = await pushAndWait(manual, "acme/status-manual", { "model.ipynb": modelNotebook("status-manual", await tinyOnnxBase64()) });
      expect(byPath["model.ipynb"]!.status).toBe("succeeded");
      const posts = await github.waitFor(`/repos/acme/status-manual/statuses/${sha}`, ended);
      expect(statusOf(posts.at(-1)!)).toMatchObject({ state: "success", description: "accuracy 1 ≥ 0.70 · stored v1 (auto-deploy off)" });
    } finally {
      await manual.stop();
    }
  }, 120_000);

  test("GitHub answering 500 to the final status is retried and the final status arrives", async () => {
    github.script("/repos/acme/status-retry/", [500], { when: (body) => (body as CommitStatus).state === "success" });
    const { sha, byPath } = await pushAndWait(server, "acme/status-retry", { "model.ipynb": modelNotebook("status-retry", await tinyOnnxBase64()) });
    expect(byPath["model.ipynb"]!.status).toBe("succeeded");
    const prefix = `/repos/acme/status-retry/statuses/${sha}`;
    await github.waitFor(prefix, (rs) => rs.some((r) => r.answered === 500));
    // The retry is due after RETRY_BASE_MS: step the queue's clock there instead of waiting it out.
    clock.advance(RETRY_BASE_MS);
    server.wake();
    const posts = await github.waitFor(prefix, ended);
    expect(posts.map((r) => [statusOf(r).state, r.answered])).toEqual([
      ["pending", 201],
      ["success", 500],
      ["success", 201],
    ]);
    expect(statusOf(posts.at(-1)!).description).toBe("accuracy 1 ≥ 0.70 · deployed v1");
  }, 120_000);

  test("GitHub refusing the token (401) is not retried, and the pipeline deploys all the same", async () => {
    github.script("/repos/acme/status-denied/", [401], { forever: true });
    const { sha, byPath } = await pushAndWait(server, "acme/status-denied", { "model.ipynb": modelNotebook("status-denied", await tinyOnnxBase64()) });
    expect(byPath["model.ipynb"]!.status).toBe("succeeded");
    expect((await predict(server.base, "status-denied")).body.version).toBe(1);
    const prefix = `/repos/acme/status-denied/statuses/${sha}`;
    await github.waitFor(prefix, (rs) => rs.some((r) => statusOf(r).state === "success"));
    // Driven, not waited out: once every status job of the pipeline has ended (failed), nothing can post again.
    const pipelineId = byPath["model.ipynb"]!.id;
    await eventually(() => statusJobs(server, pipelineId).every((j) => j.state === "failed") && statusJobs(server, pipelineId).length > 0, {
      what: `the commit-status jobs of pipeline ${pipelineId} to end`,
    });
    // One request per state, each refused once.
    expect(github.received(prefix).map((r) => [statusOf(r).state, r.answered])).toEqual([
      ["pending", 401],
      ["success", 401],
    ]);
  }, 120_000);

  test("without GITHUB_TOKEN nothing is posted", async () => {
    const plain = await startTestServer({ GITHUB_API_URL: github.url, PUBLIC_URL });
    try {
      const { byPath } = await pushAndWait(plain, "acme/status-none", { "model.ipynb": modelNotebook("status-none", await tinyOnnxBase64()) });
      expect(byPath["model.ipynb"]!.status).toBe("succeeded");
      // Nothing queued to post (the pipeline has ended, so nothing will be), and nothing posted.
      expect(statusJobs(plain, byPath["model.ipynb"]!.id)).toEqual([]);
      expect(github.received("/repos/acme/status-none/")).toEqual([]);
    } finally {
      await plain.stop();
    }
  }, 120_000);
});

describe("commit statuses, the service alone", () => {
  function setup(apiUrl = "http://127.0.0.1:9") {
    const db = openTestDb();
    const jobs = new JobStore(db);
    const pipelines = new PipelineStore(db);
    const repos = new RepoStore(db);
    const repo = repos.create({ full_name: "acme/alone" });
    const statuses = new CommitStatuses({
      api: { url: apiUrl, token: TOKEN },
      publicUrl: "",
      pipelines,
      repos,
      jobs,
      config: GATE,
      servingVersion: () => null,
    });
    const newPipeline = () =>
      pipelines.create({ repoId: repo.id, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "nb.ipynb" });
    return { jobs, pipelines, repos, statuses, newPipeline };
  }

  test("start-up queues again a status whose job a crash interrupted, once; one GitHub refused is left alone", () => {
    const { jobs, statuses, newPipeline } = setup();
    const crashed = newPipeline().id;
    const refused = newPipeline().id;
    const wordy = newPipeline().id;
    statuses.changed(crashed);
    statuses.changed(refused);
    statuses.changed(wordy);
    const [a, b, c] = ["w/1", "w/2", "w/3"].map((w) => jobs.claim(w, 30_000, [COMMIT_STATUS_JOB])!) as [Job, Job, Job];
    expect(jobs.fail(b.id, "w/2", new GitHubRequestError(401, "GitHub answered 401: Bad credentials"))).toBe("failed");
    // An error whose words look like an interruption is still an error: the kind is read, not the message.
    expect(jobs.fail(c.id, "w/3", new Error(INTERRUPTED))).toBe("failed");
    expect(jobs.recoverInterrupted(INTERRUPTED).map((j) => j.id)).toEqual([a.id]);

    expect(statuses.resumeInterrupted()).toEqual([crashed]);
    expect(jobs.list({ kind: COMMIT_STATUS_JOB, state: "queued" }).map((j) => j.payload)).toEqual([{ pipelineId: crashed }]);
    expect(statuses.resumeInterrupted()).toEqual([]);
  });

  test("a newer state replaces a queued older one of the same pipeline, and only of that pipeline", () => {
    const { jobs, statuses, newPipeline } = setup();
    const [one, two] = [newPipeline().id, newPipeline().id];
    statuses.changed(one);
    statuses.changed(two);
    statuses.changed(one);
    const queued = jobs.list({ kind: COMMIT_STATUS_JOB, state: "queued" }).map((j) => j.payload);
    expect(queued).toEqual([{ pipelineId: one }, { pipelineId: two }]);
    expect(jobs.list({ kind: COMMIT_STATUS_JOB, state: "superseded" }).map((j) => j.payload)).toEqual([{ pipelineId: one }]);
  });

  test("a repository whose full name is not owner/name is skipped without a request", async () => {
    const standIn = startGitHubStandIn();
    try {
      const { pipelines, jobs, newPipeline } = setup(standIn.url);
      const statuses = new CommitStatuses({
        api: { url: standIn.url, token: TOKEN },
        publicUrl: "",
        pipelines,
        repos: { find: () => ({ full_name: "not-a-full-name", deploy_metric: "accuracy", deploy_threshold: null }) },
        jobs,
        config: GATE,
        servingVersion: () => null,
      });
      await statuses.post(newPipeline().id);
      expect(standIn.requests).toEqual([]);
    } finally {
      await standIn.stop();
    }
  });

  test("timed out, cancelled and interrupted pipelines are errors; other failures are failures", () => {
    const row = (status: string, error: string | null, kind?: FailureKind) =>
      ({
        id: 7,
        status,
        error,
        failure: kind ? failure("execute", kind, error ?? status) : null,
        notebookPath: "a/b.ipynb",
        modelName: null,
        modelVersion: null,
      }) as PipelineRow;
    const state = (status: string, error: string | null, kind?: FailureKind) => commitStatusOf(row(status, error, kind), [], "http://x").state;
    expect(state("timed_out", "the notebook ran past PIPELINE_TIMEOUT_SECONDS", FailureKind.timeout)).toBe("error");
    expect(state("cancelled", "cancelled", FailureKind.cancelled)).toBe("error");
    // read from the failure's kind, not its words
    expect(state("failed", INTERRUPTED, FailureKind.interrupted)).toBe("error");
    expect(state("failed", "stopped while it ran", FailureKind.interrupted)).toBe("error");
    expect(state("failed", INTERRUPTED, FailureKind.notebook_error)).toBe("failure");
    expect(state("failed", "missing required cell tags: mlops:export", FailureKind.notebook_error)).toBe("failure");
    expect(commitStatusOf(row("failed", "bad\nsecond line", FailureKind.notebook_error), [], "http://x")).toEqual({
      state: "failure",
      target_url: "http://x/pipelines/7",
      description: "failed in execute: bad",
      context: "mlops/a/b.ipynb",
    });
    // A failure before any phase ran has its reason alone.
    expect(commitStatusOf({ ...row("failed", "gone", FailureKind.internal), failure: failure(null, FailureKind.internal, "gone") }, [], "").description).toBe(
      "gone",
    );
  });

  test("numbers are shown to three significant digits, more when fewer would cross the threshold; thresholds with two decimals", () => {
    expect([0.9616, 0.41, 1, 1234.5, 0.000123456, 0.6996].map((v) => significant(v, 0.7))).toEqual(["0.962", "0.41", "1", "1230", "0.000123", "0.6996"]);
    expect(significant(0.69996, 0.7)).toBe("0.69996");
    expect(significant(0.7, 0.7)).toBe("0.7");
    expect([0.7, 0.85, 0.925, 5, 1.5, 0].map(thresholdText)).toEqual(["0.70", "0.85", "0.925", "5", "1.50", "0"]);
  });

  test("a succeeded pipeline's verdict: deployed, kept (or none serving), stored with auto-deploy off, a metric not reported", () => {
    const { pipelines, newPipeline } = setup();
    const succeeded = (metrics: Record<string, number>, deploy: "succeeded" | "skipped") => {
      const p = newPipeline();
      pipelines.markRunning(p.id);
      pipelines.update(p.id, { modelName: "iris", modelVersion: 7, metrics: JSON.stringify(metrics) });
      pipelines.setPhase(p.id, "deploy", "running");
      pipelines.setPhase(p.id, "deploy", deploy, deploy === "skipped" ? "not deployed" : undefined);
      pipelines.finish(p.id, "succeeded");
      return [pipelines.get(p.id), pipelines.phases(p.id)] as const;
    };
    const gate = (autoDeploy: boolean, serving: number | null) => ({
      policy: { metric: "accuracy", threshold: 0.7, autoDeploy },
      servingVersion: () => serving,
    });
    const say = (row: ReturnType<typeof succeeded>, g: ReturnType<typeof gate>) => commitStatusOf(row[0], [...row[1]], "", g).description;
    expect(say(succeeded({ accuracy: 0.9616, loss: 3 }, "succeeded"), gate(true, 7))).toBe("accuracy 0.962 ≥ 0.70 · deployed v7");
    expect(say(succeeded({ accuracy: 0.41 }, "skipped"), gate(true, 6))).toBe("accuracy 0.41 < 0.70 · kept v6");
    expect(say(succeeded({ accuracy: 0.41 }, "skipped"), gate(true, null))).toBe("accuracy 0.41 < 0.70 · none serving");
    expect(say(succeeded({ accuracy: 0.9616 }, "skipped"), gate(false, 6))).toBe("accuracy 0.962 ≥ 0.70 · stored v7 (auto-deploy off)");
    expect(say(succeeded({ loss: 0.1 }, "skipped"), gate(true, 6))).toBe("accuracy not reported · kept v6");
    // The gate as it stands now would not have done what was done (its settings changed since): the plain words.
    expect(say(succeeded({ accuracy: 0.41 }, "succeeded"), gate(true, 7))).toBe("iris v7 deployed");
    expect(say(succeeded({ accuracy: 0.9 }, "skipped"), gate(true, 6))).toBe("iris v7 stored, not deployed: not deployed");
  });

  test("cut keeps short text, counts code points, ends long text with …", () => {
    expect(cut("short  text\n", 140)).toBe("short text");
    expect(cut("é".repeat(140), 140)).toBe("é".repeat(140));
    expect(cut("😀".repeat(141), 140)).toBe(`${"😀".repeat(139)}…`);
  });
});
