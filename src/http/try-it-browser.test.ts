// The model page's Try it form in Debian's Chromium against a real server with PREDICT_TOKEN set: a joblib notebook
// pushed through git and papermill, its version prefilled with the rows the conversion was checked on, predicted from
// the page with the signed-in session (no token in the page), and an edited field answered with the API's error.
import { describe, expect, test } from "bun:test";
import { chromiumAndServer, signIn } from "../testing/browser.ts";
import { ADMIN_TOKEN, exampleNotebook, makeRepo, sendPush, waitForPipelines } from "../testing/e2e.ts";

const PREDICT_TOKEN = "e2e-predict-token-0123456789";
const shared = chromiumAndServer({ PREDICT_TOKEN });

describe("Try it in Chromium", () => {
  test("the form predicts what a direct predict answers, with a latency and the curl line; a bad field shows the API's error", async () => {
    const repo = makeRepo({ "iris-joblib.ipynb": exampleNotebook("iris-joblib.ipynb") });
    const created = await shared.server.api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: "acme/tryit", clone_url: repo.dir }) });
    const { id } = (await created.json()) as { id: number };
    await sendPush(shared.server.base, { fullName: "acme/tryit", cloneUrl: repo.dir, after: repo.sha });
    const [pipeline] = await waitForPipelines(shared.server, `repo=${id}`, 1);
    expect(pipeline!.status).toBe("succeeded");

    const version = ((await (await shared.server.api("/api/models/iris-joblib")).json()) as { versions: { sample_rows: number[][] }[] }).versions[0]!;
    const direct = await fetch(`${shared.server.base}/models/iris-joblib/predict`, {
      method: "POST",
      headers: { Authorization: `Bearer ${PREDICT_TOKEN}` },
      body: JSON.stringify({ inputs: version.sample_rows }),
    });
    expect(direct.status).toBe(200);
    const expected = (await direct.json()) as { predictions: unknown[]; probabilities: number[][] };

    const page = await shared.browser.newPage();
    const requests: { url: string; headers: Record<string, string> }[] = [];
    page.on("request", (r) => requests.push({ url: r.url(), headers: r.headers() }));
    await signIn(page, shared.server.base, ADMIN_TOKEN, "/models/iris-joblib");
    // Alpine started the component: the fields hold the sample rows.
    const fields = page.locator("#try-it tbody input");
    await fields.first().waitFor();
    expect(await fields.count()).toBe(3 * 4);
    expect(Number(await fields.first().inputValue())).toBe(version.sample_rows[0]![0]!);
    const curl = await page.locator("#try-it-curl").textContent();
    expect(curl).toContain(`curl -X POST '${shared.server.base}/models/iris-joblib/predict'`);
    expect(curl).toContain(`-H "Authorization: Bearer $PREDICT_TOKEN"`);
    expect(await page.content()).not.toContain(PREDICT_TOKEN);

    await page.click("#try-it-send");
    const answer = page.locator("#try-it-answer");
    await answer.waitFor({ state: "visible", timeout: 15_000 });
    const shown = JSON.parse((await answer.textContent())!) as { predictions: unknown[]; probabilities: number[][]; version: number };
    expect(shown.predictions).toEqual(expected.predictions);
    expect(shown.probabilities).toEqual(expected.probabilities);
    expect(shown.version).toBe(1);
    expect(await page.locator("#try-it-latency").textContent()).toMatch(/^\d+(\.\d)? ms$/);
    // It went as the page: the session cookie and the page header, no Authorization.
    const sent = requests.find((r) => r.url.endsWith("/models/iris-joblib/predict"))!;
    expect(sent.headers["x-mlops-page"]).toBe("try-it");
    expect(sent.headers.authorization).toBeUndefined();

    // An edited field changes the curl line, and a value that is no number gets the API's own error.
    await fields.nth(1).fill("abc");
    await expect(page.locator("#try-it-curl").textContent()).resolves.toContain('"abc"');
    await page.click("#try-it-send");
    const error = page.locator("#try-it-error");
    await error.waitFor({ state: "visible", timeout: 15_000 });
    const api = await fetch(`${shared.server.base}/models/iris-joblib/predict`, {
      method: "POST",
      headers: { Authorization: `Bearer ${PREDICT_TOKEN}` },
      body: JSON.stringify({ inputs: [[version.sample_rows[0]![0], "abc", ...version.sample_rows[0]!.slice(2)], ...version.sample_rows.slice(1)] }),
    });
    expect(api.status).toBe(422);
    expect(await error.textContent()).toBe(`422: ${((await api.json()) as { error: string }).error}`);
    expect(await answer.isVisible()).toBe(false);

    // Undeploy and Deploy on the page swap the section: Try it follows, and Alpine starts the form swapped in.
    page.on("dialog", (d) => void d.accept());
    await page.click("#undeploy");
    await page.locator("#try-it", { hasText: "Not serving" }).waitFor({ timeout: 15_000 });
    await page.click('button[data-version="1"]');
    await page.locator("#serving-version", { hasText: "v1" }).waitFor({ timeout: 15_000 });
    await fields.first().waitFor();
    expect(await fields.count()).toBe(3 * 4);
    await page.click("#try-it-send");
    await answer.waitFor({ state: "visible", timeout: 15_000 });
    expect((JSON.parse((await answer.textContent())!) as { predictions: unknown[] }).predictions).toEqual(expected.predictions);
    await page.close();
  }, 180_000);
});
