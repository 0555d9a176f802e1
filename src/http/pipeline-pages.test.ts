import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeCellOutline } from "../notebooks/cell-outline-file.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";
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

describe("log grouped by cell", () => {
  // Exactly as papermill prints them.
  const executing = (n: number) => `Executing Cell ${String(n).padEnd(40, "-")}`;
  const ending = (n: number) => `Ending Cell ${String(n).padEnd(43, "-")}`;

  /** A pipeline whose validate phase kept this outline: config, parameters (the injected cell follows), training. */
  function withOutline(t: ReturnType<typeof makePagesApp>) {
    const p = t.create({ modelName: "iris" });
    t.deps.pipelineStore.markRunning(p.id);
    const workDir = pipelineDir(t.deps.config.dataDir, p.id);
    mkdirSync(workDir, { recursive: true });
    writeCellOutline(workDir, { cells: [{ tags: ["mlops:config"] }, { tags: ["parameters"] }, { tags: ["mlops:training", "slow"] }] });
    return p;
  }

  test("the page shows stored lines grouped: cells numbered as pushed with tags and duration, markers not shown, the failed cell open and highlighted", async () => {
    const t = makePagesApp();
    const { app, deps } = t;
    const store = deps.pipelineStore;
    const p = withOutline(t);
    const lines: [string, string][] = [
      ["mlops", "download: checked out 0123456"],
      ["stderr", executing(1)],
      ["stderr", "config <ok>"],
      ["stderr", ending(1)],
      ["stderr", executing(2)],
      ["stderr", ending(2)],
      ["stderr", executing(3)],
      ["stderr", ending(3)],
      ["stderr", executing(4)],
      ["stdout", "epoch 1"],
      ["stderr", ending(4)],
      ["stderr", "PapermillExecutionError"],
      ["mlops", "notebook finished: failed in 3.0 s"],
    ];
    // Stored with known times: the training cell took 2.5 s.
    store.appendLogs(
      p.id,
      lines.map(([stream, line], i) => ({ seq: i + 1, stream, line, at: i === 8 ? 10_000 : i === 10 ? 12_500 : 1_000 * i })),
    );
    store.finish(
      p.id,
      "failed",
      failure("execute", FailureKind.notebook_error, "cell 3 raised ValueError: no", {
        index: 2,
        tags: ["mlops:training", "slow"],
        exception: "ValueError: no",
      }),
    );

    const html = await (await app.request(`/pipelines/${p.id}`, { headers: browser })).text();
    const log = html.slice(html.indexOf('<div id="log"'), html.indexOf("</div>", html.lastIndexOf("</details>")) + 6);
    expect(log).toStartWith(
      `<div id="log" class="log cell-log" hx-sse:connect="/pipelines/${p.id}/log-stream?after=13" hx-sse:close="done" hx-swap="beforeend">`,
    );
    // Lines before the first cell, as they are.
    expect(log).toContain('<ol class="log-lines" id="log-g1"><li class="mlops" data-seq="1">download: checked out 0123456</li></ol>');
    // Ended cells fold away; their heading: number, tags, duration.
    expect(log).toContain(
      '<details id="log-g2" class="cell-group"><summary id="log-g2-head" class="cell-head"><span class="cell-name">Cell 1</span><code class="cell-tag">mlops:config</code><span class="cell-duration">2.0 s</span></summary><ol class="log-lines" id="log-g2-lines"><li class="stderr" data-seq="3">config &lt;ok&gt;</li></ol></details>',
    );
    expect(log).toContain('<span class="cell-name">Cell 2</span><code class="cell-tag">parameters</code>');
    expect(log).toContain(
      '<summary id="log-g7-head" class="cell-head"><span class="cell-name">injected parameters</span><span class="cell-duration">1.0 s</span>',
    );
    // The cell that raised: open, highlighted, its output inside.
    expect(log).toContain(
      '<details id="log-g9" class="cell-group cell-failed" open=""><summary id="log-g9-head" class="cell-head"><span class="cell-name">Cell 3</span><code class="cell-tag">mlops:training</code><code class="cell-tag">slow</code><span class="cell-duration">2.5 s</span><span class="cell-raised">raised</span></summary><ol class="log-lines" id="log-g9-lines"><li class="stdout" data-seq="10">epoch 1</li></ol></details>',
    );
    // After the last cell, as they are.
    expect(log).toContain(
      '<ol class="log-lines" id="log-g12"><li class="stderr" data-seq="12">PapermillExecutionError</li><li class="mlops" data-seq="13">notebook finished: failed in 3.0 s</li></ol>',
    );
    expect(log).not.toContain("Executing Cell");
    expect(log).not.toContain("Ending Cell");
    expect([...log.matchAll(/<details /g)]).toHaveLength(4);
    expect([...log.matchAll(/<li /g)]).toHaveLength(lines.length - 8);

    // The stream after the page: nothing to replay, the page already shows the end.
    const rest = await sseReader(await app.request(`/pipelines/${p.id}/log-stream?after=13`, { headers: signedIn })).rest();
    expect(rest).toEqual([{ event: "done", data: "failed" }]);
  });

  test("the live stream opens a group per cell, fills it, puts the duration in its heading, then reopens the cell that raised", async () => {
    const t = makePagesApp();
    const { app, deps } = t;
    const p = withOutline(t);
    deps.bus.append(p.id, "mlops", "notebook contract ok");
    deps.bus.append(p.id, "stderr", executing(1));
    deps.bus.append(p.id, "stderr", "config loaded");

    // The page was rendered with lines 1-3 (the first cell running, open); its stream resumes after them.
    const page = await (await app.request(`/pipelines/${p.id}`, { headers: browser })).text();
    expect(page).toContain(`hx-sse:connect="/pipelines/${p.id}/log-stream?after=3"`);
    expect(page).toContain(
      '<details id="log-g2" class="cell-group" open=""><summary id="log-g2-head" class="cell-head"><span class="cell-name">Cell 1</span><code class="cell-tag">mlops:config</code><span class="cell-duration">running</span></summary><ol class="log-lines" id="log-g2-lines"><li class="stderr" data-seq="3">config loaded</li></ol></details>',
    );
    const events = sseReader(await app.request(`/pipelines/${p.id}/log-stream?after=3`, { headers: signedIn }));

    deps.bus.append(p.id, "stderr", "more config");
    expect(await events.next()).toEqual({ id: "4", event: "message", data: into("log-g2-lines", '<li class="stderr" data-seq="4">more config</li>') });
    deps.bus.append(p.id, "stderr", ending(1));
    const end = await events.next();
    expect(end?.data).toMatch(
      /^<hx-partial hx-target="#log-g2-head" hx-swap="outerHTML"><summary id="log-g2-head" class="cell-head"><span class="cell-name">Cell 1<\/span><code class="cell-tag">mlops:config<\/code><span class="cell-duration">\d+ ms<\/span><\/summary><\/hx-partial>$/,
    );
    for (const n of [2, 3, 4]) {
      deps.bus.append(p.id, "stderr", executing(n));
      const start = await events.next();
      expect(start?.data).toStartWith(`<details id="log-g${start?.id}" class="cell-group" open=""><summary id="log-g${start?.id}-head"`);
      if (n !== 4) {
        deps.bus.append(p.id, "stderr", ending(n));
        await events.next();
      }
    }
    // Papermill's 4th cell is the pushed notebook's 3rd, the one tagged mlops:training.
    deps.bus.append(p.id, "stdout", "fitting");
    const fitting = await events.next();
    expect(fitting?.data).toBe(into(`log-g${Number(fitting!.id) - 1}-lines`, `<li class="stdout" data-seq="${fitting!.id}">fitting</li>`));
    deps.bus.append(p.id, "stderr", ending(4));
    await events.next();
    deps.bus.append(p.id, "stderr", "ValueError: no");
    const after = await events.next();
    expect(after?.data).toBe(`<ol class="log-lines" id="log-g${after!.id}"><li class="stderr" data-seq="${after!.id}">ValueError: no</li></ol>`);

    deps.pipelineStore.finish(
      p.id,
      "failed",
      failure("execute", FailureKind.notebook_error, "cell 3 raised ValueError: no", { index: 2, tags: ["mlops:training"], exception: "ValueError: no" }),
    );
    deps.bus.done(p.id, "failed");
    const [reopened, done] = await events.rest();
    const key = Number(fitting!.id) - 1;
    expect(reopened?.data).toStartWith(
      `<hx-partial hx-target="#log-g${key}" hx-swap="outerHTML"><details id="log-g${key}" class="cell-group cell-failed" open=""><summary id="log-g${key}-head" class="cell-head"><span class="cell-name">Cell 3</span><code class="cell-tag">mlops:training</code><code class="cell-tag">slow</code>`,
    );
    expect(reopened?.data).toEndWith(
      `<ol class="log-lines" id="log-g${key}-lines"><li class="stdout" data-seq="${fitting!.id}">fitting</li></ol></details></hx-partial>`,
    );
    expect(done).toEqual({ event: "done", data: "failed" });
  });

  test("a cell the run never ended says so; without the notebook's outline, cells keep papermill's count", async () => {
    const t = makePagesApp();
    const { app, deps } = t;
    const p = t.create();
    deps.pipelineStore.markRunning(p.id);
    deps.bus.append(p.id, "stderr", executing(2));
    deps.bus.append(p.id, "stdout", "sleeping");
    const events = sseReader(await app.request(`/pipelines/${p.id}/log-stream?after=2`, { headers: signedIn }));
    deps.bus.append(p.id, "mlops", "notebook finished: timed_out in 60.0 s");
    expect((await events.next())?.data).toBe(
      '<hx-partial hx-target="#log-g1-head" hx-swap="outerHTML"><summary id="log-g1-head" class="cell-head"><span class="cell-name">Cell 2 of the executed notebook</span><span class="cell-duration">did not finish</span></summary></hx-partial>' +
        '<ol class="log-lines" id="log-g3"><li class="mlops" data-seq="3">notebook finished: timed_out in 60.0 s</li></ol>',
    );
    deps.pipelineStore.finish(p.id, "timed_out", failure("execute", FailureKind.timeout, "too long"));
    deps.bus.done(p.id, "timed_out");
    expect(await events.rest()).toEqual([{ event: "done", data: "timed_out" }]);
    const html = await (await app.request(`/pipelines/${p.id}`, { headers: browser })).text();
    expect(html).toContain(
      '<details id="log-g1" class="cell-group" open=""><summary id="log-g1-head" class="cell-head"><span class="cell-name">Cell 2 of the executed notebook</span><span class="cell-duration">did not finish</span>',
    );
  });

  test("a corrupt or hostile outline file in the work dir is ignored: cells keep papermill's count", async () => {
    const t = makePagesApp();
    const p = withOutline(t);
    const workDir = pipelineDir(t.deps.config.dataDir, p.id);
    t.deps.bus.append(p.id, "stderr", executing(1));
    for (const content of ["{not json", JSON.stringify({ cells: [{ tags: [42] }] }), JSON.stringify({ cells: "x" })]) {
      writeFileSync(join(workDir, "cell-outline.json"), content);
      const html = await (await t.app.request(`/pipelines/${p.id}`, { headers: browser })).text();
      expect(html).toContain('<span class="cell-name">Cell 1 of the executed notebook</span>');
    }
    rmSync(join(workDir, "cell-outline.json"));
    symlinkSync("/etc/passwd", join(workDir, "cell-outline.json"));
    const html = await (await t.app.request(`/pipelines/${p.id}`, { headers: browser })).text();
    expect(html).toContain('<span class="cell-name">Cell 1 of the executed notebook</span>');
  });

  test("the JSON event stream and GET …/logs keep papermill's lines raw", async () => {
    const t = makePagesApp();
    const { app, deps, auth } = t;
    const p = withOutline(t);
    for (const [stream, line] of [
      ["mlops", "contract ok"],
      ["stderr", executing(1)],
      ["stdout", "hello"],
      ["stderr", ending(1)],
    ])
      deps.bus.append(p.id, stream!, line!);
    deps.pipelineStore.finish(p.id, "succeeded");
    const text = await (await app.request(`/api/pipelines/${p.id}/logs`, { headers: auth })).text();
    expect(text).toBe(`contract ok\n${executing(1)}\nhello\n${ending(1)}\n`);
    const events = await sseReader(await app.request(`/api/pipelines/${p.id}/events`, { headers: auth })).rest();
    expect(events.map((e) => [e.id, e.event, e.event === "log" ? (({ at, ...rest }) => rest)(JSON.parse(e.data)) : e.data])).toEqual([
      ["1", "log", { seq: 1, stream: "mlops", line: "contract ok" }],
      ["2", "log", { seq: 2, stream: "stderr", line: executing(1) }],
      ["3", "log", { seq: 3, stream: "stdout", line: "hello" }],
      ["4", "log", { seq: 4, stream: "stderr", line: ending(1) }],
      [undefined, "done", '{"status":"succeeded"}'],
    ]);
  });
});
