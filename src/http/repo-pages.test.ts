import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { GitMirror } from "../git/git-mirror.ts";
import { notebooksToRun } from "../git/notebook-paths.ts";
import type { PipelineService } from "../pipeline/pipeline-service.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { makeRepo, notebook } from "../testing/e2e.ts";
import { makeTestApp, TEST_ADMIN_TOKEN, TEST_WEBHOOK_SECRET, testPipelineService, SIGNED_IN, FOREIGN_SESSION } from "../testing/test-app.ts";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";

const signedIn = SIGNED_IN;
const browser = { ...signedIn, Accept: "text/html" };
const htmx = { ...signedIn, "HX-Request": "true" };

const SHA = "0123456789abcdef0123456789abcdef01234567";
const tagged = notebook([{ tags: ["mlops:config"], source: 'MODEL_NAME = "iris"\nVERSION = "1"' }]);
const untagged = notebook([{ tags: [], source: "print('not a pipeline')" }]);

/**
 * A test app whose Run now is the real PipelineService.runRepo: a real git mirror (ls-remote, fetch) and the real
 * job queue on the same SQLite file. No worker runs, so the pipelines it creates stay queued.
 */
function makeReposApp(env: Record<string, string> = {}) {
  let service: PipelineService | undefined;
  const t = makeTestApp({ MIN_ACCURACY_THRESHOLD: "0.65", ...env }, { runRepo: (repo) => service!.runRepo(repo) });
  const { deps, db } = t;
  const repos = new RepoStore(db);
  const gitRoot = join(t.dir, "git");
  mkdirSync(gitRoot, { recursive: true });
  service = testPipelineService(t, { source: new GitMirror(gitRoot), repos, notebooksToRun }).service;
  const pipelines = () =>
    db.$client
      .query<{ id: number; repo_id: number | null; trigger: string; commit_sha: string; notebook_path: string }, []>(
        "SELECT id, repo_id, trigger, commit_sha, notebook_path FROM pipelines ORDER BY id",
      )
      .all();
  /** Everything a refused request must leave alone. */
  const state = () => ({ repos: repos.list(), pipelines: pipelines() });
  const addPipeline = (repoId: number, status?: "succeeded" | "failed") => {
    const p = deps.pipelineStore.create({ repoId, trigger: "push", ref: "refs/heads/main", commitSha: SHA, notebookPath: "train.ipynb" });
    if (status) deps.pipelineStore.finish(p.id, status, status === "failed" ? failure("execute", FailureKind.notebook_error, "boom") : null);
    return p.id;
  };
  const post = (path: string, headers: Record<string, string>, form?: Record<string, string>) =>
    t.app.request(path, {
      method: "POST",
      headers: { ...headers, ...(form && { "Content-Type": "application/x-www-form-urlencoded" }) },
      body: form && new URLSearchParams(form).toString(),
    });
  return { ...t, repos, pipelines, state, addPipeline, post };
}

/** The table row of repository `id` in a page or fragment. */
const rowOf = (html: string, id: number) => html.match(new RegExp(`<tr data-repo-id="${id}">[\\s\\S]*?</tr>`))?.[0] ?? "";

const emptyForm = { full_name: "", clone_url: "", branch: "", notebook_glob: "", deploy_metric: "", deploy_threshold: "" };

describe("/repos", () => {
  test("lists every repository with clone URL, branch, glob, deploy policy (own or the server default) and its newest pipeline", async () => {
    const t = makeReposApp();
    const iris = t.repos.create({ full_name: "acme/iris", deploy_threshold: 0.8, deploy_metric: "f1", notebook_glob: "ml/*.ipynb" });
    const churn = t.repos.create({ full_name: "acme/churn", clone_url: "/srv/git/churn", branch: "prod" });
    t.addPipeline(iris.id, "succeeded");
    const newest = t.addPipeline(iris.id, "failed");
    const res = await t.app.request("/repos", { headers: browser });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toMatch(/<a href="\/pipelines">Pipelines<\/a><a href="\/repos">Repositories<\/a><a href="\/models">Models<\/a>/);
    const first = rowOf(html, iris.id);
    expect(first).toContain('<td class="repo-name">acme/iris</td>');
    expect(first).toContain("<code>https://github.com/acme/iris.git</code>");
    expect(first).toContain("<code>main</code>");
    expect(first).toContain("<code>ml/*.ipynb</code>");
    expect(first).toContain('<td class="policy"><code>f1</code> ≥ 0.8</td>');
    expect(first).toContain(`<a href="/pipelines/${newest}">#${newest}</a> <span class="status status-failed">failed</span>`);
    expect(first).toContain(`hx-post="/repos/${iris.id}/run"`);
    expect(first).toMatch(new RegExp(`hx-post="/repos/${iris.id}/delete"[^>]*hx-confirm="Remove acme/iris\\?`));
    const second = rowOf(html, churn.id);
    expect(second).toContain("<code>/srv/git/churn</code>");
    expect(second).toContain("<code>prod</code>");
    expect(second).toContain("<code>**/*.ipynb</code>");
    expect(second).toContain('<code>accuracy</code> ≥ 0.65<span class="muted"> (server default)</span>');
    expect(second).toContain('<span class="muted">none yet</span>');
    // Oldest registration first; auto-deploy on, so no note about it.
    expect(html.indexOf("acme/iris")).toBeLessThan(html.indexOf("acme/churn"));
    expect(html).not.toContain("AUTO_DEPLOY_ON_SUCCESS is off");

    const empty = await makeReposApp({ AUTO_DEPLOY_ON_SUCCESS: "false" }).app.request("/repos", { headers: browser });
    const emptyHtml = await empty.text();
    expect(emptyHtml).toContain("No repository yet");
    expect(emptyHtml).toContain("AUTO_DEPLOY_ON_SUCCESS is off");
  });

  test("the webhook box shows the payload URL (PUBLIC_URL, else the request's origin), the content type, the secret inside <details>, and the event", async () => {
    for (const [env, url, note] of [
      [{}, "http://localhost/webhook/github", true],
      [{ PUBLIC_URL: "https://mlops.example.com/" }, "https://mlops.example.com/webhook/github", false],
    ] as const) {
      const html = await (await makeReposApp(env).app.request("/repos", { headers: browser })).text();
      const box = html.match(/<section id="webhook-setup"[\s\S]*?<\/section>/)?.[0] ?? "";
      expect(box).toContain(`<code id="webhook-url">${url}</code>`);
      expect(box).toContain("<code>application/json</code>");
      expect(box).toMatch(new RegExp(`<details><summary>[^<]*</summary><code id="webhook-secret">${TEST_WEBHOOK_SECRET}</code></details>`));
      expect(box).toContain("Just the push event.");
      expect(box.includes("set PUBLIC_URL")).toBe(note);
    }
  });

  test("Register stores the repository (empty fields take the defaults) and answers the refreshed list", async () => {
    const t = makeReposApp();
    t.repos.create({ full_name: "acme/iris" });
    const res = await t.post("/repos", htmx, { ...emptyForm, full_name: " Octo-Cat/hello.world_2 " });
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toStartWith('<section id="repo-section">');
    expect(fragment).not.toContain("<html");
    expect(fragment).toContain('<div id="repo-error"></div>');
    expect(rowOf(fragment, 2)).toContain('<td class="repo-name">Octo-Cat/hello.world_2</td>');
    expect(rowOf(fragment, 1)).toContain("acme/iris");
    expect(t.repos.get(2)).toMatchObject({
      full_name: "Octo-Cat/hello.world_2",
      clone_url: "https://github.com/Octo-Cat/hello.world_2.git",
      branch: "main",
      notebook_glob: "**/*.ipynb",
      deploy_metric: "accuracy",
      deploy_threshold: null,
    });

    const full = await t.post("/repos", htmx, {
      full_name: "o/r",
      clone_url: "file:///tmp/r",
      branch: "release/v1",
      notebook_glob: "ml/**/*.ipynb",
      deploy_metric: "f1",
      deploy_threshold: "0.85",
    });
    expect(full.status).toBe(200);
    expect(rowOf(await full.text(), 3)).toContain("<code>f1</code> ≥ 0.85</td>");
    expect(t.repos.get(3)).toMatchObject({
      clone_url: "file:///tmp/r",
      branch: "release/v1",
      notebook_glob: "ml/**/*.ipynb",
      deploy_metric: "f1",
      deploy_threshold: 0.85,
    });
    const zero = await t.post("/repos", htmx, { full_name: "o/zero", deploy_threshold: "0" });
    expect(zero.status).toBe(200);
    expect(t.repos.getByFullName("o/zero")?.deploy_threshold).toBe(0);
  });

  const refused: { name: string; form: Record<string, string>; status: number; message: string | RegExp }[] = [
    { name: "a registered name", form: { full_name: "acme/iris" }, status: 409, message: "repository acme/iris is already registered" },
    { name: "a registered name in other case", form: { full_name: "ACME/Iris" }, status: 409, message: "repository ACME/Iris is already registered" },
    { name: "a threshold above 1", form: { full_name: "acme/new", deploy_threshold: "1.5" }, status: 400, message: /^invalid request: deploy_threshold: / },
    { name: "a threshold below 0", form: { full_name: "acme/new", deploy_threshold: "-0.1" }, status: 400, message: /^invalid request: deploy_threshold: / },
    {
      name: "a threshold that is not a number",
      form: { full_name: "acme/new", deploy_threshold: "high" },
      status: 400,
      message: "deploy_threshold: must be a number from 0 to 1, or null",
    },
    { name: "no name", form: { full_name: "" }, status: 400, message: "full_name: must be owner/name" },
    { name: "a name without owner", form: { full_name: "iris" }, status: 400, message: "full_name: must be owner/name" },
    { name: "a branch with spaces", form: { full_name: "acme/new", branch: "my branch" }, status: 400, message: "branch: must be a git branch name" },
    { name: "a clone URL read as a git option", form: { full_name: "acme/new", clone_url: "--upload-pack=touch /tmp/x" }, status: 400, message: "clone_url: " },
    {
      name: "a clone URL with a token",
      form: { full_name: "acme/new", clone_url: "https://x:ghp_secret@github.com/a/b.git" },
      status: 400,
      message: "set GITHUB_TOKEN instead",
    },
    { name: "an unknown field", form: { full_name: "acme/new", colour: "red" }, status: 400, message: "unknown field colour" },
    {
      name: "runner resources that are not JSON",
      form: { full_name: "acme/new", runner_resources: "{num_cpus: 1" },
      status: 422,
      message: "invalid request: runner_resources: must be a JSON object such as {&quot;num_cpus&quot;: 1",
    },
    {
      name: "runner resources asking for negative GPUs",
      form: { full_name: "acme/new", runner_resources: '{"num_gpus": -1}' },
      status: 422,
      message: "runner_resources.num_gpus: ",
    },
    {
      name: "runner resources with an unknown key",
      form: { full_name: "acme/new", runner_resources: '{"gpu": 1}' },
      status: 422,
      message: "unknown key gpu; allowed: num_cpus, num_gpus, memory_mb, resources",
    },
  ];
  for (const r of refused) {
    test(`Register refuses ${r.name} (${r.status} in the error box) and stores nothing`, async () => {
      const t = makeReposApp();
      t.repos.create({ full_name: "acme/iris" });
      const before = t.state();
      const res = await t.post("/repos", htmx, { ...emptyForm, ...r.form });
      expect(res.status).toBe(r.status);
      const text = await res.text();
      const message = text.match(/^<p class="error" role="alert">(.*)<\/p>$/s)?.[1] ?? `not an error fragment: ${text}`;
      if (typeof r.message === "string") expect(message).toContain(r.message);
      else expect(message).toMatch(r.message);
      expect(text).not.toContain("ghp_secret");
      expect(t.state()).toEqual(before);
    });
  }

  test("the form and every action send their errors to the error box", async () => {
    const t = makeReposApp();
    t.repos.create({ full_name: "acme/iris" });
    const html = await (await t.app.request("/repos", { headers: browser })).text();
    expect(html).toMatch(
      /<form class="repo-form" hx-post="\/repos" hx-target="#repo-section" hx-swap="outerHTML" hx-status:4xx="target:#repo-error swap:innerHTML"/,
    );
    expect(rowOf(html, 1)).toMatch(
      /<button class="remove danger" hx-post="\/repos\/1\/delete" hx-target="#repo-section" hx-swap="outerHTML" hx-confirm="[^"]*" hx-status:4xx="target:#repo-error swap:innerHTML"/,
    );
    expect(rowOf(html, 1)).toContain('<button class="run" hx-post="/repos/1/run" hx-target="#repo-error" hx-swap="innerHTML"');
    for (const field of ["full_name", "clone_url", "branch", "notebook_glob", "deploy_metric", "deploy_threshold", "runner_resources"])
      expect(html).toContain(`name="${field}"`);
    expect(rowOf(html, 1)).toMatch(
      /<form class="resources-form" hx-post="\/repos\/1\/resources" hx-target="#repo-section" hx-swap="outerHTML" hx-status:4xx="target:#repo-error swap:innerHTML"/,
    );
  });

  test("each row shows its runner resources (Ray) in a form prefilled with them; the forms hint at the shape", async () => {
    const t = makeReposApp();
    const iris = t.repos.create({ full_name: "acme/iris", runner_resources: { num_gpus: 1, resources: { trainer: 1 } } });
    const churn = t.repos.create({ full_name: "acme/churn" });
    const html = await (await t.app.request("/repos", { headers: browser })).text();
    const shown = "{&quot;num_gpus&quot;:1,&quot;resources&quot;:{&quot;trainer&quot;:1}}";
    expect(rowOf(html, iris.id)).toContain(`<summary><code>${shown}</code></summary>`);
    expect(rowOf(html, iris.id)).toMatch(new RegExp(`<textarea name="runner_resources"[^>]*>${shown}</textarea>`));
    expect(rowOf(html, churn.id)).toContain('<summary><span class="muted">none</span></summary>');
    expect(rowOf(html, churn.id)).toMatch(/<textarea name="runner_resources"[^>]*><\/textarea>/);
    const example = "{&quot;num_cpus&quot;: 1, &quot;num_gpus&quot;: 0, &quot;memory_mb&quot;: 2048, &quot;resources&quot;: {&quot;trainer&quot;: 1}}";
    expect(html).toContain(`<textarea name="runner_resources" rows="2" placeholder="${example}"></textarea>`);
    expect(html).toContain(`<code>${example}</code>, every key optional`);
    expect(html).toContain("<code>mlops.resources</code> wins");
  });

  test("Register stores the runner resources given as JSON text", async () => {
    const t = makeReposApp();
    const res = await t.post("/repos", htmx, { ...emptyForm, full_name: "acme/ray", runner_resources: ' {"num_cpus": 2, "resources": {"trainer": 1}} ' });
    expect(res.status).toBe(200);
    expect(rowOf(await res.text(), 1)).toContain("<summary><code>{&quot;num_cpus&quot;:2,&quot;resources&quot;:{&quot;trainer&quot;:1}}</code></summary>");
    expect(t.repos.get(1).runner_resources).toEqual({ num_cpus: 2, resources: { trainer: 1 } });
    // Left empty: none.
    expect((await t.post("/repos", htmx, { ...emptyForm, full_name: "acme/plain", runner_resources: "" })).status).toBe(200);
    expect(t.repos.get(2).runner_resources).toBeNull();
  });

  test("a row's runner resources form changes them, and empty clears them; other repositories are left alone", async () => {
    const t = makeReposApp();
    const iris = t.repos.create({ full_name: "acme/iris", runner_resources: { num_cpus: 1 } });
    const other = t.repos.create({ full_name: "acme/other", runner_resources: { num_gpus: 1 } });
    const changed = await t.post(`/repos/${iris.id}/resources`, htmx, { runner_resources: '{"memory_mb": 4096, "resources": {"trainer": 1}}' });
    expect(changed.status).toBe(200);
    const fragment = await changed.text();
    expect(fragment).toStartWith('<section id="repo-section">');
    expect(rowOf(fragment, iris.id)).toContain("<summary><code>{&quot;memory_mb&quot;:4096,&quot;resources&quot;:{&quot;trainer&quot;:1}}</code></summary>");
    expect(t.repos.get(iris.id).runner_resources).toEqual({ memory_mb: 4096, resources: { trainer: 1 } });

    const cleared = await t.post(`/repos/${iris.id}/resources`, htmx, { runner_resources: "  " });
    expect(cleared.status).toBe(200);
    expect(rowOf(await cleared.text(), iris.id)).toContain('<summary><span class="muted">none</span></summary>');
    expect(t.repos.get(iris.id).runner_resources).toBeNull();
    expect(t.repos.get(other.id).runner_resources).toEqual({ num_gpus: 1 });
  });

  test("a bad value in a row's runner resources form shows the error in the box and changes nothing", async () => {
    const t = makeReposApp();
    const iris = t.repos.create({ full_name: "acme/iris", runner_resources: { num_cpus: 1 } });
    const before = t.state();
    for (const [text, status, message] of [
      ['{"num_gpus": -1}', 422, "runner_resources.num_gpus: "],
      ['{"memory_mb": 1.5}', 422, "runner_resources.memory_mb: "],
      ['{"resources": {"trainer": "one"}}', 422, "runner_resources.resources.trainer: "],
      ['{"cpus": 2}', 422, "unknown key cpus"],
      ["num_cpus=2", 422, "runner_resources: must be a JSON object such as"],
      ["[1, 2]", 422, "runner_resources: must be a JSON object such as"],
    ] as const) {
      const res = await t.post(`/repos/${iris.id}/resources`, htmx, { runner_resources: text });
      expect(res.status).toBe(status);
      const body = await res.text();
      const shown = body.match(/^<p class="error" role="alert">(.*)<\/p>$/s)?.[1] ?? `not an error fragment: ${body}`;
      expect(shown).toContain(message);
      expect(t.state()).toEqual(before);
    }
    const unknown = await t.post("/repos/99/resources", htmx, { runner_resources: "{}" });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('<p class="error" role="alert">repository 99 does not exist</p>');
    expect(t.state()).toEqual(before);
  });

  test("Run now on a real git repository queues a pipeline per tagged notebook of the branch head and redirects", async () => {
    const t = makeReposApp();
    const one = makeRepo({ "train.ipynb": tagged, "notes.ipynb": untagged });
    const two = makeRepo({ "a.ipynb": tagged, "b.ipynb": tagged });
    const single = t.repos.create({ full_name: "acme/one", clone_url: one.dir });
    const double = t.repos.create({ full_name: "acme/two", clone_url: two.dir });

    const res = await t.post(`/repos/${single.id}/run`, htmx);
    expect(res.status).toBe(204);
    const [created] = t.pipelines();
    expect(res.headers.get("HX-Redirect")).toBe(`/pipelines/${created!.id}`);
    expect(t.pipelines()).toEqual([{ id: created!.id, repo_id: single.id, trigger: "manual", commit_sha: one.sha, notebook_path: "train.ipynb" }]);

    const both = await t.post(`/repos/${double.id}/run`, htmx);
    expect(both.status).toBe(204);
    expect(both.headers.get("HX-Redirect")).toBe("/pipelines");
    expect(
      t
        .pipelines()
        .filter((p) => p.repo_id === double.id)
        .map((p) => [p.notebook_path, p.commit_sha, p.trigger]),
    ).toEqual([
      ["a.ipynb", two.sha, "manual"],
      ["b.ipynb", two.sha, "manual"],
    ]);
    // The list now shows each repository's newest pipeline, queued.
    const html = await (await t.app.request("/repos", { headers: browser })).text();
    expect(rowOf(html, single.id)).toContain(`<a href="/pipelines/${created!.id}">#${created!.id}</a> <span class="status status-queued">queued</span>`);
  });

  test("Run now with nothing tagged answers a notice in the box and queues nothing", async () => {
    const t = makeReposApp();
    const plain = makeRepo({ "notes.ipynb": untagged });
    const repo = t.repos.create({ full_name: "acme/plain", clone_url: plain.dir });
    const res = await t.post(`/repos/${repo.id}/run`, htmx);
    expect(res.status).toBe(200);
    expect(res.headers.get("HX-Redirect")).toBeNull();
    expect(await res.text()).toBe(
      '<p class="notice" role="status">No pipeline started for acme/plain: 1 notebook(s) on main match <code>**/*.ipynb</code> but have no mlops:* cell tags.</p>',
    );
    expect(t.pipelines()).toEqual([]);
  });

  test("Run now's git failures are typed: a missing branch is a 422 fragment, an unreachable remote a 503; nothing is queued", async () => {
    const t = makeReposApp();
    const { dir } = makeRepo({ "train.ipynb": tagged });
    const noBranch = t.repos.create({ full_name: "acme/nobranch", clone_url: dir, branch: "nope" });
    const unreachable = t.repos.create({ full_name: "acme/down", clone_url: "http://127.0.0.1:1/acme/down.git" });
    const before = t.state();

    const missing = await t.post(`/repos/${noBranch.id}/run`, htmx);
    expect(missing.status).toBe(422);
    expect(await missing.text()).toBe(`<p class="error" role="alert">branch nope does not exist in ${dir}</p>`);
    const down = await t.post(`/repos/${unreachable.id}/run`, htmx);
    expect(down.status).toBe(503);
    expect(await down.text()).toMatch(/^<p class="error" role="alert">could not reach acme\/down: .*try again later<\/p>$/);
    const unknown = await t.post("/repos/99/run", htmx);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toBe('<p class="error" role="alert">repository 99 does not exist</p>');
    expect(t.state()).toEqual(before);
  }, 30_000);

  test("Remove unregisters the repository, keeps its pipelines (repository shown as removed) and answers the refreshed list", async () => {
    const t = makeReposApp();
    const iris = t.repos.create({ full_name: "acme/iris" });
    const churn = t.repos.create({ full_name: "acme/churn" });
    const kept = [t.addPipeline(iris.id, "succeeded"), t.addPipeline(iris.id)];
    const res = await t.post(`/repos/${iris.id}/delete`, htmx);
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toStartWith('<section id="repo-section">');
    expect(fragment).not.toContain("acme/iris");
    expect(rowOf(fragment, churn.id)).toContain("acme/churn");
    expect(t.repos.list().map((r) => r.full_name)).toEqual(["acme/churn"]);
    expect(t.pipelines().map((p) => [p.id, p.repo_id])).toEqual(kept.map((id) => [id, null]));
    const page = await (await t.app.request(`/pipelines/${kept[0]}`, { headers: browser })).text();
    expect(page).toContain('<span class="muted">removed</span>');

    const before = t.state();
    const again = await t.post(`/repos/${iris.id}/delete`, htmx);
    expect(again.status).toBe(404);
    expect(await again.text()).toBe(`<p class="error" role="alert">repository ${iris.id} does not exist</p>`);
    expect(t.state()).toEqual(before);
  });

  test("repository names and URLs are text, never markup, in the list and the confirm prompt", async () => {
    const t = makeReposApp();
    // Stored directly: the form and the API refuse such names, but the page must not trust the database either.
    const evil = t.repos.create({ full_name: "<script>alert(1)</script>", clone_url: '"><img src=x onerror="boom()">', notebook_glob: "<b>*.ipynb</b>" });
    const html = await (await t.app.request("/repos", { headers: browser })).text();
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<b>*");
    const row = rowOf(html, evil.id);
    expect(row).toContain('<td class="repo-name">&lt;script&gt;alert(1)&lt;/script&gt;</td>');
    expect(row).toContain("<code>&quot;&gt;&lt;img src=x onerror=&quot;boom()&quot;&gt;</code>");
    expect(row).toContain('hx-confirm="Remove &lt;script&gt;alert(1)&lt;/script&gt;?');

    const refused = await t.post("/repos", htmx, { full_name: "<script>alert(2)</script>" });
    expect(refused.status).toBe(400);
    expect(await refused.text()).not.toContain("<script>");
  });

  test("without a session GET goes to /login and actions are 401; a signed-in action without HX-Request is 403; nothing changes", async () => {
    const t = makeReposApp();
    const { dir } = makeRepo({ "train.ipynb": tagged });
    const repo = t.repos.create({ full_name: "acme/iris", clone_url: dir });
    t.addPipeline(repo.id);
    const before = t.state();

    const page = await t.app.request("/repos", { headers: { Accept: "text/html" } });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/login?next=%2Frepos");
    const actions: [string, Record<string, string> | undefined][] = [
      ["/repos", { full_name: "acme/new" }],
      [`/repos/${repo.id}/run`, undefined],
      [`/repos/${repo.id}/delete`, undefined],
      [`/repos/${repo.id}/resources`, { runner_resources: '{"num_cpus": 8}' }],
      // Invalid input is refused for the session first, not validated.
      ["/repos", { full_name: "not a name" }],
    ];
    for (const [path, form] of actions) {
      expect((await t.post(path, { "HX-Request": "true" }, form)).status).toBe(401);
      expect((await t.post(path, { ...FOREIGN_SESSION, "HX-Request": "true" }, form)).status).toBe(401);
      const forged = await t.post(path, signedIn, form);
      expect(forged.status).toBe(403);
      expect(t.state()).toEqual(before);
    }
  });
});
