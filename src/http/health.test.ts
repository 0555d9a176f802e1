import { describe, expect, test } from "bun:test";
import { makeTestApp } from "../testing/test-app.ts";

describe("GET /health", () => {
  test("200 with status, version, database, models serving and queue depth", async () => {
    const { app } = makeTestApp({}, { modelsServing: () => 2, queueDepth: () => 5 });
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok", version: "0.0.0-test", database: "ok", models_serving: 2, queue_depth: 5, sandbox: "bwrap" });
  });

  test("a sandbox that cannot run is reported with its reason; the status stays ok and 200 (serving works)", async () => {
    const problem = "bubblewrap cannot run here (bubblewrap (bwrap) is not installed): pushed code runs with the server's rights";
    const { app } = makeTestApp({}, { sandbox: { setting: "auto", active: false, problem } });
    const res = await app.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", sandbox: "unavailable", sandbox_problem: problem });
    const off = makeTestApp({ NOTEBOOK_SANDBOX: "off" }).app;
    expect(await (await off.request("/health")).json()).toMatchObject({ status: "ok", sandbox: "off" });
  });

  test("503 while starting and while stopping", async () => {
    const { app, deps, db } = makeTestApp();
    for (const phase of ["starting", "stopping"] as const) {
      deps.lifecycle.phase = phase;
      const res = await app.request("/health");
      expect(res.status).toBe(503);
      expect((await res.json()).status).toBe(phase);
    }
  });

  test("503 degraded when the database is gone", async () => {
    const { app, deps, db } = makeTestApp();
    db.$client.close();
    const res = await app.request("/health");
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: "degraded", database: "error" });
  });
});
