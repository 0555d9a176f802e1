// The pipeline page's log grouped by cell, in Debian's Chromium against a real server running real notebooks: groups
// appear live while the notebook runs (it waits on gates the test opens), papermill's markers are never shown, and
// the cell that raised is opened and highlighted.
import { describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { chromiumAndServer, signIn } from "../testing/browser.ts";
import { ADMIN_TOKEN, makeRepo, sendPush } from "../testing/e2e.ts";
import { gate, registerRepo, tinyOnnxBase64, waitForCreated, waitForUrlPython } from "../testing/pipeline-fixtures.ts";

const shared = chromiumAndServer();

/** Python that waits (at most two minutes) until `url` answers 200. */
const waitFor = (url: string) => waitForUrlPython(url, 120);

/**
 * A notebook as pushed: 1 markdown, 2 config, 3 parameters (papermill's injected cell follows), 4 preprocessing,
 * 5 training, 6 export.
 */
function gatedNotebook(modelName: string, onnxB64: string, training: string, beforeExport = "pass"): string {
  const code = (tags: string[], source: string) => ({ cell_type: "code", metadata: { tags }, source, outputs: [], execution_count: null });
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: [
      { cell_type: "markdown", metadata: {}, source: "# A notebook whose log is grouped" },
      code(["mlops:config"], `MODEL_NAME = "${modelName}"\nVERSION = "1"`),
      code(["parameters"], "EPOCHS = 2"),
      code(["mlops:preprocessing"], 'import base64, json, time, urllib.request\nprint("preprocessing done", flush=True)'),
      code(["mlops:training"], training),
      code(
        ["mlops:export"],
        [
          beforeExport,
          `open(MODEL_OUTPUT_PATH, "wb").write(base64.b64decode("${onnxB64}"))`,
          'json.dump({"accuracy": 1.0}, open(METRICS_OUTPUT_PATH, "w"))',
          'print("exported", flush=True)',
        ].join("\n"),
      ),
    ],
  });
}

/** Push `notebookJson` as a new repository and open its pipeline's page; returns the page and the pipeline id. */
async function pushAndOpen(name: string, notebookJson: string): Promise<{ page: Page; id: number }> {
  const repo = makeRepo({ "model.ipynb": notebookJson });
  const repoId = await registerRepo(shared.server, `acme/${name}`, repo.dir);
  await sendPush(shared.server.base, { fullName: `acme/${name}`, cloneUrl: repo.dir, after: repo.sha });
  const [created] = await waitForCreated(shared.server, repoId);
  const page = await shared.browser.newPage();
  await signIn(page, shared.server.base, ADMIN_TOKEN, `/pipelines/${created!.id}`);
  return { page, id: created!.id };
}

/** The non-blank lines under `locator` (papermill's log puts a blank line after each chunk of output). */
const linesOf = async (locator: ReturnType<Page["locator"]>) => (await locator.locator("li").allTextContents()).filter((l) => l !== "");

/** The lines under `locator` a person sees (its group unfolded), blank ones included. */
const shownLinesOf = (locator: ReturnType<Page["locator"]>) =>
  locator.locator("li").evaluateAll((items) => items.filter((li) => li.checkVisibility()).map((li) => li.textContent));

/** The group of the log whose heading names `cell` ("Cell 5", "injected parameters"). */
const group = (page: Page, cell: string) =>
  page.locator("#log details.cell-group").filter({ has: page.locator("summary .cell-name", { hasText: new RegExp(`^${cell}$`) }) });

describe("the log grouped by cell, in Chromium", () => {
  test("cell groups appear live while the notebook runs, with their number as pushed, tags and duration; papermill's markers are not shown", async () => {
    const [trained, exporting] = [gate(), gate()];
    try {
      const training = `for i in range(3):\n    print(f"train tick {i}", flush=True)\n${waitFor(trained.url)}\nprint("trained", flush=True)`;
      const { page, id } = await pushAndOpen("grouped-live", gatedNotebook("grouped-live", await tinyOnnxBase64(), training, waitFor(exporting.url)));

      // The training cell runs (it waits for the gate): its group is open with its output, its heading says running.
      const trainingGroup = group(page, "Cell 5");
      await trainingGroup.locator("li", { hasText: "train tick 2" }).waitFor({ timeout: 60_000 });
      expect(await trainingGroup.getAttribute("open")).not.toBeNull();
      expect(await trainingGroup.locator("summary .cell-tag").allTextContents()).toEqual(["mlops:training"]);
      expect(await trainingGroup.locator("summary .cell-duration").textContent()).toBe("running");
      expect(await page.locator("#status").textContent()).toBe("running");
      // The cells before it, numbered as pushed (the markdown cell is 1: papermill logs markers for it too).
      expect(await group(page, "injected parameters").count()).toBe(1);
      expect(await group(page, "Cell 3").locator(".cell-tag").allTextContents()).toEqual(["parameters"]);
      expect(await linesOf(group(page, "Cell 4"))).toEqual(["preprocessing done"]);
      expect(await group(page, "Cell 4").locator(".cell-duration").textContent()).toMatch(/^\d+(\.\d)? m?s$/);
      expect(await group(page, "Cell 6").count()).toBe(0);

      // Let training end: the export cell's group appears live while the pipeline still runs (export waits too).
      trained.open();
      const exportGroup = group(page, "Cell 6");
      await exportGroup.waitFor({ timeout: 60_000 });
      expect(await page.locator("#status").textContent()).toBe("running");
      expect(await exportGroup.locator(".cell-tag").allTextContents()).toEqual(["mlops:export"]);
      expect(await trainingGroup.locator(".cell-duration").textContent()).toMatch(/^\d+(\.\d)? m?s$/);
      expect(await linesOf(trainingGroup)).toEqual(["train tick 0", "train tick 1", "train tick 2", "trained"]);
      // Each print was a chunk of its own, which papermill logged with a blank line after it: none is shown.
      expect((await trainingGroup.locator("li").allTextContents()).filter((l) => l === "").length).toBeGreaterThanOrEqual(4);
      expect(await shownLinesOf(trainingGroup)).toEqual(["train tick 0", "train tick 1", "train tick 2", "trained"]);

      exporting.open();
      await page.locator("#status", { hasText: "succeeded" }).waitFor({ timeout: 60_000 });
      await exportGroup.locator("li", { hasText: "exported" }).waitFor();
      const shown = (await page.locator("#log").textContent())!;
      expect(shown).not.toContain("Executing Cell");
      expect(shown).not.toContain("Ending Cell");
      // Lines outside cells stay as they are, before and after.
      expect(await page.locator("#log > ol.log-lines").first().textContent()).toContain("notebook contract ok");
      await page.locator("#log > ol.log-lines li", { hasText: "notebook finished: succeeded" }).waitFor();

      // Reloaded after the end: the same groups from the stored log, every ended cell folded.
      await page.reload();
      await group(page, "Cell 6").waitFor();
      expect(await page.locator("#log summary .cell-name").allTextContents()).toEqual([
        "Cell 1",
        "Cell 2",
        "Cell 3",
        "injected parameters",
        "Cell 4",
        "Cell 5",
        "Cell 6",
      ]);
      expect(await page.locator("#log details[open]").count()).toBe(0);
      expect(await linesOf(group(page, "Cell 5"))).toEqual(["train tick 0", "train tick 1", "train tick 2", "trained"]);
      expect(await group(page, "Cell 5").locator("li").first().isVisible()).toBe(false);
      await group(page, "Cell 5").locator("summary").click();
      expect(await group(page, "Cell 5").locator("li").first().isVisible()).toBe(true);
      expect(await shownLinesOf(group(page, "Cell 5"))).toEqual(["train tick 0", "train tick 1", "train tick 2", "trained"]);
      expect((await page.locator("#log").textContent())!).not.toContain("Executing Cell");
      // The raw log keeps papermill's lines.
      expect(await (await shared.server.api(`/api/pipelines/${id}/logs`)).text()).toContain("Executing Cell 6");
      await page.close();
    } finally {
      trained.stop();
      exporting.stop();
    }
  }, 180_000);

  test("the cell that raises is opened and highlighted, live and after a reload", async () => {
    const go = gate();
    try {
      const training = `print("about to fail", flush=True)\n${waitFor(go.url)}\nraise ValueError("bad labels")`;
      const { page } = await pushAndOpen("grouped-raise", gatedNotebook("grouped-raise", await tinyOnnxBase64(), training));
      const failing = group(page, "Cell 5");
      await failing.locator("li", { hasText: "about to fail" }).waitFor({ timeout: 60_000 });
      expect(await failing.getAttribute("class")).toBe("cell-group");

      go.open();
      await page.locator("#status", { hasText: "failed" }).waitFor({ timeout: 60_000 });
      await page.locator("#log details.cell-failed").waitFor({ timeout: 30_000 });
      expect(await failing.getAttribute("class")).toBe("cell-group cell-failed");
      expect(await failing.getAttribute("open")).not.toBeNull();
      expect(await failing.locator("summary .cell-raised").textContent()).toBe("raised");
      expect(await failing.locator("li").first().isVisible()).toBe(true);
      expect(await page.locator("#log details.cell-failed").count()).toBe(1);

      await page.reload();
      await page.locator("#log details.cell-failed").waitFor();
      expect(await page.locator("#log details.cell-failed summary .cell-name").textContent()).toBe("Cell 5");
      expect(await page.locator("#log details[open]").count()).toBe(1);
      expect(await linesOf(page.locator("#log details.cell-failed"))).toEqual(["about to fail"]);
      // The failure reason numbers the cell the same way.
      expect(await page.locator("#error").textContent()).toContain("cell 5 of the notebook [mlops:training] raised ValueError: bad labels");
      await page.close();
    } finally {
      go.stop();
    }
  }, 180_000);
});
