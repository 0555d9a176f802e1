// POST /models/{name}/predict and /models/{name}/versions/{v}/predict: rows or named inputs in, predictions (and
// probabilities) out, checked against the model's signature first.
import { Hono, type Context } from "hono";
import { decodePredictBody } from "../serving/decode-rows.ts";
import { planOutputs, readPredictions } from "../serving/model-outputs.ts";
import type { Lease } from "../serving/model-registry.ts";
import { runFeeds } from "../serving/run-feeds.ts";
import { acquireServing, acquireVersion, limitPredictBody, measure, parseJsonBody, type ServedVars, type ServingDeps } from "./serving-support.ts";

/** Routes under /models for the native protocol. */
export function predictRoutes(deps: ServingDeps) {
  // Per route, not use("*"): other route groups are mounted under /models too.
  const before = [measure(deps.metrics, "predict"), limitPredictBody(deps.limits.maxRequestBytes)] as const;
  return new Hono<ServedVars>()
    .post("/:name/predict", ...before, (c) => answer(c, deps, acquireServing(deps, c.req.param("name"))))
    .post("/:name/versions/:version/predict", ...before, async (c) =>
      answer(c, deps, await acquireVersion(deps, c, c.req.param("name"), c.req.param("version"))),
    );
}

/** Read, decode, run and answer with `lease`; releases it. The version goes in the body and in X-Model-Version, errors included. */
async function answer(c: Context<ServedVars>, deps: ServingDeps, lease: Lease) {
  try {
    const version = String(lease.version);
    c.set("served", { model: lease.name, version });
    c.header("X-Model-Version", version);
    const body = parseJsonBody(await c.req.text());
    const { signature } = lease.model;
    const feeds = decodePredictBody(body, signature, deps.limits);
    const out = readPredictions(planOutputs(signature), await runFeeds(lease.model, feeds));
    return c.json({ model: lease.name, version: lease.version, predictions: out.predictions, ...(out.probabilities && { probabilities: out.probabilities }) });
  } finally {
    lease.done();
  }
}
