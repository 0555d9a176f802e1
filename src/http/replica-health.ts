// GET /health of a replica: whether it serves, what, and how its primary stands. 200 while it serves (the primary
// may be away); 503 before its first state (from the primary or its cache) and while it drains.
import { Hono } from "hono";
import type { Lifecycle } from "./lifecycle.ts";

export type ReplicaHealthDeps = {
  lifecycle: Lifecycle;
  version: string;
  serving: () => { name: string; version: number }[];
  primary: () => { url: string; reachable: boolean; since: string; lastContactAt?: number; error?: string };
  /** The revision and source of the state served; undefined before the first. */
  applied: () => { revision: number; source: "primary" | "cache" } | undefined;
  /** Models not at the primary's version, and why (a file that failed its check, a model that did not load). */
  problems: () => { model: string; wanted: number; serving: number | null; error: string; at: string }[];
};

/** Routes for a replica's /health. */
export function replicaHealthRoutes(deps: ReplicaHealthDeps) {
  return new Hono().get("/", (c) => {
    const phase = deps.lifecycle.phase;
    const applied = deps.applied();
    const primary = deps.primary();
    const serving = deps.serving();
    const status = phase === "ready" ? "ok" : phase;
    const body = {
      status,
      role: "replica",
      version: deps.version,
      models_serving: serving.length,
      models: Object.fromEntries(serving.map((s) => [s.name, s.version])),
      primary: {
        url: primary.url,
        reachable: primary.reachable,
        since: primary.since,
        revision: applied?.revision ?? null,
        last_contact_seconds: primary.lastContactAt === undefined ? null : Math.max(0, (Date.now() - primary.lastContactAt) / 1000),
        ...(primary.error ? { error: primary.error } : {}),
      },
      // "cache": started while the primary was away, serving what the cache last held until the primary answers.
      state_source: applied?.source ?? null,
      ...(applied ? {} : { reason: "no state yet: the primary has not answered and the cache is empty" }),
      problems: deps.problems(),
    };
    return c.json(body, status === "ok" ? 200 : 503);
  });
}
