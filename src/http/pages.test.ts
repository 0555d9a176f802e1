import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { deployVersion } from "../testing/serving-test-support.ts";
import { PageSessions, SESSION_SECONDS } from "../auth/page-sessions.ts";
import { resetAdminToken } from "../db/settings-store.ts";
import { hashToken } from "../lib/tokens.ts";
import { SESSION_COOKIE } from "./page-auth.ts";
import { FOREIGN_SESSION, makeTestApp, SIGNED_IN, TEST_ADMIN_TOKEN } from "../testing/test-app.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-pages-")));
}, 60_000);

describe("pages", () => {
  test("the home page says nothing serves yet, then lists a deployed model with its version", async () => {
    const { app, deps, db } = makeTestApp();
    const cookie = SIGNED_IN;
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
    const { app, deps, db } = makeTestApp();
    const cookie = SIGNED_IN;
    expect(await (await app.request("/", { headers: cookie })).text()).toContain("No pipeline has run yet.");
    const ids = Array.from(
      { length: 6 },
      (_, i) =>
        deps.pipelineStore.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "b".repeat(40), notebookPath: `nb-${i}.ipynb` }).id,
    );
    deps.pipelineStore.markRunning(ids[5]!);
    const html = await (await app.request("/", { headers: cookie })).text();
    const recent = html.match(/<table id="recent-pipelines">[\s\S]*?<\/table>/)![0];
    const listed = [...recent.matchAll(/<a href="\/pipelines\/(\d+)">/g)].map((m) => Number(m[1]));
    expect(listed).toEqual(ids.slice(1).reverse());
    expect(html).toContain("<code>nb-5.ipynb</code>");
    expect(html).toMatch(/status-running">running</);
  });

  test("pages need a session: a GET goes to /login and comes back after; a wrong token is refused", async () => {
    const { app, deps, db } = makeTestApp();
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
    expect(setCookie).not.toContain("Secure"); // plain http and no https PUBLIC_URL
    const cookie = setCookie.split(";")[0]!;
    const id = cookie.slice(`${SESSION_COOKIE}=`.length);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits, URL-safe
    expect((await app.request("/", { headers: { Cookie: cookie } })).status).toBe(200);
    expect((await app.request("/", { headers: FOREIGN_SESSION })).status).toBe(303);
    expect((await app.request("/", { headers: { Cookie: `${SESSION_COOKIE}=${"x".repeat(43)}` } })).status).toBe(303);
    // a second sign-in is another session; the database holds neither id, only their hashes
    const again = (await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }) })).headers
      .get("set-cookie")!
      .split(";")[0]!;
    expect(again).not.toBe(cookie);
    const stored = db.$client
      .query<{ id_sha256: string }, []>("SELECT id_sha256 FROM page_sessions")
      .all()
      .map((r) => r.id_sha256);
    expect(stored).toContain(hashToken(id));
    expect(stored).not.toContain(id);
    // Nor the admin token's hash, against which a chosen ADMIN_TOKEN could be guessed offline: only a tag keyed by
    // the session id, which nobody can test a guess against without the cookie.
    const dump = JSON.stringify(db.$client.query("SELECT * FROM page_sessions").all());
    expect(dump).not.toContain(hashToken(TEST_ADMIN_TOKEN));
    expect(dump).not.toContain(TEST_ADMIN_TOKEN);

    // Signing out ends the session on the server: the same cookie, sent again (a copy), no longer works.
    const out = await app.request("/logout", { method: "POST", headers: { Cookie: cookie } });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await app.request("/", { headers: { Cookie: cookie } })).status).toBe(303);
    expect((await app.request("/", { headers: { Cookie: again } })).status).toBe(200); // only that one ended
  });

  test("a session expires on the server after SESSION_SECONDS, whatever the cookie says", () => {
    const { deps, db } = makeTestApp();
    const clock = { t: 1_000_000, now: () => clock.t };
    const sessions = new PageSessions(db, deps.secrets.adminTokenSha256, clock);
    const id = sessions.create();
    expect(sessions.valid(id)).toBe(true);
    clock.t += SESSION_SECONDS * 1000 - 1;
    expect(sessions.valid(id)).toBe(true);
    clock.t += 1;
    expect(sessions.valid(id)).toBe(false);
    // expired rows are removed when the next session is made
    sessions.create();
    expect(db.$client.query<{ n: number }, [string]>("SELECT count(*) AS n FROM page_sessions WHERE id_sha256 = ?").get(hashToken(id))!.n).toBe(0);
  });

  test("sessions belong to the admin token that signed in: another ADMIN_TOKEN or reset-admin-token ends them", () => {
    const { deps, db } = makeTestApp();
    const id = deps.pageSessions.create();
    expect(deps.pageSessions.valid(id)).toBe(true);
    // another admin token at the next start
    expect(new PageSessions(db, hashToken("a-new-admin-token-0123456789")).valid(id)).toBe(false);
    // reset-admin-token deletes them all
    resetAdminToken(db);
    expect(deps.pageSessions.valid(id)).toBe(false);
    expect(db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM page_sessions").get()!.n).toBe(0);
  });

  test("the session cookie is Secure when PUBLIC_URL is https (a TLS proxy in front)", async () => {
    const { app } = makeTestApp({ PUBLIC_URL: "https://mlops.example.test" });
    const res = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN }) });
    expect(res.headers.get("set-cookie")).toContain("Secure");
  });

  test("login only sends people to paths on this server, reading next as a browser reads a URL", async () => {
    const { app } = makeTestApp();
    const offsite = [
      "https://evil.example/",
      "//evil.example/",
      "/\\evil.example",
      "\\/evil.example",
      "/\t/evil.example",
      "/\n/evil.example",
      "/\r/evil.example",
      "\t//evil.example",
      " //evil.example",
      "/\t\\evil.example",
      "/%09/evil.example",
      "javascript:alert(1)",
      "JAVASCRIPT:alert(1)",
      "evil.example",
      "http:/evil.example",
      "",
    ];
    for (const next of offsite) {
      const res = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next }) });
      const location = res.headers.get("location")!;
      // what a browser does with the Location header: resolve it against this server; it must stay here
      expect({ next, host: new URL(location, "http://this.server").host }).toEqual({ next, host: "this.server" });
    }
    // through the query string: /login?next=/%09/evil.example puts a tab in next; the form keeps only a local path
    const page = await (await app.request("/login?next=/%09/evil.example")).text();
    expect(page).toContain('name="next" value="/"');
    for (const [next, lands] of [
      ["/ok?x=1", "/ok?x=1"],
      ["/pipelines/3#log", "/pipelines/3#log"],
      ["/models/iris?tab=versions&x=%2F%2Fevil", "/models/iris?tab=versions&x=%2F%2Fevil"],
      ["/a/../b", "/b"],
    ] as const) {
      const res = await app.request("/login", { method: "POST", body: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next }) });
      expect(res.headers.get("location")).toBe(lands);
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
