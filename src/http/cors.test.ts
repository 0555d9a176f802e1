// FRONTEND_URL: the JSON API answers that origin's browser calls (preflight included), and no other origin's.
import { describe, expect, test } from "bun:test";
import { makeTestApp, TEST_ADMIN_TOKEN } from "../testing/test-app.ts";

const FRONTEND = "http://localhost:3000";
const preflight = (origin: string) => ({
  method: "OPTIONS",
  headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
});

describe("CORS for the JSON API", () => {
  test("with FRONTEND_URL, its preflight is answered without a token and its calls carry the allow-origin header", async () => {
    const { app } = makeTestApp({ FRONTEND_URL: FRONTEND });
    const pre = await app.request("/api/pipelines", preflight(FRONTEND));
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(FRONTEND);
    expect(pre.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");

    const ok = await app.request("/api/pipelines", { headers: { Origin: FRONTEND, Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(FRONTEND);
    // CORS opens no door: without the token the API still refuses.
    expect((await app.request("/api/pipelines", { headers: { Origin: FRONTEND } })).status).toBe(401);

    const other = await app.request("/api/pipelines", { headers: { Origin: "http://evil.example", Authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect((await app.request("/api/pipelines", preflight("http://evil.example"))).headers.get("access-control-allow-origin")).toBeNull();
  });

  test("without FRONTEND_URL no origin is allowed and a preflight needs the token like any call", async () => {
    const { app } = makeTestApp();
    const pre = await app.request("/api/pipelines", preflight(FRONTEND));
    expect(pre.status).toBe(401);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
  });
});
