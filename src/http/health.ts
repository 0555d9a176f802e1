// GET /health: liveness and readiness in one JSON answer; 503 while starting or stopping.
import { Hono } from "hono";
import type { SandboxStatus } from "../sandbox/notebook-sandbox.ts";
import type { Lifecycle } from "./lifecycle.ts";

export type HealthDeps = {
  lifecycle: Lifecycle;
  version: string;
  databaseOk: () => boolean;
  modelsServing: () => number;
  queueDepth: () => number;
  sandbox: SandboxStatus;
};

/** Routes for /health. */
export function healthRoutes(deps: HealthDeps) {
  return new Hono().get("/", (c) => {
    const phase = deps.lifecycle.phase;
    const database = deps.databaseOk();
    const body = {
      status: phase === "ready" && database ? "ok" : phase === "ready" ? "degraded" : phase,
      version: deps.version,
      database: database ? "ok" : "error",
      models_serving: deps.modelsServing(),
      queue_depth: deps.queueDepth(),
      // The status stays ok without the sandbox: serving works; operators see why here, at start and on the pages.
      sandbox: deps.sandbox.active ? "bwrap" : deps.sandbox.setting === "off" ? "off" : "unavailable",
      ...(deps.sandbox.problem ? { sandbox_problem: deps.sandbox.problem } : {}),
    };
    return c.json(body, body.status === "ok" ? 200 : 503);
  });
}
