import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { GitMirror } from "../git/git-mirror.ts";
import { notebooksToRun } from "../git/notebook-paths.ts";
import { MlflowClient } from "../mlflow/mlflow-client.ts";
import type { PipelineService } from "../pipeline/pipeline-service.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { freePort } from "../testing/server-process.ts";
import { makeTestApp, testPipelineService, SIGNED_IN } from "../testing/test-app.ts";

// Credentials in a clone URL or in MLFLOW_TRACKING_URI are used to connect and never shown: not in API answers, pages,
// error messages or stored records. Each test puts a secret in a URL and greps for it everywhere it could surface.
const SECRET = "s3cr3t-Pa55word-0123";

// A git server that answers every request 500 with the URL it was asked, so git has an error to repeat.
const gitServer = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => new Response(`no git here: ${req.url}`, { status: 500 }) });
afterAll(() => gitServer.stop(true));
// A token as the user name: registration refuses a password in a clone URL, not this.
const cloneUrl = (port: number) => `http://${SECRET}@127.0.0.1:${port}/acme/iris.git`;

function makeReposApp() {
  let service: PipelineService | undefined;
  const t = makeTestApp({}, { runRepo: (repo) => service!.runRepo(repo) });
  const repos = new RepoStore(t.db);
  const gitRoot = join(t.dir, "git");
  mkdirSync(gitRoot, { recursive: true });
  service = testPipelineService(t, { source: new GitMirror(gitRoot, { timeoutMs: 20_000 }), repos, notebooksToRun }).service;
  return { ...t, repos };
}

describe("credentials in clone URLs", () => {
  test("API answers and the repositories page show *** in their place; the store keeps the real URL for git", async () => {
    const t = makeReposApp();
    const json = { ...t.auth, "Content-Type": "application/json" };
    const created = await t.app.request("/api/repos", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ full_name: "acme/iris", clone_url: cloneUrl(gitServer.port!) }),
    });
    expect(created.status).toBe(201);
    const body = await created.text();
    expect(body).not.toContain(SECRET);
    expect(JSON.parse(body).clone_url).toBe(`http://***@127.0.0.1:${gitServer.port}/acme/iris.git`);
    const id = JSON.parse(body).id as number;
    const answers = [
      await t.app.request("/api/repos", { headers: t.auth }),
      await t.app.request(`/api/repos/${id}`, { headers: t.auth }),
      await t.app.request(`/api/repos/${id}`, { method: "PATCH", headers: json, body: JSON.stringify({ branch: "main" }) }),
      await t.app.request("/repos", { headers: SIGNED_IN }),
    ];
    for (const res of answers) {
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain("***@127.0.0.1");
      expect(text).not.toContain(SECRET);
    }
    expect(t.repos.get(id).clone_url).toBe(cloneUrl(gitServer.port!));
  });

  test("a failing Run now names the URL without its credentials", async () => {
    const t = makeReposApp();
    for (const port of [gitServer.port!, freePort()]) {
      const repo = t.repos.create({ full_name: `acme/run${port}`, clone_url: cloneUrl(port) });
      const res = await t.app.request(`/api/repos/${repo.id}/run`, { method: "POST", headers: t.auth });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(600);
      expect(res.status).not.toBe(500);
      const text = await res.text();
      expect(text).toContain("***@127.0.0.1");
      expect(text).not.toContain(SECRET);
    }
  }, 60_000);

  test("git's own error output is redacted before it is kept", async () => {
    const mirror = new GitMirror(join(makeTestApp().dir, "git"), { timeoutMs: 20_000 });
    const failure = await mirror.fetchBranchHead(cloneUrl(gitServer.port!), "acme/iris", "main").then(
      () => null,
      (e: unknown) => e as Error & { stderr?: string },
    );
    expect(failure).not.toBeNull();
    expect(JSON.stringify({ message: failure!.message, stderr: failure!.stderr ?? "" })).not.toContain(SECRET);
  }, 60_000);
});

describe("credentials in MLFLOW_TRACKING_URI", () => {
  test("messages and run links from the MLflow client show *** in their place", async () => {
    const port = freePort();
    const client = new MlflowClient(`http://mlops:${SECRET}@127.0.0.1:${port}`, { timeoutMs: 2_000 });
    expect(client.shownUrl).toBe(`http://***@127.0.0.1:${port}`);
    expect(client.runUrl({ experimentId: "1", runId: "abc" })).not.toContain(SECRET);
    const down = await client.getOrCreateExperiment("iris").then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(down?.message).toContain(`MLflow at http://***@127.0.0.1:${port}`);
    expect(down?.message).not.toContain(SECRET);
  });
});
