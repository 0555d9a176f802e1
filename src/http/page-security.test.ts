import { describe, expect, test } from "bun:test";
import { makeTestApp, SIGNED_IN, TEST_ADMIN_TOKEN } from "../testing/test-app.ts";
import { PAGE_CSP } from "./page-security.ts";

const browser = { ...SIGNED_IN, Accept: "text/html" };

describe("every HTML answer carries the pages' Content-Security-Policy", () => {
  test("the policy allows scripts and styles from this server only: no inline script, no eval, no framing", () => {
    const directives = Object.fromEntries(
      PAGE_CSP.split(";")
        .map((d) => d.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values]),
    );
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives["script-src"]).toEqual(["'self'"]);
    expect(directives["style-src"]).toEqual(["'self'"]);
    expect(directives["frame-ancestors"]).toEqual(["'none'"]);
    expect(directives["base-uri"]).toEqual(["'none'"]);
    expect(directives["form-action"]).toEqual(["'self'"]);
    expect(PAGE_CSP).not.toContain("unsafe");
  });

  test("pages, fragments, the sign-in page, the 404 page and an error page", async () => {
    const t = makeTestApp();
    const answers = {
      home: await t.app.request("/", { headers: browser }),
      "home health fragment": await t.app.request("/home/health", { headers: { ...browser, "HX-Request": "true" } }),
      pipelines: await t.app.request("/pipelines", { headers: browser }),
      models: await t.app.request("/models", { headers: browser }),
      repositories: await t.app.request("/repos", { headers: browser }),
      "sign-in": await t.app.request("/login", { headers: { Accept: "text/html" } }),
      "sign-in refused": await t.app.request("/login", { method: "POST", body: new URLSearchParams({ token: "wrong" }), headers: { Accept: "text/html" } }),
      "no such path": await t.app.request("/no/such/page", { headers: browser }),
      "unknown pipeline": await t.app.request("/pipelines/999999", { headers: browser }),
      "unknown model": await t.app.request("/models/nothing-here", { headers: browser }),
    };
    const seen = Object.entries(answers).map(([name, res]) => ({
      name,
      status: res.status,
      html: (res.headers.get("content-type") ?? "").startsWith("text/html"),
      csp: res.headers.get("content-security-policy"),
      nosniff: res.headers.get("x-content-type-options"),
    }));
    const statuses = {
      home: 200,
      "home health fragment": 200,
      pipelines: 200,
      models: 200,
      repositories: 200,
      "sign-in": 200,
      "sign-in refused": 401,
      "no such path": 404,
      "unknown pipeline": 404,
      "unknown model": 404,
    };
    expect(seen).toEqual(Object.entries(statuses).map(([name, status]) => ({ name, status, html: true, csp: PAGE_CSP, nosniff: "nosniff" })));
  });

  test("JSON answers are left as they are", async () => {
    const t = makeTestApp();
    const api = await t.app.request("/api/pipelines", { headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(api.status).toBe(200);
    expect(api.headers.get("content-security-policy")).toBeNull();
    const missing = await t.app.request("/api/nothing", { headers: { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toStartWith("application/json");
    expect(missing.headers.get("content-security-policy")).toBeNull();
  });

  test("the Alpine.js the pages load is its CSP build, which needs no eval", async () => {
    const t = makeTestApp();
    const res = await t.app.request("/static/alpine.min.js");
    expect(res.status).toBe(200);
    const js = await res.text();
    // The standard build compiles expressions with the Function constructor (what 'unsafe-eval' would have to allow);
    // the CSP build parses them itself and says so in its errors.
    expect(js).not.toContain("new Function");
    expect(js).not.toContain("AsyncFunction");
    expect(js).toContain("prohibited in the CSP build");
  });
});
