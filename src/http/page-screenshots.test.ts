// Every page in Chromium on a server with real content (pipelines run through papermill, a failed one, a registered
// repository, a serving model with traffic), at desktop (1280×800) and phone (390×844) width: a PNG of each is written
// to a folder this test prints, and at phone width no page scrolls sideways as a whole (tables, code and the log
// scroll or wrap inside their own boxes), and no page breaks its Content-Security-Policy or logs a script error (so
// htmx, its SSE extension and Alpine's CSP build all run under it). Add a page to the `pages` list to have it
// screenshotted and checked too.
// Also: the home page's health part refreshes itself in the browser.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { launchChromium, signIn } from "../testing/browser.ts";
import { ADMIN_TOKEN, makeRepo, sendPush, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";

/** A page to visit: its file name, its path, and what to wait for before the screenshot. */
type PageSpec = { name: string; path: string; signedOut?: boolean; ready?: string };

const SIZES = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;

let browser: Browser;
let server: TestServer;
let pages: PageSpec[];
// SCREENSHOTS_DIR keeps them past the run (the suite's temp dir is removed at its end).
const outDir = process.env.SCREENSHOTS_DIR ?? mkdtempSync(join(tmpdir(), "mlops-screenshots-"));

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  [browser, server] = await Promise.all([launchChromium(), startTestServer()]);
  const onnx = await tinyOnnxBase64();
  // A long notebook path and a failure with a long message and traceback: what stretches a narrow page.
  const longPath = "experiments/2026/a-rather-long-folder-name-for-the-team/iris-classifier-with-a-long-name.ipynb";
  const repo = makeRepo({
    [longPath]: modelNotebook("iris-screens", onnx, 'print("training on 150 rows; " * 12, flush=True)'),
    "broken.ipynb": modelNotebook("broken-screens", onnx, `raise ValueError("the training data has 3 columns but the model expects 4: " + "x" * 160)`),
  });
  const repoId = await registerRepo(server, "acme-analytics/very-long-repository-name-for-screenshots", repo.dir);
  await sendPush(server.base, { fullName: "acme-analytics/very-long-repository-name-for-screenshots", cloneUrl: repo.dir, after: repo.sha });
  const created = await waitForCreated(server, repoId, 2);
  const ended = await Promise.all(created.map((p) => waitForStatus(server, p.id, ["succeeded", "failed"], 120_000)));
  const ok = ended.find((p) => p.status === "succeeded");
  const failed = ended.find((p) => p.status === "failed");
  if (!ok || !failed) throw new Error(`expected one succeeded and one failed pipeline, got ${ended.map((p) => p.status).join(", ")}`);
  for (let i = 0; i < 5; i++) await predict(server.base, "iris-screens");
  pages = [
    { name: "home", path: "/", ready: "#verdict" },
    { name: "pipelines", path: "/pipelines" },
    { name: "pipeline", path: `/pipelines/${ok.id}`, ready: "#log li" },
    { name: "pipeline-failed", path: `/pipelines/${failed.id}`, ready: "#log li" },
    { name: "notebook", path: `/pipelines/${ok.id}/notebook`, ready: "#notebook-cells article" },
    { name: "notebook-failed", path: `/pipelines/${failed.id}/notebook`, ready: "#notebook-cells article.nb-failed" },
    { name: "models", path: "/models" },
    // Its Try it rows are drawn by Alpine (x-for): there once Alpine has run.
    { name: "model", path: "/models/iris-screens", ready: "#try-it tbody tr input" },
    { name: "repositories", path: "/repos" },
    { name: "login", path: "/login", signedOut: true },
  ];
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** What a page broke: Content-Security-Policy violations (the browser's event) and script errors, with the page's name. */
type Complaint = { page: string; what: string };

/** A context whose pages record their CSP violations in window.cspViolations, before any script of theirs runs. */
async function recordingContext(viewport: { width: number; height: number }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(() => {
    const seen: string[] = [];
    (window as { cspViolations?: string[] }).cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (e) => seen.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
  });
  return context;
}

async function visit(context: BrowserContext, spec: PageSpec, complaints?: Complaint[]): Promise<Page> {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") complaints?.push({ page: spec.name, what: `console: ${m.text()}` });
  });
  page.on("pageerror", (e) => complaints?.push({ page: spec.name, what: `error: ${e.message}` }));
  const res = await page.goto(`${server.base}${spec.path}`);
  expect({ page: spec.name, status: res?.status() }).toEqual({ page: spec.name, status: 200 });
  if (spec.ready) await page.locator(spec.ready).first().waitFor({ state: "attached", timeout: 30_000 });
  return page;
}

/** The CSP violations a page recorded so far. */
async function violationsOf(page: Page, name: string): Promise<Complaint[]> {
  const seen = await page.evaluate(() => (window as { cspViolations?: string[] }).cspViolations ?? ["(the recorder did not run)"]);
  return seen.map((what) => ({ page: name, what: `CSP: ${what}` }));
}

describe("the home page in Chromium", () => {
  test("its health part refreshes itself: new predict requests show up without a reload", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await signIn(page, server.base, ADMIN_TOKEN, "/");
    const cell = page.locator("#serving tr", { hasText: "iris-screens" }).locator("td.num").first();
    const before = Number(await cell.textContent());
    await page.evaluate(() => {
      (window as { stayed?: boolean }).stayed = true;
    });
    for (let i = 0; i < 20; i++) await predict(server.base, "iris-screens");
    // 20 more requests over the 5-minute window: 4 more per minute, once the part is fetched again (every 5 s).
    await page.waitForFunction((n) => Number(document.querySelector("#serving td.num")?.textContent) >= n, before + 4, { timeout: 20_000 });
    // Swapped in place: the same document, never reloaded.
    expect(await page.evaluate(() => (window as { stayed?: boolean }).stayed)).toBe(true);
    expect(page.url()).toBe(`${server.base}/`);
    await context.close();
  }, 60_000);
});

describe("every page at desktop and phone width", () => {
  for (const size of SIZES) {
    test(`${size.name} (${size.width}×${size.height}): a screenshot of each page; none scrolls sideways as a whole or breaks its CSP`, async () => {
      const viewport = { width: size.width, height: size.height };
      const signedIn = await recordingContext(viewport);
      const signedOut = await recordingContext(viewport);
      const login = await signedIn.newPage();
      await signIn(login, server.base, ADMIN_TOKEN, "/");
      await login.close();
      const overflowing: { page: string; scrollWidth: number; innerWidth: number }[] = [];
      const complaints: Complaint[] = [];
      for (const spec of pages) {
        const page = await visit(spec.signedOut ? signedOut : signedIn, spec, complaints);
        await page.screenshot({ path: join(outDir, `${spec.name}-${size.name}.png`), fullPage: true });
        const widths = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
        if (widths.scrollWidth > widths.innerWidth) overflowing.push({ page: spec.name, ...widths });
        complaints.push(...(await violationsOf(page, spec.name)));
        await page.close();
      }
      await signedIn.close();
      await signedOut.close();
      console.log(`screenshots (${size.name}): ${outDir}`);
      expect(overflowing).toEqual([]);
      expect(complaints).toEqual([]);
      const written = readdirSync(outDir).filter((f) => f.endsWith(`-${size.name}.png`));
      expect(written.sort()).toEqual(pages.map((p) => `${p.name}-${size.name}.png`).sort());
    }, 180_000);
  }
});
