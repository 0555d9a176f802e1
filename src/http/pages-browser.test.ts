// The pages in Debian's Chromium against a real server: signing in, live logs, and the rollback button.
import { describe, expect, test } from "bun:test";
import { chromiumAndServer, signIn } from "../testing/browser.ts";
import { pace } from "../testing/eventually.ts";
import { ADMIN_TOKEN, commit, makeRepo, sendPush, waitForStatus } from "../testing/e2e.ts";
import { modelNotebook, predict, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";

const shared = chromiumAndServer();

describe("pages in Chromium", () => {
  test("a wrong token is refused on the form; the right one signs in and returns to the page asked for; sign out ends it", async () => {
    const page = await shared.browser.newPage();
    await page.goto(`${shared.server.base}/`);
    await page.waitForURL(/\/login\?next=%2F$/);
    await page.fill('input[name="token"]', "not-the-token");
    await page.click('button[type="submit"]');
    await expect(page.locator(".error").textContent()).resolves.toContain("not the admin token");

    await page.fill('input[name="token"]', ADMIN_TOKEN);
    await Promise.all([page.waitForURL(`${shared.server.base}/`), page.click('button[type="submit"]')]);
    await expect(page.locator("h2").first().textContent()).resolves.toBe("Serving");
    // htmx loaded from the embedded file and initialised.
    expect(await page.evaluate(() => typeof (globalThis as { htmx?: unknown }).htmx)).toBe("object");

    await Promise.all([page.waitForURL(/\/login$/), page.click("header .logout button")]);
    await page.goto(`${shared.server.base}/`);
    await page.waitForURL(/\/login\?next=/);
    await page.close();
  }, 90_000);

  test("signIn helper lands on the page asked for", async () => {
    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, "/?from=test");
    expect(new URL(page.url()).search).toBe("?from=test");
    await page.close();
  }, 90_000);

  test("the log stream starts even when the SSE extension arrives after htmx (a slow network, a busy server)", async () => {
    const repo = makeRepo({ "late.ipynb": modelNotebook("late-ext", await tinyOnnxBase64()) });
    const repoId = await registerRepo(shared.server, "acme/late-ext", repo.dir);
    await sendPush(shared.server.base, { fullName: "acme/late-ext", cloneUrl: repo.dir, after: repo.sha });
    const [created] = await waitForCreated(shared.server, repoId);
    await waitForStatus(shared.server, created!.id, ["succeeded", "failed"], 120_000);
    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, "/");
    // The extension's file is held back until htmx has surely started: had htmx set the page up first, the stream's
    // element would stay unconnected (seen as about one page load in twelve before the scripts were ordered).
    await page.route("**/static/hx-sse.min.js", async (route) => {
      const response = await route.fetch();
      await pace(500);
      await route.fulfill({ response });
    });
    const streamed = page.waitForRequest((r) => r.url().includes(`/pipelines/${created!.id}/log-stream`), { timeout: 10_000 });
    await page.goto(`${shared.server.base}/pipelines/${created!.id}`);
    expect((await streamed).url()).toContain("after=");
    await page.close();
  }, 180_000);

  test("a running pipeline's log grows live on its page, its status turns succeeded; two versions later the rollback button goes back to the first", async () => {
    const onnxB64 = await tinyOnnxBase64();
    // Prints a line every 0.4 s, so the page is open while lines are still coming.
    const slow = (tag: string) => `for i in range(8):\n    print(f"${tag} tick {i} <b>not bold</b>", flush=True)\n    time.sleep(0.4)`;
    const repo = makeRepo({ "model.ipynb": modelNotebook("browsed", onnxB64, slow("first")) });
    const repoId = await registerRepo(shared.server, "acme/browsed", repo.dir);
    await sendPush(shared.server.base, { fullName: "acme/browsed", cloneUrl: repo.dir, after: repo.sha });
    const [created] = await waitForCreated(shared.server, repoId);

    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, `/pipelines/${created!.id}`);
    const log = page.locator("#log li");
    await log.filter({ hasText: "first tick 1" }).waitFor({ timeout: 30_000 });
    // Seen while the notebook still runs: the line came over the live stream, not with the page.
    expect(await page.locator("#status").textContent()).toMatch(/queued|running/);
    await log.filter({ hasText: "first tick 7" }).waitFor({ timeout: 30_000 });
    await page.locator("#status", { hasText: "succeeded" }).waitFor({ timeout: 30_000 });
    // Notebook output is text, never markup.
    expect(await page.locator("#log b").count()).toBe(0);
    expect(await log.filter({ hasText: "first tick 3 <b>not bold</b>" }).count()).toBe(1);
    // Reloaded after the end: the whole log replays once, in order (ended cells folded: the lines are there, not shown).
    await page.reload();
    await log.filter({ hasText: "first tick 7" }).waitFor({ state: "attached" });
    const ticks = (await log.allTextContents()).filter((l) => l.includes("first tick"));
    expect(ticks).toEqual(Array.from({ length: 8 }, (_, i) => `first tick ${i} <b>not bold</b>`));

    const sha2 = commit(repo.dir, { "model.ipynb": modelNotebook("browsed", onnxB64, "print('second')") }, "second version");
    await sendPush(shared.server.base, { fullName: "acme/browsed", cloneUrl: repo.dir, after: sha2, before: repo.sha });
    const second = (await waitForCreated(shared.server, repoId, 2)).find((p) => p.id !== created!.id)!;
    await waitForStatus(shared.server, second.id, ["succeeded"]);
    expect((await predict(shared.server.base, "browsed")).body.version).toBe(2);

    await page.goto(`${shared.server.base}/models/browsed`);
    await expect(page.locator("#serving-version").textContent()).resolves.toContain("2");
    page.once("dialog", (d) => void d.accept());
    await page.click("#rollback");
    await page.locator("#serving-version", { hasText: "1" }).waitFor({ timeout: 10_000 });
    expect((await predict(shared.server.base, "browsed")).body.version).toBe(1);
    const history = ((await (await shared.server.api("/api/models/browsed")).json()) as { deployments: { version: number; reason: string }[] }).deployments;
    expect(history[0]).toMatchObject({ version: 1, reason: "rollback" });
    await page.close();
  }, 120_000);

  test("the Repositories page registers a repository through its form and lists it; a duplicate shows its error", async () => {
    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, "/repos");
    await expect(page.locator("h2").first().textContent()).resolves.toBe("Repositories");
    await page.fill('input[name="full_name"]', "acme/from-the-form");
    await page.fill('input[name="branch"]', "prod");
    await page.fill('input[name="deploy_threshold"]', "0.9");
    await page.click('.repo-form button[type="submit"]');
    const row = page.locator("table.repos tr", { hasText: "acme/from-the-form" });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator(".policy").textContent()).toBe("accuracy ≥ 0.9");
    // The swapped-in form is empty again; the same name once more is refused in the error box.
    expect(await page.inputValue('input[name="full_name"]')).toBe("");
    await page.fill('input[name="full_name"]', "acme/from-the-form");
    await page.click('.repo-form button[type="submit"]');
    await expect(page.locator("#repo-error .error").textContent()).resolves.toContain("already registered");
    const stored = (
      (await (await shared.server.api("/api/repos")).json()) as { repos: { full_name: string; branch: string; deploy_threshold: number | null }[] }
    ).repos;
    expect(stored.filter((r) => r.full_name === "acme/from-the-form")).toEqual([expect.objectContaining({ branch: "prod", deploy_threshold: 0.9 })]);
    await page.close();
  }, 90_000);

  test("a repository's runner resources (Ray) are changed, refused with the error shown, and cleared from its row", async () => {
    const repoId = await registerRepo(shared.server, "acme/ray-form", "/srv/git/ray-form", { runner_resources: { num_cpus: 1 } });
    const stored = async () => ((await (await shared.server.api(`/api/repos/${repoId}`)).json()) as { runner_resources: unknown }).runner_resources;
    const page = await shared.browser.newPage();
    await signIn(page, shared.server.base, ADMIN_TOKEN, "/repos");
    const cell = () => page.locator(`tr[data-repo-id="${repoId}"] .runner-resources`);
    await cell().locator("summary").click();
    expect(await cell().locator("textarea").inputValue()).toBe('{"num_cpus":1}');

    await cell().locator("textarea").fill('{"num_gpus": 1, "resources": {"trainer": 1}}');
    await cell().locator('button[type="submit"]').click();
    await cell().locator("summary", { hasText: '"num_gpus":1' }).waitFor({ timeout: 10_000 });
    expect(await stored()).toEqual({ num_gpus: 1, resources: { trainer: 1 } });

    await cell().locator("summary").click();
    await cell().locator("textarea").fill('{"num_gpus": -1}');
    await cell().locator('button[type="submit"]').click();
    await expect(page.locator("#repo-error .error").textContent()).resolves.toContain("runner_resources.num_gpus");
    expect(await stored()).toEqual({ num_gpus: 1, resources: { trainer: 1 } });

    await cell().locator("textarea").fill("");
    await cell().locator('button[type="submit"]').click();
    await cell().locator("summary", { hasText: "none" }).waitFor({ timeout: 10_000 });
    expect(await stored()).toBeNull();
    await page.close();
  }, 90_000);
});
