// The executed notebook page in Debian's Chromium against a real server: the example notebook's plot and table after a
// real push through papermill, the page following a notebook while it runs, and a hostile notebook that runs nothing.
import { describe, expect, test } from "bun:test";
import { chromiumAndServer, signIn } from "../testing/browser.ts";
import { ADMIN_TOKEN, exampleNotebook, makeRepo, sendPush, waitForStatus } from "../testing/e2e.ts";
import { codeCell, executedNotebook, markdownCell, TINY_PNG, writeExecutedNotebook } from "../testing/executed-notebooks.ts";
import { gate, gatedNotebook, modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated, waitForLog } from "../testing/pipeline-fixtures.ts";

const shared = chromiumAndServer();

/** Push `files` as a new repository `name`; returns the id of the one pipeline it makes. */
async function push(name: string, files: Record<string, string>): Promise<number> {
  const repo = makeRepo(files);
  const repoId = await registerRepo(shared.server, name, repo.dir);
  await sendPush(shared.server.base, { fullName: name, cloneUrl: repo.dir, after: repo.sha });
  const [created] = await waitForCreated(shared.server, repoId);
  return created!.id;
}

describe("the notebook page in Chromium", () => {
  test("the example notebook, pushed through papermill, shows its matplotlib plot and its pandas table; its model deploys", async () => {
    const id = await push("acme/report", { "iris-report.ipynb": exampleNotebook("iris-report.ipynb") });
    await waitForStatus(shared.server, id, ["succeeded"], 120_000);
    expect((await predict(shared.server.base, "iris-report")).status).toBe(200);

    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, `/pipelines/${id}`);
    await Promise.all([page.waitForURL(`${shared.server.base}/pipelines/${id}/notebook`), page.click(`a[href="/pipelines/${id}/notebook"]`)]);
    // The plot: a PNG that the browser decoded.
    const plot = page.locator(".nb-image img").first();
    await plot.waitFor();
    expect(await plot.getAttribute("src")).toStartWith("data:image/png;base64,");
    expect(await plot.evaluate((img: HTMLImageElement) => img.decode().then(() => img.naturalWidth))).toBeGreaterThan(100);
    // The table: pandas' DataFrame (mean per species) with its values.
    const table = page.locator("table.dataframe").first();
    const text = await table.textContent();
    for (const value of ["setosa", "versicolor", "virginica", "sepal length", "5.01", "1.46"]) expect(text).toContain(value);
    // Cells numbered as pushed, the injected parameters labelled, the tags shown.
    const labels = await page.locator(".nb-num").allTextContents();
    expect(labels.slice(0, 4)).toEqual(["cell 1", "cell 2", "injected parameters", "cell 3"]);
    expect(await page.locator(".nb-cell .badge", { hasText: "mlops:training" }).count()).toBe(1);
    await page.close();
  }, 180_000);

  test("while the notebook runs the page shows the cells papermill saved so far, and follows it to the end without a reload", async () => {
    const g = gate();
    try {
      const onnx = await tinyOnnxBase64();
      // A cell that prints before the gated one: papermill saves the notebook as each cell ends and as the next starts.
      const nb = JSON.parse(gatedNotebook("live-notebook", onnx, "waiting at the gate", g.url)) as { cells: { metadata: { tags: string[] } }[] };
      const gated = nb.cells.findIndex((c) => c.metadata.tags.includes("mlops:training"));
      nb.cells.splice(gated, 0, { ...nb.cells[gated]!, metadata: { tags: [] }, source: 'print("before the gate")' } as (typeof nb.cells)[number]);
      const id = await push("acme/live", { "live.ipynb": JSON.stringify(nb) });
      await waitForLog(shared.server, id, "waiting at the gate", 90_000);
      const page = await shared.browser.newPage();
      await signIn(page, shared.server.base, ADMIN_TOKEN, `/pipelines/${id}/notebook`);
      await page.locator("#notebook-running").waitFor();
      const training = page.locator('.nb-cell:has(.badge:text-is("mlops:training"))');
      await training.locator(".nb-status-running").waitFor();
      expect(await page.locator(".nb-stream", { hasText: "before the gate" }).count()).toBe(1);
      expect(await page.locator(".nb-stream", { hasText: "exported" }).count()).toBe(0);
      g.open();
      // htmx polls the cells; once the pipeline ended the fragment stops polling and the export cell has its output.
      await page.locator("#notebook-running").waitFor({ state: "detached", timeout: 60_000 });
      await page.locator(".nb-stream", { hasText: "exported" }).waitFor();
      expect(await page.locator("#notebook-status").textContent()).toBe("succeeded");
      expect(await training.locator(".nb-status-running").count()).toBe(0);
      await page.close();
    } finally {
      g.stop();
    }
  }, 180_000);

  test("a hostile notebook runs nothing in the browser: no dialog, no request to the URL it names, no request elsewhere", async () => {
    const hits: string[] = [];
    const listener = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        hits.push(new URL(req.url).pathname);
        return new Response("x", { headers: { "Access-Control-Allow-Origin": "*" } });
      },
    });
    try {
      const leak = (what: string) => `http://127.0.0.1:${listener.port}/${what}`;
      const onnx = await tinyOnnxBase64();
      const id = await push("acme/hostile", { "model.ipynb": modelNotebook("hostile-host", onnx) });
      await waitForStatus(shared.server, id, ["succeeded", "failed"], 120_000);

      const hostileHtml = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(2)>",
        '<a id="js-link" href="javascript:alert(3)">click</a>',
        "<svg><script>alert(4)</script></svg>",
        '<svg onload="alert(5)"><image href="' + leak("svg-inline") + '"/></svg>',
        `<img src="${leak("img")}">`,
        `<div hx-get="${leak("hx-get")}" hx-trigger="load">hx</div>`,
        `<div x-data x-init="fetch('${leak("alpine")}')">alpine</div>`,
        `<p style="background:url(${leak("style-attr")})">styled</p><style>body { background: url(${leak("style-tag")}) }</style>`,
        `<link rel="stylesheet" href="${leak("link")}"><iframe src="${leak("iframe")}"></iframe>`,
        `<meta http-equiv="refresh" content="0;url=${leak("meta")}"><base href="${leak("base/")}">`,
        `<form action="${leak("form")}"><button id="form-button">go</button></form>`,
        `<object data="${leak("object")}"></object><embed src="${leak("embed")}">`,
        '<a href="data:text/html,<script>alert(6)</script>">data link</a>',
        "<<script>script>alert(7)<</script>/script>",
      ].join("\n");
      const hostileSvg = `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(8)"><script>alert(9)</script><image href="${leak("svg-output")}" width="10" height="10"/><rect width="10" height="10"/></svg>`;
      const executed = executedNotebook([
        markdownCell(`# Hostile\n\n${hostileHtml}\n\n[js](javascript:alert(10)) ![leak](${leak("md-img")})`),
        codeCell("</code></pre><script>alert(11)</script>", {
          tags: ["<script>alert(12)</script>", "mlops:training"],
          count: 1,
          outputs: [
            { output_type: "stream", name: "stdout", text: "<script>alert(13)</script><img src=x onerror=alert(14)>" },
            { output_type: "display_data", metadata: {}, data: { "text/html": hostileHtml } },
            { output_type: "display_data", metadata: {}, data: { "image/svg+xml": hostileSvg } },
            { output_type: "display_data", metadata: {}, data: { "text/markdown": `${hostileHtml}\n\n[md](javascript:alert(15))` } },
            { output_type: "display_data", metadata: {}, data: { "image/png": `${TINY_PNG}" onerror="alert(16)` } },
            {
              output_type: "error",
              ename: "<img src=x onerror=alert(17)>",
              evalue: "<script>alert(18)</script>",
              traceback: [`\u001b[0;31m<img src=x onerror=alert(19)>\u001b[0m`, `<script>alert(20)</script>`],
            },
          ],
        }),
      ]);
      writeExecutedNotebook(shared.server.dataDir, id, executed);

      const page = await shared.browser.newPage();
      await signIn(page, shared.server.base, ADMIN_TOKEN, "/");
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on("request", (r) => void requests.push(r.url()));
      await page.goto(`${shared.server.base}/pipelines/${id}/notebook`, { waitUntil: "networkidle" });
      // htmx ran on this page (so hx-* attributes would have been acted on had they survived).
      expect(await page.evaluate(() => typeof (globalThis as { htmx?: unknown }).htmx)).toBe("object");
      await page.locator("#cell-1 h1", { hasText: "Hostile" }).waitFor();
      // Clicking what could have been a javascript: link or a form does nothing either.
      await page.locator(".nb-markdown a", { hasText: "click" }).click();
      await page.waitForLoadState("networkidle");

      expect(dialogs).toEqual([]);
      expect(hits).toEqual([]);
      expect(requests.filter((u) => !u.startsWith(`${shared.server.base}/`) && !u.startsWith("data:"))).toEqual([]);
      expect(await page.locator("main script, main iframe, main object, main embed, main form, main svg, main style, main link").count()).toBe(0);
      expect(await page.locator("main [hx-get], main [x-data], main [x-init], main [style], main [onerror], main [onload]").count()).toBe(0);
      // The hostile text is shown as text.
      expect(await page.locator(".nb-stream").first().textContent()).toContain("<script>alert(13)</script>");

      // Control: the same markup unsanitized, in this browser, does reach the listener and open a dialog, so the
      // zeros above are not blind.
      const control = await shared.browser.newPage();
      control.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await control.setContent(`<img src="${leak("control")}"><img src=x onerror="alert('control')">`);
      await control.waitForLoadState("networkidle");
      expect(hits).toContain("/control");
      expect(dialogs).toContain("control");
      await control.close();
      await page.close();
    } finally {
      listener.stop(true);
    }
  }, 180_000);
});
