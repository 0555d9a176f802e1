import { describe, expect, test } from "bun:test";
import { describeFailedCell } from "../runner/notebook-errors.ts";
import { JobKind, type PipelineService, type RepoSource } from "../pipeline/pipeline-service.ts";
import type { NewPipeline } from "../pipeline/pipeline-store.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { makeTestApp, TEST_ADMIN_TOKEN, testPipelineService, SIGNED_IN } from "../testing/test-app.ts";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";

const signedIn = SIGNED_IN;
const htmx = { ...signedIn, "HX-Request": "true" };
const browser = { ...signedIn, Accept: "text/html" };

/** A test app whose page actions are the real PipelineService (real job queue on the same SQLite file). */
function makePagesApp() {
  let service: PipelineService | undefined;
  const t = makeTestApp({}, { pipelineActions: { cancel: (id) => service!.cancel(id), retry: (id) => service!.retry(id) } });
  const { deps, db } = t;
  const notUsed = () => Promise.reject(new Error("cancel and retry do no git work"));
  const source: RepoSource = {
    fetch: notUsed,
    fetchBranchHead: notUsed,
    isAncestor: notUsed,
    changedFiles: notUsed,
    listFiles: notUsed,
    readFile: notUsed,
    resolve: notUsed,
  };
  const built = testPipelineService(t, { source });
  service = built.service;
  const { jobs } = built;
  const repo = new RepoStore(db).create({ full_name: "acme/iris" });
  const create = (p: Partial<NewPipeline> = {}) =>
    deps.pipelineStore.create({
      repoId: repo.id,
      trigger: "push",
      ref: "refs/heads/main",
      commitSha: "0123456789abcdef0123456789abcdef01234567",
      notebookPath: "train.ipynb",
      ...p,
    });
  return { ...t, jobs, create };
}

/** The htmx partial that appends `html` to the element `id` of the page's log. */
const into = (id: string, html: string) => `<hx-partial hx-target="#${id}" hx-swap="beforeend">${html}</hx-partial>`;

type SseEvent = { id?: string; event: string; data: string };

/** Reads Server-Sent Events one at a time; `next()` is undefined once the stream ended. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(): Promise<SseEvent | undefined> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(":")) continue; // ping
          const e: SseEvent = { event: "message", data: "" };
          const data: string[] = [];
          for (const line of block.split("\n")) {
            const [field, ...rest] = line.split(":");
            const value = rest.join(":").replace(/^ /, "");
            if (field === "id") e.id = value;
            else if (field === "event") e.event = value;
            else if (field === "data") data.push(value);
          }
          e.data = data.join("\n");
          return e;
        }
        const chunk = await reader.read();
        if (chunk.done) return undefined;
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    async rest(): Promise<SseEvent[]> {
      const all: SseEvent[] = [];
      for (let e = await this.next(); e; e = await this.next()) all.push(e);
      return all;
    },
  };
}

describe("pipeline list", () => {
  test("lists pipelines newest first with their facts, and filters by status and model", async () => {
    const { app, deps, create } = makePagesApp();
    const store = deps.pipelineStore;
    const a = create({ modelName: "iris", notebookPath: "iris/<train>.ipynb" });
    store.markRunning(a.id);
    store.finish(a.id, "failed", failure("execute", FailureKind.notebook_error, "boom"));
    const b = create({ modelName: "wine", trigger: "manual" });
    store.markRunning(b.id);
    store.finish(b.id, "succeeded");
    const c = create({ modelName: "iris" });

    const res = await app.request("/pipelines", { headers: browser });
    expect(res.status).toBe(200);
    const html = await res.text();
    const ids = [...html.matchAll(/<a href="\/pipelines\/(\d+)">/g)].map((m) => Number(m[1]));
    expect(ids).toEqual([c.id, b.id, a.id]);
    expect(html).toContain('<span class="status status-failed">failed</span>');
    expect(html).toContain('<span class="status status-queued">queued</span>');
    expect(html).toContain("<code>iris/&lt;train&gt;.ipynb</code>"); // escaped, never markup
    expect(html).toContain('<code title="0123456789abcdef0123456789abcdef01234567">0123456</code>');
    expect(html).toContain("<td>manual</td>");
    expect(html).toContain(">acme/iris</span>"); // the repository by its full name

    const failed = await (await app.request("/pipelines?status=failed&model=", { headers: browser })).text();
    expect([...failed.matchAll(/<a href="\/pipelines\/(\d+)">/g)].map((m) => Number(m[1]))).toEqual([a.id]);
    expect(failed).toContain('<option value="failed" selected="">failed</option>');

    const iris = await (await app.request("/pipelines?status=&model=iris", { headers: browser })).text();
    expect([...iris.matchAll(/<a href="\/pipelines\/(\d+)">/g)].map((m) => Number(m[1]))).toEqual([c.id, a.id]);
    expect(iris).toContain('name="model" value="iris"');

    const none = await (await app.request("/pipelines?model=nope", { headers: browser })).text();
    expect(none).toContain("No pipelines match.");

    const bad = await app.request("/pipelines?status=exploded", { headers: browser });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("<h2>Error 400</h2>");
  });

  test("the rows fragment polls (with the same filters) only while a listed pipeline is queued or running", async () => {
    const { app, deps, create } = makePagesApp();
    const store = deps.pipelineStore;
    const done = create({ modelName: "iris" });
    store.finish(done.id, "failed", failure("execute", FailureKind.notebook_error, "boom"));
    const live = create({ modelName: "iris" });
    store.markRunning(live.id);

    const page = await (await app.request("/pipelines?model=iris", { headers: browser })).text();
    expect(page).toContain('<tbody id="pipeline-rows" hx-get="/pipelines/rows?model=iris" hx-trigger="every 2s" hx-swap="outerHTML">');

    const rows = await app.request("/pipelines/rows?model=iris", { headers: htmx });
    expect(rows.status).toBe(200);
    const fragment = await rows.text();
    expect(fragment.startsWith('<tbody id="pipeline-rows" hx-get="/pipelines/rows?model=iris" hx-trigger="every 2s"')).toBe(true);
    expect(fragment).not.toContain("<html");
    expect(fragment).toContain(`<a href="/pipelines/${live.id}">`);

    // Only what is listed counts: the failed filter shows nothing active.
    expect(await (await app.request("/pipelines/rows?status=failed", { headers: htmx })).text()).toStartWith('<tbody id="pipeline-rows">');

    store.finish(live.id, "succeeded");
    const after = await (await app.request("/pipelines/rows?model=iris", { headers: htmx })).text();
    expect(after).toStartWith('<tbody id="pipeline-rows">');
    expect(after).not.toContain("hx-trigger");
    expect(after).toContain('<span class="status status-succeeded">succeeded</span>');
  });
});

describe("pipeline page", () => {
  test("a failed pipeline shows phases, the error, the failed cell, metrics, its retry origin, Retry and the live log", async () => {
    const { app, deps, create } = makePagesApp();
    const store = deps.pipelineStore;
    const first = create({ modelName: "iris" });
    store.finish(first.id, "failed", failure("execute", FailureKind.interrupted, "interrupted"));
    const p = create({ modelName: "iris", trigger: "retry", retryOf: first.id });
    store.markRunning(p.id);
    for (const phase of ["download", "validate"] as const) {
      store.setPhase(p.id, phase, "running");
      store.setPhase(p.id, phase, "succeeded");
    }
    store.setPhase(p.id, "execute", "running");
    store.update(p.id, { metrics: JSON.stringify({ accuracy: 0.9666666666666667 }) });
    const reason = describeFailedCell({
      index: 2,
      executionCount: 3,
      tags: ["mlops:training"],
      source: "fit()",
      ename: "ValueError",
      evalue: "bad <labels>",
      traceback: "",
    });
    store.setPhase(p.id, "execute", "failed", reason);
    store.finish(
      p.id,
      "failed",
      failure("execute", FailureKind.notebook_error, reason, { index: 2, tags: ["mlops:training"], exception: "ValueError: bad <labels>" }),
    );

    const res = await app.request(`/pipelines/${p.id}`, { headers: browser });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<span id="status" class="status status-failed">failed</span>');
    expect(html).toContain(`<button id="retry" hx-post="/pipelines/${p.id}/retry"`);
    expect(html).not.toContain('id="cancel"');
    expect(html).toContain(`of <a href="/pipelines/${first.id}">pipeline ${first.id}</a>`);
    expect(html).toContain('<p id="error" class="error" role="alert">cell 3 of the notebook [mlops:training] raised ValueError: bad &lt;labels&gt;</p>');
    expect(html).toContain("Cell <strong>3</strong> of the notebook, tagged <code>mlops:training</code> raised:</p><pre>ValueError: bad &lt;labels&gt;</pre>");
    for (const [phase, status] of [
      ["download", "succeeded"],
      ["validate", "succeeded"],
      ["execute", "failed"],
      ["register", "skipped"],
      ["deploy", "skipped"],
    ]) {
      expect(html).toContain(`<td>${phase}</td><td><span class="status status-${status}">${status}</span>`);
    }
    expect(html).toContain('<td class="error">cell 3 of the notebook');
    expect(html).toContain('<th>accuracy</th><td title="0.9666666666666667">0.9667</td>');
    expect(html).toContain("This pipeline registered no model version.");
    // No stored lines: the live stream starts from the beginning.
    expect(html).toContain(
      `<div id="log" class="log cell-log" hx-sse:connect="/pipelines/${p.id}/log-stream?after=0" hx-sse:close="done" hx-swap="beforeend"></div>`,
    );
    expect(html).toContain('<section id="summary">'); // ended: no polling
  });

  test("a running pipeline offers Cancel and polls its summary; a succeeded one links its model version", async () => {
    const { app, deps, create } = makePagesApp();
    const store = deps.pipelineStore;
    const p = create({ modelName: "iris" });
    store.markRunning(p.id);
    store.setPhase(p.id, "download", "running");

    const running = await (await app.request(`/pipelines/${p.id}`, { headers: browser })).text();
    expect(running).toContain(`<section id="summary" hx-get="/pipelines/${p.id}/summary" hx-trigger="every 2s" hx-swap="outerHTML">`);
    expect(running).toContain(`<button id="cancel" class="danger" hx-post="/pipelines/${p.id}/cancel" hx-target="#summary" hx-swap="outerHTML"`);
    expect(running).not.toContain('id="retry"');
    expect(running).toContain('<span class="status status-running">running</span>');

    const fragment = await (await app.request(`/pipelines/${p.id}/summary`, { headers: htmx })).text();
    expect(fragment).toStartWith(`<section id="summary" hx-get="/pipelines/${p.id}/summary" hx-trigger="every 2s"`);
    expect(fragment).not.toContain("<html");

    store.update(p.id, { modelName: "iris & co", modelVersion: 4 });
    store.finish(p.id, "succeeded");
    const ended = await (await app.request(`/pipelines/${p.id}/summary`, { headers: htmx })).text();
    expect(ended).toStartWith('<section id="summary">');
    expect(ended).toContain('<p id="model-version"><a href="/models/iris%20%26%20co">iris &amp; co version 4</a></p>');
    expect(ended).not.toContain('id="failed-cell"');
  });

  test("an unknown pipeline is a 404 page for a browser and a 404 fragment for htmx", async () => {
    const { app } = makePagesApp();
    const page = await app.request("/pipelines/999", { headers: browser });
    expect(page.status).toBe(404);
    const html = await page.text();
    expect(html).toContain("<h2>Error 404</h2>");
    expect(html).toContain("pipeline 999 does not exist");
    const fragment = await app.request("/pipelines/999/summary", { headers: htmx });
    expect(fragment.status).toBe(404);
    expect(await fragment.text()).toBe('<p class="error" role="alert">pipeline 999 does not exist</p>');
    expect((await app.request("/pipelines/999/log-stream", { headers: browser })).status).toBe(404);
    expect((await app.request("/pipelines/abc", { headers: browser })).status).toBe(400);
  });
});

describe("page actions", () => {
  test("Cancel through the page ends a queued pipeline and answers with the refreshed summary", async () => {
    const { app, deps, create } = makePagesApp();
    const p = create();
    const res = await app.request(`/pipelines/${p.id}/cancel`, { method: "POST", headers: htmx });
    expect(res.status).toBe(200);
    expect(deps.pipelineStore.get(p.id)).toMatchObject({ status: "cancelled", error: "cancelled before it started" });
    const fragment = await res.text();
    expect(fragment).toStartWith('<section id="summary">');
    expect(fragment).toContain('<span id="status" class="status status-cancelled">cancelled</span>');
    expect(fragment).toContain('id="retry"');

    // Again: it already ended, a 409 fragment for the #action-error box.
    const again = await app.request(`/pipelines/${p.id}/cancel`, { method: "POST", headers: htmx });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain(`<p class="error" role="alert">pipeline ${p.id} already ended (cancelled)</p>`);
  });

  test("Retry through the page queues a new pipeline with a job and redirects to its page", async () => {
    const { app, deps, jobs, create } = makePagesApp();
    const p = create({ modelName: "iris" });
    deps.pipelineStore.finish(p.id, "failed", failure("execute", FailureKind.notebook_error, "boom"));
    const res = await app.request(`/pipelines/${p.id}/retry`, { method: "POST", headers: htmx });
    expect(res.status).toBe(204);
    const [newest] = deps.pipelineStore.list();
    expect(newest).toMatchObject({ status: "queued", trigger: "retry", retryOf: p.id, notebookPath: p.notebookPath, commitSha: p.commitSha });
    expect(res.headers.get("HX-Redirect")).toBe(`/pipelines/${newest!.id}`);
    expect(jobs.findByPayload(JobKind.pipeline, "$.pipelineId", newest!.id)?.state).toBe("queued");

    // Retrying one that still runs is refused.
    const busy = await app.request(`/pipelines/${newest!.id}/retry`, { method: "POST", headers: htmx });
    expect(busy.status).toBe(409);
    expect(deps.pipelineStore.list()).toHaveLength(2);
  });

  test("pages need a session, and page actions need htmx; refused requests change nothing", async () => {
    const { app, deps, create } = makePagesApp();
    const queued = create();
    const ended = create();
    deps.pipelineStore.finish(ended.id, "failed", failure("execute", FailureKind.notebook_error, "boom"));
    const scenarios: { method: string; path: string; headers: Record<string, string>; status: number; location?: string }[] = [
      { method: "GET", path: "/pipelines?status=failed", headers: {}, status: 303, location: "/login?next=%2Fpipelines%3Fstatus%3Dfailed" },
      { method: "GET", path: "/pipelines/rows", headers: {}, status: 303, location: "/login?next=%2Fpipelines%2Frows" },
      { method: "GET", path: `/pipelines/${queued.id}`, headers: {}, status: 303, location: `/login?next=%2Fpipelines%2F${queued.id}` },
      { method: "GET", path: `/pipelines/${queued.id}/summary`, headers: {}, status: 303 },
      { method: "GET", path: `/pipelines/${queued.id}/log-stream`, headers: {}, status: 303 },
      { method: "POST", path: `/pipelines/${queued.id}/cancel`, headers: { "HX-Request": "true" }, status: 401 },
      { method: "POST", path: `/pipelines/${ended.id}/retry`, headers: { "HX-Request": "true" }, status: 401 },
      { method: "POST", path: `/pipelines/${queued.id}/cancel`, headers: signedIn, status: 403 },
      { method: "POST", path: `/pipelines/${ended.id}/retry`, headers: signedIn, status: 403 },
      // an API token is not a page session
      { method: "POST", path: `/pipelines/${queued.id}/cancel`, headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "HX-Request": "true" }, status: 401 },
    ];
    for (const s of scenarios) {
      const res = await app.request(s.path, { method: s.method, headers: s.headers });
      expect([s.method, s.path, res.status]).toEqual([s.method, s.path, s.status]);
      if (s.location) expect(res.headers.get("location")).toBe(s.location);
    }
    expect(deps.pipelineStore.get(queued.id).status).toBe("queued");
    expect(deps.pipelineStore.list().map((p) => p.id)).toEqual([ended.id, queued.id]);
  });
});

describe("live log stream", () => {
  test("replays stored lines as escaped <li> with ids (lines outside cells: one list, then appended to it), sends live lines, and ends with done", async () => {
    const { app, deps, create } = makePagesApp();
    const p = create();
    deps.pipelineStore.markRunning(p.id);
    deps.bus.append(p.id, "mlops", "download started");
    deps.bus.append(p.id, "stdout", "epoch 1 & 2");

    const res = await app.request(`/pipelines/${p.id}/log-stream`, { headers: signedIn });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = sseReader(res);
    expect(await events.next()).toEqual({
      id: "1",
      event: "message",
      data: '<ol class="log-lines" id="log-g1"><li class="mlops" data-seq="1">download started</li></ol>',
    });
    expect(await events.next()).toEqual({ id: "2", event: "message", data: into("log-g1", '<li class="stdout" data-seq="2">epoch 1 &amp; 2</li>') });

    // Live: a status change is not sent (the summary polls), a line with markup arrives escaped.
    deps.bus.status(p.id, "running", "execute", "running");
    deps.bus.append(p.id, "stderr", '<script>alert("x")</script>');
    expect(await events.next()).toEqual({
      id: "3",
      event: "message",
      data: into("log-g1", '<li class="stderr" data-seq="3">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</li>'),
    });
    deps.pipelineStore.finish(p.id, "succeeded");
    deps.bus.done(p.id, "succeeded");
    expect(await events.rest()).toEqual([{ event: "done", data: "succeeded" }]);
  });

  test("an ended pipeline's stream replays after Last-Event-ID and ends with done at once", async () => {
    const { app, deps, create } = makePagesApp();
    const p = create();
    for (const line of ["one", "two", "three"]) deps.bus.append(p.id, "stdout", line);
    deps.pipelineStore.finish(p.id, "failed", failure("execute", FailureKind.notebook_error, "boom"));

    const resumed = await app.request(`/pipelines/${p.id}/log-stream`, { headers: { ...signedIn, "Last-Event-ID": "1" } });
    expect(await sseReader(resumed).rest()).toEqual([
      // Resumed where the page left off: line 1 opened the group, these go into it.
      { id: "2", event: "message", data: into("log-g1", '<li class="stdout" data-seq="2">two</li>') },
      { id: "3", event: "message", data: into("log-g1", '<li class="stdout" data-seq="3">three</li>') },
      { event: "done", data: "failed" },
    ]);
    const caughtUp = await app.request(`/pipelines/${p.id}/log-stream`, { headers: { ...signedIn, "Last-Event-ID": "3" } });
    expect(await sseReader(caughtUp).rest()).toEqual([{ event: "done", data: "failed" }]);
  });
});
