// GET /health of a replica: whether it serves, what, and how its source (its primary, or MLflow) stands. 200 while it
// serves (the source may be away); 503 before its first state (from the source or its cache) and while it drains.
import { Hono } from "hono";
import type { Lifecycle } from "./lifecycle.ts";

export type ReplicaHealthDeps = {
  lifecycle: Lifecycle;
  version: string;
  serving: () => { name: string; version: number }[];
  /** What the replica follows and how it stands. */
  source: () => { kind: "primary" | "mlflow"; url: string; reachable: boolean; since: string; lastContactAt?: number; error?: string };
  /** The revision and origin of the state served; undefined before the first. */
  applied: () => { revision: number; source: "primary" | "mlflow" | "cache" } | undefined;
  /** Models not at their source's version, and why (a file that failed its check, a model that did not load, a refused version). */
  problems: () => { model: string; wanted: number; serving: number | null; error: string; at: string }[];
};

/** Routes for a replica's /health. */
export function replicaHealthRoutes(deps: ReplicaHealthDeps) {
  return new Hono().get("/", (c) => {
    const phase = deps.lifecycle.phase;
    const applied = deps.applied();
    const source = deps.source();
    const serving = deps.serving();
    const status = phase === "ready" ? "ok" : phase;
    const standing = {
      url: source.url,
      reachable: source.reachable,
      since: source.since,
      revision: applied?.revision ?? null,
      last_contact_seconds: source.lastContactAt === undefined ? null : Math.max(0, (Date.now() - source.lastContactAt) / 1000),
      ...(source.error ? { error: source.error } : {}),
    };
    const body = {
      status,
      role: "replica",
      version: deps.version,
      models_serving: serving.length,
      models: Object.fromEntries(serving.map((s) => [s.name, s.version])),
      // A primary's replica keeps the "primary" object it always had; one following MLflow says so under "source".
      ...(source.kind === "primary" ? { primary: standing } : { source: { kind: source.kind, ...standing } }),
      // "cache": started while the source was away, serving what the cache last held until the source answers.
      state_source: applied?.source ?? null,
      ...(applied ? {} : { reason: `no state yet: ${source.kind === "primary" ? "the primary" : "MLflow"} has not answered and the cache is empty` }),
      problems: deps.problems(),
    };
    return c.json(body, status === "ok" ? 200 : 503);
  });
}
