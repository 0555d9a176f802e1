import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, symlinkSync, ftruncateSync, writeFileSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { Retention } from "../pipeline/retention.ts";
import { UploadTokens } from "../pipeline/upload-tokens.ts";
import { RepoStore } from "../repos/repo-store.ts";
import { makeTestApp, SIGNED_IN } from "../testing/test-app.ts";
import { codeCell, everyOutputNotebook, executedNotebook, markdownCell, TINY_PNG, TINY_SVG, writeExecutedNotebook } from "../testing/executed-notebooks.ts";
import { failure, FailureKind } from "../pipeline/pipeline-failure.ts";
import { PAGE_CSP } from "./page-security.ts";

const browser = { ...SIGNED_IN, Accept: "text/html" };

function setup() {
  const t = makeTestApp();
  const repo = new RepoStore(t.db).create({ full_name: "acme/iris" });
  const create = () =>
    t.deps.pipelineStore.create({
      repoId: repo.id,
      trigger: "push",
      ref: "refs/heads/main",
      commitSha: "0123456789abcdef0123456789abcdef01234567",
      notebookPath: "train.ipynb",
    });
  /** A pipeline that ended (failed in execute) with `content` as its executed notebook. */
  const ended = (content?: unknown) => {
    const p = create();
    t.deps.pipelineStore.markRunning(p.id);
    t.deps.pipelineStore.finish(p.id, "failed", failure("execute", FailureKind.notebook_error, "cell 5 raised"));
    const file = content === undefined ? undefined : writeExecutedNotebook(t.deps.config.dataDir, p.id, content);
    return { id: p.id, file };
  };
  const get = (path: string, headers: Record<string, string> = browser) => t.app.request(path, { headers });
  return { ...t, create, ended, get };
}

/** The text of the <article> of a cell, found by its anchor id. */
function article(html: string, id: string): string {
  const start = html.indexOf(`<article id="${id}"`);
  if (start < 0) throw new Error(`no <article id="${id}"> in the page`);
  return html.slice(start, html.indexOf("</article>", start));
}

describe("GET /pipelines/{id}/notebook", () => {
  test("renders every kind of output of an executed notebook, under the strict Content-Security-Policy", async () => {
    const s = setup();
    const { id } = s.ended(everyOutputNotebook());
    const res = await s.get(`/pipelines/${id}/notebook`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(PAGE_CSP);
    for (const part of ["script-src 'self'", "img-src 'self' data:", "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"])
      expect(PAGE_CSP).toContain(part);
    expect(PAGE_CSP).not.toContain("unsafe-inline");
    const html = await res.text();
    // Markdown rendered (sanitized), links kept with rel.
    expect(article(html, "cell-1")).toContain("<h1>Iris training</h1>");
    expect(article(html, "cell-1")).toContain('<a href="https://example.com/docs" rel="noopener noreferrer nofollow">docs</a>');
    // Code: source escaped, tags as badges, execution count, time.
    const training = article(html, "cell-3");
    expect(training).toContain("print(&#39;training&#39;)");
    expect(training).toContain('<span class="badge">mlops:training</span>');
    expect(training).toContain("In [3]");
    expect(training).toContain("2.5 s");
    expect(training).toContain("training\nepoch 1\n");
    expect(training).toContain('class="nb-output nb-stream nb-stderr"');
    // The pandas table, sanitized: its <style> gone, the table kept.
    expect(training).toContain('<table class="dataframe">');
    expect(training).toContain("<td>5.1</td>");
    expect(training).not.toContain("<style");
    // Images: PNG and JPEG as they are, SVG as an image (base64), text/plain only as the fallback.
    const plots = article(html, "cell-4");
    expect(plots).toContain(`src="data:image/png;base64,${TINY_PNG}"`);
    expect(plots).toContain('src="data:image/jpeg;base64,/9j/');
    expect(plots).toContain(`src="data:image/svg+xml;base64,${Buffer.from(TINY_SVG).toString("base64")}"`);
    expect(plots).not.toContain("<svg");
    expect(plots).not.toContain("&lt;Figure size");
    expect(plots).toContain("{&#39;accuracy&#39;: 0.96}");
    // The failed cell: highlighted, linked from the top, its traceback coloured with classes and no ANSI left.
    const failed = article(html, "cell-5");
    expect(failed).toContain("nb-failed");
    expect(failed).toContain('<span class="ansi-red">ValueError</span>: bad shape');
    expect(html).not.toContain("\u001b");
    expect(html).toContain('<a href="#cell-5">Cell 5 failed</a>: ValueError');
    // A cell that never ran shows as pending.
    expect(article(html, "cell-6")).toContain("pending");
    expect(html).toContain(`href="/pipelines/${id}/notebook.ipynb"`);
    // An ended pipeline's page does not poll.
    expect(html).not.toContain("hx-trigger");
  });

  test("cells are numbered as pushed: papermill's injected-parameters cell is labelled and has no number", async () => {
    const s = setup();
    const { id } = s.ended(everyOutputNotebook());
    const html = await (await s.get(`/pipelines/${id}/notebook`)).text();
    const numbers = [...html.matchAll(/<a class="nb-num" href="#([^"]+)">([^<]+)<\/a>/g)].map((m) => [m[1], m[2]]);
    expect(numbers).toEqual([
      ["cell-1", "cell 1"],
      ["cell-2", "cell 2"],
      ["cell-at-2", "injected parameters"],
      ["cell-3", "cell 3"],
      ["cell-4", "cell 4"],
      ["cell-5", "cell 5"],
      ["cell-6", "cell 6"],
    ]);
  });

  test("papermill's error banner cell is labelled, not numbered, and does not shift the numbers", async () => {
    const s = setup();
    const banner = markdownCell(
      '<span style="color:red; font-family:Helvetica Neue">An Exception was encountered at <a href="#papermill-error-cell">In [2]</a>.</span>',
    );
    (banner.metadata as { tags: string[] }).tags = ["papermill-error-cell-tag"];
    const { id } = s.ended(executedNotebook([banner, codeCell("x = 1", { count: 1 }), codeCell("1/0", { count: 2, papermill: { exception: true } })]));
    const html = await (await s.get(`/pipelines/${id}/notebook`)).text();
    expect(html).toContain('<a class="nb-num" href="#cell-at-0">papermill error</a>');
    expect(article(html, "cell-2")).toContain("nb-failed");
    expect(html).toContain('<a href="#cell-2">Cell 2 failed</a>');
    expect(html).not.toContain("style=");
  });

  test("large outputs are cut per output and per page, with a link to the raw download", async () => {
    const s = setup();
    const big = "x".repeat(300_000);
    const manyBig = Array.from({ length: 12 }, (_, i) =>
      codeCell(`print(${i})`, { count: i + 1, outputs: [{ output_type: "stream", name: "stdout", text: big }] }),
    );
    const bigImage = "A".repeat(6_000_000);
    const { id } = s.ended(executedNotebook([...manyBig, codeCell("plot()", { outputs: [{ output_type: "display_data", data: { "image/png": bigImage } }] })]));
    const html = await (await s.get(`/pipelines/${id}/notebook`)).text();
    // The first output shows 200 000 characters and says it was cut.
    const first = article(html, "cell-1");
    expect(first).toContain(`<pre>${"x".repeat(200_000)}</pre>`);
    expect(first).not.toContain("x".repeat(200_001));
    expect(first).toContain(`<a href="/pipelines/${id}/notebook.ipynb">executed notebook (.ipynb)</a>`);
    // After 2 MB of text, outputs are left out.
    expect(article(html, "cell-12")).toContain("text output left out");
    expect(html.length).toBeLessThan(2_300_000);
    expect(article(html, "cell-13")).toContain("image (image/png, 6000000 bytes as base64) left out");
    expect(html).toContain("Some outputs are cut or left out");
  });

  test("a running pipeline's page shows what papermill saved so far and polls the cells fragment", async () => {
    const s = setup();
    const p = s.create();
    s.deps.pipelineStore.markRunning(p.id);
    const html0 = await (await s.get(`/pipelines/${p.id}/notebook`)).text();
    expect(html0).toContain("No executed notebook yet");
    expect(html0).toContain(`hx-get="/pipelines/${p.id}/notebook/cells?v=running.none"`);
    // A poll that names what it has: 204 (htmx swaps nothing) while neither the file nor the status changed.
    const same = await s.get(`/pipelines/${p.id}/notebook/cells?v=running.none`);
    expect(same.status).toBe(204);
    expect(await same.text()).toBe("");
    writeExecutedNotebook(
      s.deps.config.dataDir,
      p.id,
      executedNotebook([
        codeCell("print(1)", { count: 1, outputs: [{ output_type: "stream", name: "stdout", text: "1\n" }] }),
        codeCell("train()", { papermill: { status: "running", duration: null } }),
      ]),
    );
    const res = await s.get(`/pipelines/${p.id}/notebook/cells?v=running.none`, { ...browser, "HX-Request": "true" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(PAGE_CSP);
    const fragment = await res.text();
    expect(fragment.startsWith('<section id="notebook-cells"')).toBe(true);
    expect(fragment).toContain('hx-trigger="every 2s"');
    expect(fragment).toContain("Running: the cells below are what papermill has saved so far");
    expect(article(fragment, "cell-2")).toContain("nb-running");
    // Half-written JSON while it runs is a moment of papermill's save, not a corrupt notebook.
    writeExecutedNotebook(s.deps.config.dataDir, p.id, '{"cells": [{"cell_type": "co');
    const halfway = await (await s.get(`/pipelines/${p.id}/notebook/cells`, browser)).text();
    expect(halfway).toContain("papermill is writing the notebook");
    expect(halfway).toContain('hx-trigger="every 2s"');
    const stamp = decodeURIComponent(/notebook\/cells\?v=([^"]+)"/.exec(halfway)![1]!);
    expect((await s.get(`/pipelines/${p.id}/notebook/cells?v=${encodeURIComponent(stamp)}`)).status).toBe(204);
    // The pipeline ends, the file unchanged: the next poll swaps in the final cells, which poll no more.
    s.deps.pipelineStore.finish(p.id, "succeeded");
    const last = await s.get(`/pipelines/${p.id}/notebook/cells?v=${encodeURIComponent(stamp)}`);
    expect(last.status).toBe(200);
    const final = await last.text();
    expect(final).not.toContain("hx-trigger");
    expect(final).toContain('<span id="notebook-status" class="status status-succeeded">succeeded</span>');
  });
});

describe("bad cases", () => {
  test("an unknown pipeline is a 404 page; an id that is not a number is a 400", async () => {
    const s = setup();
    const res = await s.get("/pipelines/999/notebook");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(await res.text()).toContain("pipeline 999");
    expect((await s.get("/pipelines/999/notebook.ipynb", SIGNED_IN)).status).toBe(404);
    expect((await s.get("/pipelines/abc/notebook")).status).toBe(400);
  });

  test("a pipeline without a notebook yet: a page saying so, and a JSON 404 for the download", async () => {
    const s = setup();
    const { id } = s.ended();
    const res = await s.get(`/pipelines/${id}/notebook`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("This pipeline has no executed notebook");
    const dl = await s.get(`/pipelines/${id}/notebook.ipynb`, SIGNED_IN);
    expect(dl.status).toBe(404);
    expect(await dl.json()).toEqual({ error: `pipeline ${id} has no executed notebook (yet): it is written when its notebook runs` });
  });

  test("a notebook removed by retention: the page says so and when, the download is 410 Gone", async () => {
    const s = setup();
    const { id, file } = s.ended(executedNotebook([codeCell("print(1)")]));
    // A sweep as if RETENTION_DAYS (30) had passed since the pipeline ended.
    const later = { now: () => Date.now() + 31 * 24 * 3600 * 1000 };
    const report = await new Retention({ db: s.db, dataDir: s.deps.config.dataDir, days: 30, clock: later }).sweep();
    expect(report.pipelines).toEqual([id]);
    expect(existsSync(file!)).toBe(false);
    const removedAt = s.deps.pipelineStore.get(id).filesRemovedAt!;
    const html = await (await s.get(`/pipelines/${id}/notebook`)).text();
    expect(html).toContain("The executed notebook was removed by retention (RETENTION_DAYS)");
    expect(html).not.toContain("This pipeline has no executed notebook");
    const dl = await s.get(`/pipelines/${id}/notebook.ipynb`, SIGNED_IN);
    expect(dl.status).toBe(410);
    expect(await dl.json()).toEqual({ error: `pipeline ${id}'s executed notebook was removed by retention (RETENTION_DAYS) on ${removedAt}` });
  });

  test("a corrupt notebook: a page saying it could not be read, the raw download still offered and unchanged", async () => {
    const s = setup();
    const garbage = '{"cells": [ not json at all \u0000\u00ff';
    const { id, file } = s.ended(garbage);
    const res = await s.get(`/pipelines/${id}/notebook`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("The executed notebook could not be read");
    expect(html).toContain(`href="/pipelines/${id}/notebook.ipynb"`);
    const dl = await s.get(`/pipelines/${id}/notebook.ipynb`, SIGNED_IN);
    expect(dl.status).toBe(200);
    expect(await dl.text()).toBe(garbage);
    expect(readFileSync(file!, "utf8")).toBe(garbage);
    // Valid JSON that is not a notebook is said so too.
    writeFileSync(file!, "[1, 2, 3]");
    expect(await (await s.get(`/pipelines/${id}/notebook`)).text()).toContain("the JSON is not a notebook");
  });

  test("a notebook too large to parse (2 GB, sparse) is not read: the page says so and offers the download", async () => {
    const s = setup();
    const { id, file } = s.ended("");
    const fd = openSync(file!, "r+");
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    const html = await (await s.get(`/pipelines/${id}/notebook`)).text();
    expect(html).toContain(`The executed notebook is ${2 * 1024 ** 3} bytes, too large to show here.`);
    expect(html).toContain(`href="/pipelines/${id}/notebook.ipynb"`);
  });

  test("a symlink or a FIFO in the notebook's place is not followed or read", async () => {
    const s = setup();
    const { id } = s.ended();
    const file = join(s.deps.config.dataDir, "pipelines", String(id), "executed.ipynb");
    mkdirSync(dirname(file), { recursive: true });
    symlinkSync(s.deps.config.databasePath, file);
    expect(await (await s.get(`/pipelines/${id}/notebook`)).text()).toContain("the executed notebook is a symbolic link");
    const dl = await s.get(`/pipelines/${id}/notebook.ipynb`, SIGNED_IN);
    expect(dl.status).toBe(404);
    expect((await dl.json()).error).toContain("symbolic link");

    const other = s.ended();
    const fifo = join(s.deps.config.dataDir, "pipelines", String(other.id), "executed.ipynb");
    mkdirSync(dirname(fifo), { recursive: true });
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    expect(await (await s.get(`/pipelines/${other.id}/notebook`)).text()).toContain("the executed notebook is not a regular file");
  });

  test("the pages need a session", async () => {
    const s = setup();
    const { id } = s.ended(everyOutputNotebook());
    for (const path of [`/pipelines/${id}/notebook`, `/pipelines/${id}/notebook/cells`, `/pipelines/${id}/notebook.ipynb`]) {
      const res = await s.app.request(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toStartWith("/login?next=");
    }
  });
});

describe("GET /pipelines/{id}/notebook.ipynb", () => {
  test("the raw executed notebook as an attachment, never sniffed as a document", async () => {
    const s = setup();
    const { id, file } = s.ended(everyOutputNotebook());
    const res = await s.get(`/pipelines/${id}/notebook.ipynb`, SIGNED_IN);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ipynb+json");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="pipeline-${id}-executed.ipynb"`);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("sandbox");
    expect(await res.text()).toBe(readFileSync(file!, "utf8"));
  });
});

describe("links to the notebook page", () => {
  test("from the pipeline page (and its failed cell, to the cell's anchor) and from the model page's version rows", async () => {
    const s = setup();
    const p = s.create();
    s.deps.pipelineStore.markRunning(p.id);
    const cell = { index: 4, execution_count: 5, tags: ["mlops:evaluate"], source: "raise ValueError", exception: "ValueError: bad shape" };
    s.deps.pipelineStore.finish(p.id, "failed", { ...failure("execute", FailureKind.notebook_error, "cell 5 raised"), cell });
    const page = await (await s.get(`/pipelines/${p.id}`)).text();
    expect(page).toContain(`<a href="/pipelines/${p.id}/notebook">executed notebook</a>`);
    expect(page).toContain(`<a href="/pipelines/${p.id}/notebook#cell-5">executed notebook</a>`);

    s.deps.modelStore.register(
      { modelName: "iris", status: "rejected", reason: "below", pipelineId: p.id, metrics: "{}", path: "", sha256: "t", format: "onnx" },
      () => "",
    );
    const models = await (await s.get("/models/iris")).text();
    expect(models).toContain(`<a class="notebook-link" href="/pipelines/${p.id}/notebook">notebook</a>`);
  });
});

describe("a notebook run elsewhere (Ray)", () => {
  test("the executed notebook uploaded with the run's artifacts is the one the page shows and the download serves", async () => {
    const s = setup();
    const p = s.create();
    s.deps.pipelineStore.markRunning(p.id);
    expect(await (await s.get(`/pipelines/${p.id}/notebook`)).text()).toContain("a notebook run on Ray arrives when its run ends");
    const token = new UploadTokens(s.db).issue(p.id);
    const body = new FormData();
    const uploaded = JSON.stringify(everyOutputNotebook());
    body.append("notebook", new Blob([uploaded]), "executed.ipynb");
    const res = await s.app.request(`/api/pipelines/${p.id}/artifacts`, { method: "POST", body, headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const html = await (await s.get(`/pipelines/${p.id}/notebook`)).text();
    expect(article(html, "cell-3")).toContain('<span class="badge">mlops:training</span>');
    expect(await (await s.get(`/pipelines/${p.id}/notebook.ipynb`, SIGNED_IN)).text()).toBe(uploaded);
  });
});
