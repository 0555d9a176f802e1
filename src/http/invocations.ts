// POST /models/{name}/invocations: MLflow's scoring protocol (dataframe_split, dataframe_records, instances, inputs as
// JSON; or CSV with a header line) → {"predictions": [...]}, as `mlflow models serve` answers.
import { Hono } from "hono";
import { AppError } from "../lib/errors.ts";
import { decodeMlflowJson } from "../serving/decode-mlflow.ts";
import { decodeCsv } from "../serving/decode-table.ts";
import { planOutputs, readPredictions } from "../serving/model-outputs.ts";
import { runFeeds } from "../serving/run-feeds.ts";
import { acquireServing, limitPredictBody, measure, parseJsonBody, type ServedVars, type ServingDeps } from "./serving-support.ts";

/** Routes under /models for MLflow clients. */
export function invocationRoutes(deps: ServingDeps) {
  return new Hono<ServedVars>().post("/:name/invocations", measure(deps.metrics, "invocations"), limitPredictBody(deps.limits.maxRequestBytes), async (c) => {
    const name = c.req.param("name");
    const lease = acquireServing(deps, name);
    try {
      const version = String(lease.version);
      c.set("served", { model: name, version });
      c.header("X-Model-Version", version);
      const kind = contentKind(c.req.header("content-type"));
      const text = await c.req.text();
      const { signature } = lease.model;
      const feeds = kind === "csv" ? decodeCsv(text, signature, deps.limits) : decodeMlflowJson(parseJsonBody(text), signature, deps.limits);
      const { predictions } = readPredictions(planOutputs(signature), await runFeeds(lease.model, feeds));
      return c.json({ predictions, model: name, version: lease.version });
    } finally {
      lease.done();
    }
  });
}

/** "json" or "csv" from a Content-Type header (absent counts as JSON); throws 415 for anything else, or a charset other than UTF-8. */
export function contentKind(header: string | undefined): "json" | "csv" {
  if (!header) return "json";
  const [mime, ...params] = header.split(";").map((p) => p.trim().toLowerCase());
  for (const p of params) {
    const [key, value] = p.split("=").map((s) => s.trim());
    if (key === "charset" && value !== "utf-8" && value !== "utf8") throw new AppError(415, `only UTF-8 is supported, got charset=${value}`);
  }
  if (mime === "application/json") return "json";
  if (mime === "text/csv") return "csv";
  throw new AppError(
    415,
    `unsupported Content-Type "${header}": send application/json (dataframe_split, dataframe_records, instances or inputs) or text/csv with a header line`,
    {
      supported: ["application/json", "text/csv"],
    },
  );
}
