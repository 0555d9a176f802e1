import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppDeps } from "../app.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { PAGE_ACTOR } from "./model-pages.tsx";
import { deployVersion, postJson } from "../testing/serving-test-support.ts";
import { makeTestApp, TEST_ADMIN_TOKEN, SIGNED_IN, FOREIGN_SESSION } from "../testing/test-app.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-model-pages-")));
}, 60_000);

const signedIn = SIGNED_IN;
const browser = { ...signedIn, Accept: "text/html" };
const htmx = { ...signedIn, "HX-Request": "true" };

type Stored = { metrics?: Record<string, number>; pipelineId?: number; status?: string; reason?: string };

/** Store the test model as the next version of `name` with these metrics (as the register phase does); returns the version. */
function storeVersion(deps: AppDeps, name: string, extra: Stored = {}): number {
  const { metrics = {}, pipelineId = null, status = "registered", reason = null } = extra;
  return deps.modelStore.register(
    { modelName: name, status, reason, pipelineId, metrics: JSON.stringify(metrics), path: "", sha256: "test", format: "onnx" },
    (version) => {
      const dir = join(deps.config.dataDir, "models", encodeURIComponent(name), String(version));
      mkdirSync(dir, { recursive: true });
      copyFileSync(model.onnxPath, join(dir, "model.onnx"));
      return join(dir, "model.onnx");
    },
  ).version;
}

/** iris: v1 deployed without metrics, v2 and v3 with metrics from pipelines 7 and 8, v4 rejected by the gate. v1 serves. */
async function irisWithVersions() {
  const t = makeTestApp();
  await deployVersion(t.deps, "iris", model.onnxPath);
  storeVersion(t.deps, "iris", { metrics: { accuracy: 0.9, f1: 0.85 }, pipelineId: 7 });
  storeVersion(t.deps, "iris", { metrics: { accuracy: 0.93, f1: 0.91 }, pipelineId: 8 });
  storeVersion(t.deps, "iris", { metrics: { accuracy: 0.5 }, status: "rejected", reason: "accuracy 0.5 is below the deploy threshold 0.7" });
  return t;
}

/** What serves, what the history says: refused requests must leave both alone. */
function state(deps: AppDeps, name = "iris") {
  return { serving: deps.registry.version(name) ?? null, history: deps.modelStore.history(name) };
}

async function predictedVersion(t: ReturnType<typeof makeTestApp>, name = "iris") {
  const res = await t.app.request(`/models/${name}/predict`, postJson({ inputs: model.expected.rows }));
  return res.status === 200 ? ((await res.json()) as { version: number }).version : res.status;
}

const action = (t: ReturnType<typeof makeTestApp>, path: string, headers: Record<string, string>, form: Record<string, string> = {}) =>
  t.app.request(path, { method: "POST", headers, body: new URLSearchParams(form) });

/** The charts on a page: per metric, its points (version, value, class, tooltip, link) and whether the gate is drawn. */
function charts(html: string) {
  return [...html.matchAll(/<svg class="chart metric-chart" data-metric="([^"]+)"[\s\S]*?<\/svg>/g)].map((m) => ({
    metric: m[1]!,
    svg: m[0],
    threshold: m[0].match(/<g class="threshold" data-threshold="([^"]+)">/)?.[1] ?? null,
    points: [...m[0].matchAll(/<(?:a|g) (?:href="([^"]*)" )?class="(point[^"]*)" data-version="(\d+)" data-value="([^"]+)"><title>([^<]*)<\/title>/g)].map(
      (p) => ({
        href: p[1] ?? null,
        cls: p[2]!,
        version: Number(p[3]),
        value: Number(p[4]),
        title: p[5]!,
      }),
    ),
  }));
}

describe("model pages", () => {
  test("/models lists each model with what it serves, its latest version, how many, and since when", async () => {
    const t = await irisWithVersions();
    storeVersion(t.deps, "churn", { metrics: { auc: 0.7 } });
    const res = await t.app.request("/models", { headers: browser });
    expect(res.status).toBe(200);
    const html = await res.text();
    const row = (name: string) => html.match(new RegExp(`<tr><td><a href="/models/${name}">${name}</a>[\\s\\S]*?</tr>`))?.[0] ?? "";
    expect(row("iris")).toContain('<span class="ok">v1</span></td><td>v4</td><td>4</td>');
    expect(row("iris")).toMatch(/<time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/);
    expect(row("churn")).toContain('<span class="muted">not serving</span></td><td>v1</td><td>1</td>');

    const empty = await makeTestApp().app.request("/models", { headers: browser });
    const emptyHtml = await empty.text();
    expect(emptyHtml).toContain("No model yet");
    // Which models a notebook may save with joblib: listed on the page, empty or not.
    for (const page of [html, emptyHtml])
      for (const family of ["XGBClassifier", "LGBMRegressor", "CatBoostClassifier", "ColumnTransformer", "DummyClassifier"]) expect(page).toContain(family);
  });

  test("/models/{name} shows what serves, the versions with metrics, status and pipeline, the history, and Deploy for the others", async () => {
    const t = await irisWithVersions();
    await t.deps.deployer.deploy("iris", 2, { reason: "pipeline", pipelineId: 7 });
    const res = await t.app.request("/models/iris", { headers: browser });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<strong id="serving-version">v2</strong>');
    const row = (v: number) => html.match(new RegExp(`<tr data-version="${v}">[\\s\\S]*?</tr>`))?.[0] ?? "";
    expect(row(2)).toContain('class="status-serving">serving');
    expect(row(2)).toContain('<span class="metric">accuracy 0.9</span><span class="metric">f1 0.85</span>');
    expect(row(2)).toContain('<a href="/pipelines/7">#7</a>');
    expect(row(3)).toContain('class="status-registered">registered');
    expect(row(4)).toContain('rejected<span class="muted">: accuracy 0.5 is below the deploy threshold 0.7</span>');
    // A Deploy button for every version but the serving one.
    expect([...html.matchAll(/<button [^>]*data-version="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([4, 3, 1]);
    expect(html).toContain('hx-post="/models/iris/deploy" hx-target="#model-section" hx-swap="outerHTML"');
    // History, newest first; rollback offers v1, the version deployed before.
    const history = html.match(/<table class="history">[\s\S]*?<\/table>/)?.[0] ?? "";
    expect([...history.matchAll(/<tr><td>(v\d+|undeployed)<\/td>[\s\S]*?<td>(\w+)<\/td><td>(.*?)<\/td><\/tr>/g)].map((m) => [m[1], m[2], m[3]])).toEqual([
      ["v2", "pipeline", '<a href="/pipelines/7">pipeline #7</a>'],
      ["v1", "manual", "test"],
    ]);
    expect(html).toMatch(/<button id="rollback"[^>]*hx-confirm="Roll back iris to v1\?"[^>]*>Roll back to v1<\/button>/);
    expect(html).toMatch(/<button id="undeploy"[^>]*hx-confirm=/);
  });

  test("one chart per metric, a point per version with its tooltip and pipeline link, the gate, serving and rejected marked", async () => {
    const t = await irisWithVersions();
    const html = await (await t.app.request("/models/iris", { headers: browser })).text();
    const [accuracy, f1, ...others] = charts(html);
    expect(others).toEqual([]);
    expect(accuracy!.metric).toBe("accuracy");
    expect(accuracy!.points.map((p) => [p.version, p.value, p.cls, p.href, p.title])).toEqual([
      [2, 0.9, "point", "/pipelines/7", "v2 · accuracy = 0.9 · pipeline #7"],
      [3, 0.93, "point", "/pipelines/8", "v3 · accuracy = 0.93 · pipeline #8"],
      [4, 0.5, "point rejected", null, "v4 · accuracy = 0.5 · rejected"],
    ]);
    expect(f1!.points.map((p) => [p.version, p.value])).toEqual([
      [2, 0.85],
      [3, 0.91],
    ]);
    // No repository made these versions: the gate is MIN_ACCURACY_THRESHOLD's default on accuracy.
    expect([accuracy!.threshold, f1!.threshold]).toEqual([String(t.deps.config.minAccuracyThreshold), null]);
    // v1 serves without metrics: the marker still shows where it stands, no point is drawn for it.
    expect(accuracy!.svg).toContain('<g class="serving-marker">');
    expect(accuracy!.points.some((p) => p.cls.includes("serving"))).toBe(false);
    await t.deps.deployer.deploy("iris", 3, { reason: "manual", actor: "test" });
    const after = charts(await (await t.app.request("/models/iris", { headers: browser })).text());
    expect(after[0]!.points.find((p) => p.version === 3)!.cls).toBe("point serving");
    expect(after[0]!.svg).toContain('<g class="serving-marker">');
  });

  test("the gate drawn is the threshold and metric of the repository that made the newest version", async () => {
    const t = makeTestApp({ MIN_ACCURACY_THRESHOLD: "0.6" });
    const repo = t.deps.repos.create({ full_name: "acme/churn", deploy_metric: "f1", deploy_threshold: 0.8 });
    t.deps.modelStore.register(
      {
        modelName: "churn",
        status: "registered",
        path: "",
        sha256: "x",
        format: "onnx",
        repoId: repo.id,
        metrics: JSON.stringify({ accuracy: 0.7, f1: 0.75 }),
      },
      () => model.onnxPath,
    );
    const html = await (await t.app.request("/models/churn", { headers: browser })).text();
    expect(charts(html).map((c) => [c.metric, c.threshold])).toEqual([
      ["accuracy", null],
      ["f1", "0.8"],
    ]);
    expect(html).toContain("deploy gate: f1 ≥ 0.8");
    t.deps.repos.update(repo.id, { deploy_threshold: null });
    const fallback = await (await t.app.request("/models/churn", { headers: browser })).text();
    expect(charts(fallback).map((c) => [c.metric, c.threshold])).toEqual([
      ["accuracy", null],
      ["f1", "0.6"],
    ]);
  });

  test("model and metric names are text in the page and the SVG, never markup", async () => {
    const t = makeTestApp();
    const name = "<script>alert(1)</script>";
    storeVersion(t.deps, name, { metrics: { '<img src=x onerror="boom()">': 0.5 } });
    storeVersion(t.deps, name, { metrics: { '<img src=x onerror="boom()">': 0.6 } });
    for (const path of ["/models", `/models/${encodeURIComponent(name)}`]) {
      const res = await t.app.request(path, { headers: browser });
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(html).not.toContain("<script>alert");
      expect(html).not.toContain("<img");
      expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    }
    const html = await (await t.app.request(`/models/${encodeURIComponent(name)}`, { headers: browser })).text();
    expect(html).toContain(`hx-post="/models/${encodeURIComponent(name)}/deploy"`);
    const [chart] = charts(html);
    expect(chart!.points.map((c) => c.title)).toEqual([
      "v1 · &lt;img src=x onerror=&quot;boom()&quot;&gt; = 0.5",
      "v2 · &lt;img src=x onerror=&quot;boom()&quot;&gt; = 0.6",
    ]);
    expect(chart!.svg).toContain(">&lt;img src=x onerror=&quot;boom()&quot;&gt;</text>");
  });

  test("an unknown model is a 404 page for a browser and a fragment for htmx", async () => {
    const t = makeTestApp();
    const page = await t.app.request("/models/nope", { headers: browser });
    expect(page.status).toBe(404);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("<h2>Error 404</h2>");
    for (const [path, message] of [
      ["/models/nope/deploy", "has no version 1"],
      ["/models/nope/rollback", "does not exist"],
      ["/models/nope/undeploy", "does not exist"],
    ] as const) {
      const res = await action(t, path, htmx, { version: "1" });
      expect(res.status).toBe(404);
      expect(await res.text()).toBe(`<p class="error" role="alert">model &quot;nope&quot; ${message}</p>`);
    }
  });

  test("Deploy on the page changes what predict answers and is recorded as manual, by the page", async () => {
    const t = await irisWithVersions();
    expect(await predictedVersion(t)).toBe(1);
    const res = await action(t, "/models/iris/deploy", htmx, { version: "3" });
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toStartWith('<section id="model-section"');
    expect(fragment).toContain('<strong id="serving-version">v3</strong>');
    expect(fragment).not.toContain("<html");
    expect(await predictedVersion(t)).toBe(3);
    expect(t.deps.modelStore.history("iris")[0]).toMatchObject({ version: 3, reason: "manual", actor: PAGE_ACTOR });
    expect(fragment).toContain(`<td>manual</td><td>${PAGE_ACTOR}</td>`);

    const before = state(t.deps);
    const bad = await action(t, "/models/iris/deploy", htmx, { version: "zero" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('<p class="error"');
    const missing = await action(t, "/models/iris/deploy", htmx, { version: "9" });
    expect(missing.status).toBe(404);
    expect(state(t.deps)).toEqual(before);
  });

  test("Rollback on the page goes back to the version deployed before and is recorded as a rollback", async () => {
    const t = await irisWithVersions();
    await action(t, "/models/iris/deploy", htmx, { version: "3" });
    const res = await action(t, "/models/iris/rollback", htmx);
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toContain('<strong id="serving-version">v1</strong>');
    expect(fragment).toContain("Roll back to v3");
    expect(await predictedVersion(t)).toBe(1);
    expect(t.deps.modelStore.history("iris").map((d) => [d.version, d.reason, d.actor])).toEqual([
      [1, "rollback", PAGE_ACTOR],
      [3, "manual", PAGE_ACTOR],
      [1, "manual", "test"],
    ]);
  });

  test("Rollback with no earlier version answers a 409 fragment and changes nothing; the button is disabled", async () => {
    const t = await irisWithVersions();
    const page = await (await t.app.request("/models/iris", { headers: browser })).text();
    expect(page).toMatch(/<button id="rollback"[^>]* disabled=""[^>]*>Rollback<\/button>/);
    const before = state(t.deps);
    const res = await action(t, "/models/iris/rollback", htmx);
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('<p class="error" role="alert">model &quot;iris&quot; has no earlier deployed version to roll back to</p>');
    expect(state(t.deps)).toEqual(before);
    expect(await predictedVersion(t)).toBe(1);
  });

  test("Undeploy on the page stops serving and records it; the section says not serving", async () => {
    const t = await irisWithVersions();
    const res = await action(t, "/models/iris/undeploy", htmx);
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toContain('<strong id="serving-version">not serving</strong>');
    expect(fragment).toMatch(/<button id="undeploy"[^>]* disabled=""/);
    expect(await predictedVersion(t)).toBe(404);
    expect(t.deps.modelStore.history("iris")[0]).toMatchObject({ version: null, reason: "undeploy", actor: PAGE_ACTOR });
    expect(fragment).toContain("<tr><td>undeployed</td>");
  });

  test("without a session GETs go to /login and actions are 401; a signed-in action without HX-Request is 403; nothing changes", async () => {
    const t = await irisWithVersions();
    await action(t, "/models/iris/deploy", htmx, { version: "3" });
    const before = state(t.deps);
    for (const path of ["/models", "/models/iris"]) {
      const res = await t.app.request(path, { headers: { Accept: "text/html" } });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const actions: [string, Record<string, string>][] = [
      ["/models/iris/deploy", { version: "2" }],
      ["/models/iris/rollback", {}],
      ["/models/iris/undeploy", {}],
    ];
    for (const [path, form] of actions) {
      expect((await action(t, path, { "HX-Request": "true" }, form)).status).toBe(401);
      expect((await action(t, path, { ...FOREIGN_SESSION, "HX-Request": "true" }, form)).status).toBe(401);
      const forged = await action(t, path, signedIn, form);
      expect(forged.status).toBe(403);
      expect(state(t.deps)).toEqual(before);
    }
    expect(await predictedVersion(t)).toBe(3);
  });

  test("the API's rollback answers as before the decision moved into the Deployer", async () => {
    const t = await irisWithVersions();
    const api = (path: string) => t.app.request(path, { method: "POST", headers: t.auth });
    expect((await api("/api/models/nope/rollback")).status).toBe(404);
    const none = await api("/api/models/iris/rollback");
    expect(none.status).toBe(409);
    expect(await none.json()).toEqual({ error: 'model "iris" has no earlier deployed version to roll back to' });
    await t.app.request("/api/models/iris/deploy", postJson({ version: 2 }, t.auth));
    const back = await api("/api/models/iris/rollback");
    expect(back.status).toBe(200);
    const body = (await back.json()) as { serving_version: number; deployments: { version: number; reason: string; actor: string }[] };
    expect(body.serving_version).toBe(1);
    expect(body.deployments[0]).toMatchObject({ version: 1, reason: "rollback", actor: "admin" });
  });

  test("the owner shows on the page and in the API; Transfer on the page and POST /api/models/{name}/owner move it", async () => {
    const t = await irisWithVersions();
    const page = await (await t.app.request("/models/iris", { headers: browser })).text();
    expect(page).toContain('<strong id="model-owner">unclaimed</strong>');
    expect(page).toMatch(/<form class="model-owner" hx-post="\/models\/iris\/owner" hx-target="#model-section" hx-swap="outerHTML"/);
    t.deps.modelStore.owners.claim("iris", "acme/models");
    const apiOwner = async () => ((await (await t.app.request("/api/models/iris", { headers: t.auth })).json()) as { owner: string | null }).owner;
    expect(await apiOwner()).toBe("acme/models");

    const res = await action(t, "/models/iris/owner", htmx, { full_name: "beta/lab" });
    expect(res.status).toBe(200);
    const fragment = await res.text();
    expect(fragment).toStartWith('<section id="model-section"');
    expect(fragment).toContain('<strong id="model-owner">beta/lab</strong>');
    expect(await apiOwner()).toBe("beta/lab");

    const api = await t.app.request("/api/models/iris/owner", postJson({ full_name: " acme/models " }, t.auth));
    expect(api.status).toBe(200);
    expect(((await api.json()) as { owner: string; serving_version: number }).owner).toBe("acme/models");
    expect(t.deps.modelStore.owners.ownerOf("iris")).toBe("acme/models");
    expect(await predictedVersion(t)).toBe(1); // serving untouched
  });

  test("a bad transfer is a 400 (API and page), an unknown model a 404, without a session 401/403; the owner stays", async () => {
    const t = await irisWithVersions();
    t.deps.modelStore.owners.claim("iris", "acme/models");
    const before = { owner: t.deps.modelStore.owners.ownerOf("iris"), ...state(t.deps) };
    const after = () => ({ owner: t.deps.modelStore.owners.ownerOf("iris"), ...state(t.deps) });
    for (const body of [{ full_name: "not a repo" }, { full_name: "" }, {}, { full_name: "a/b", extra: 1 }, { full_name: 7 }]) {
      const res = await t.app.request("/api/models/iris/owner", postJson(body, t.auth));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toContain("invalid request");
    }
    const bad = await action(t, "/models/iris/owner", htmx, { full_name: "../etc" });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("must be owner/name as on GitHub");
    expect(after()).toEqual(before);

    const unknown = await t.app.request("/api/models/nope/owner", postJson({ full_name: "acme/models" }, t.auth));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'model "nope" does not exist' });
    expect((await action(t, "/models/nope/owner", htmx, { full_name: "acme/models" })).status).toBe(404);
    expect(t.deps.modelStore.owners.ownerOf("nope")).toBeNull();

    expect((await t.app.request("/api/models/iris/owner", postJson({ full_name: "evil/repo" }))).status).toBe(401);
    expect((await action(t, "/models/iris/owner", { "HX-Request": "true" }, { full_name: "evil/repo" })).status).toBe(401);
    expect((await action(t, "/models/iris/owner", signedIn, { full_name: "evil/repo" })).status).toBe(403);
    expect(after()).toEqual(before);
  });
});
