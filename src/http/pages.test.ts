import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestModel, type TestModel } from "../serving/test-models.ts";
import { deployVersion } from "./serving-test-support.ts";
import { sessionCookieHeader } from "./page-auth.ts";
import { makeTestApp, TEST_ADMIN_TOKEN } from "./test-app.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-pages-")));
}, 60_000);

describe("pages", () => {
  test("the home page says nothing serves yet, then lists a deployed model with its version", async () => {
    const { app, deps } = makeTestApp();
    const cookie = { Cookie: sessionCookieHeader(TEST_ADMIN_TOKEN) };
    const empty = await app.request("/", { headers: cookie });
    expect(empty.status).toBe(200);
    expect(empty.headers.get("content-type")).toContain("text/html");
    expect(await empty.text()).toContain("No model serves yet");
    await deployVersion(deps, "iris", model.onnxPath);
    const html = await (await app.request("http://mlops.test/", { headers: cookie })).text();
    expect(html).toContain("<code>POST /models/iris/predict</code>");
    expect(html).toContain("curl -s -X POST http://mlops.test/models/iris/predict");
    expect(html).not.toContain("No model serves yet");
    expect(html).toContain('<a href="/models/iris">iris</a>');
  });

  test("the home page lists the five newest pipelines with their status", async () => {
    const { app, deps } = makeTestApp();
    const cookie = { Cookie: sessionCookieHeader(TEST_ADMIN_TOKEN) };
    expect(await (await app.request("/", { headers: cookie })).text()).toContain("No pipeline has run yet.");
    const ids = Array.from({ length: 6 }, (_, i) => deps.pipelineStore.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "b".repeat(40), notebookPath: `nb-${i}.ipynb` }).id);
    deps.pipelineStore.markRunning(ids[5]!);
    const html = await (await app.request("/", { headers: cookie })).text();
    const listed = [...html.matchAll(/<a href="\/pipelines\/(\d+)">/g)].map((m) => Number(m[1]));
    expect(listed).toEqual(ids.slice(1).reverse());
    expect(html).toContain("<code>nb-5.ipynb</code>");
    expect(html).toMatch(/status-running">running</);
  });

  test("pages need a session: a GET goes to /login and comes back after; a wrong token is refused", async () => {
    const { app } = makeTestApp();
    const away = await app.request("/?x=1");
    expect(away.status).toBe(303);
    expect(away.headers.get("location")).toBe("/login?next=%2F%3Fx%3D1");
    const form = await app.request("/login?next=%2F%3Fx%3D1");
    expect(form.status).toBe(200);
    expect(await form.text()).toContain('name="next" value="/?x=1"');

    const wrong = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: "not-it", next: "/?x=1" }) });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("That is not the admin token.");
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const right = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next: "/?x=1" }) });
    expect(right.status).toBe(303);
    expect(right.headers.get("location")).toBe("/?x=1");
    const setCookie = right.headers.get("set-cookie")!;
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).not.toContain(TEST_ADMIN_TOKEN); // the cookie is derived from the token, not the token
    const cookie = setCookie.split(";")[0]!;
    expect(cookie).toBe(sessionCookieHeader(TEST_ADMIN_TOKEN));
    expect((await app.request("/", { headers: { Cookie: cookie } })).status).toBe(200);
    expect((await app.request("/", { headers: { Cookie: sessionCookieHeader("some-other-token-0123456789") } })).status).toBe(303);

    const out = await app.request("/logout", { method: "POST", headers: { Cookie: cookie } });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
  });

  test("login only sends people to paths on this server", async () => {
    const { app } = makeTestApp();
    for (const next of ["https://evil.example/", "//evil.example/", "/\\evil.example"]) {
      const res = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next }) });
      expect(res.headers.get("location")).toBe("/");
    }
  });

  test("errors of page requests are HTML for browsers, a fragment for htmx, and stay JSON for the API and curl", async () => {
    const { app } = makeTestApp();
    const asJson = await app.request("/models/nope/predict", { method: "POST", body: "{}" });
    expect(asJson.status).toBe(404);
    expect(((await asJson.json()) as { error: string }).error).toContain("no model named");
    const api = await app.request("/api/pipelines/999", { headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}`, Accept: "text/html" } });
    expect(api.headers.get("content-type")).toContain("application/json");
    const lost = await app.request("/no/such/page", { headers: { Accept: "text/html" } });
    expect(lost.status).toBe(404);
    expect(await lost.text()).toContain("no route for GET /no/such/page");
    expect(((await (await app.request("/no/such/page")).json()) as { error: string }).error).toBe("no route for GET /no/such/page");
    const browser = await app.request("/models/nope/predict", { method: "POST", body: "{}", headers: { Accept: "text/html" } });
    expect(browser.status).toBe(404);
    expect(await browser.text()).toContain("<h2>Error 404</h2>");
  });

  test("htmx and its SSE extension are served from the embedded node_modules files", async () => {
    const { app } = makeTestApp();
    for (const [file, source] of [
      ["htmx.min.js", "htmx.org/dist/htmx.min.js"],
      ["hx-sse.min.js", "htmx.org/dist/ext/hx-sse.min.js"],
    ] as const) {
      const res = await app.request(`/static/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/javascript");
      expect(await res.text()).toBe(readFileSync(join(import.meta.dir, "..", "..", "node_modules", source), "utf8"));
    }
    expect((await app.request("/static/nope.js")).status).toBe(404);
  });

  test("the stylesheet is served from the embedded public/ file", async () => {
    const { app } = makeTestApp();
    const res = await app.request("/static/app.css");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await res.text()).toBe(readFileSync(join(import.meta.dir, "..", "..", "public", "app.css"), "utf8"));
  });
});
