// POST /models/{name}/predict and /models/{name}/versions/{v}/predict: rows, records or named inputs in (JSON), or a
// CSV table with a header line; predictions (and probabilities) out, checked against the model's signature first.
import { Hono, type Context } from "hono";
import { decodePredictBody } from "../serving/decode-rows.ts";
import { decodeCsv } from "../serving/decode-table.ts";
import { planOutputs, readPredictions } from "../serving/model-outputs.ts";
import type { Lease } from "../serving/model-registry.ts";
import { runFeeds } from "../serving/run-feeds.ts";
import { contentKind } from "./invocations.ts";
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
    const { signature } = lease.model;
    const text = await c.req.text();
    const feeds = isCsv(c.req.header("content-type"))
      ? decodeCsv(text, signature, deps.limits)
      : decodePredictBody(parseJsonBody(text), signature, deps.limits);
    const out = readPredictions(planOutputs(signature), await runFeeds(lease.model, feeds));
    return c.json({ model: lease.name, version: lease.version, predictions: out.predictions, ...(out.probabilities && { probabilities: out.probabilities }) });
  } finally {
    lease.done();
  }
}

// Only text/csv changes how the body is read: `curl -d` sends application/x-www-form-urlencoded, and /predict has always
// read JSON whatever the declared type. A CSV in a charset other than UTF-8 is refused (415) as /invocations refuses it.
function isCsv(header: string | undefined): boolean {
  return header?.split(";")[0]?.trim().toLowerCase() === "text/csv" && contentKind(header) === "csv";
}
