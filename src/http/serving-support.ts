// What the prediction routes share: their deps, finding the model (serving or pinned version), reading bodies, metrics.
import type { Context, MiddlewareHandler } from "hono";
import { BadRequestError, NotFoundError, UnprocessableError } from "../lib/errors.ts";
import { refuseDeepJson } from "../lib/json-depth.ts";
import type { Lease, ModelRegistry } from "../serving/model-registry.ts";
import type { PredictMetrics, Protocol } from "../serving/predict-metrics.ts";
import { hasBearerToken } from "./auth.ts";
import { limitBody } from "./body-limit.ts";

/** Where stored versions are found (ModelStore satisfies it). */
export type VersionStore = {
  /** Versions of a model, newest first; empty when the model is unknown. */
  versions(modelName: string): { version: number }[];
  /** One version's row; throws NotFoundError naming the model and version. */
  get(modelName: string, version: number): { path: string };
  /** Versions that were deployed at some time (the deployment history), newest first. */
  everDeployed(modelName: string): number[];
};

export type ServingDeps = {
  registry: ModelRegistry;
  modelStore: VersionStore;
  metrics: PredictMetrics;
  limits: { maxBatchRows: number; maxRequestBytes: number };
  /** The admin token's hash: with it, /versions/{v} serves any stored version, not only ones deployed at some time. */
  adminTokenSha256: string;
};

/** Context variables the prediction routes set: which model and version answered, for the metrics. */
export type ServedVars = { Variables: { served?: { model: string; version: string } } };

/** Middleware: time the request and record it in `metrics` under the model and version the handler named. */
export function measure(metrics: PredictMetrics, protocol: Protocol): MiddlewareHandler<ServedVars> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const served = c.get("served");
    metrics.observe(served?.model ?? "", served?.version ?? "", protocol, c.res.status, (performance.now() - started) / 1000);
  };
}

/** Middleware: refuse prediction bodies over `max` bytes (MAX_REQUEST_BYTES) with 413 before reading them (see body-limit.ts). */
export function limitPredictBody(max: number): MiddlewareHandler {
  return limitBody(max, `the request body is larger than ${max} bytes (MAX_REQUEST_BYTES); send fewer rows per request`);
}

/**
 * Check out the serving version of `name`; throws NotFoundError (404) naming the versions deployed before (those
 * anyone may pin) or the models serving. Versions never deployed are not named: they are not for anonymous callers.
 */
export function acquireServing(deps: ServingDeps, name: string): Lease {
  const lease = deps.registry.acquire(name);
  if (lease) return lease;
  const versions = deps.modelStore.everDeployed(name);
  if (versions.length) {
    throw new NotFoundError(
      `model "${name}" has versions ${versions.join(", ")} but none is deployed; deploy one, or pin one in the URL (.../${name}/versions/${versions[0]}/...)`,
      {
        versions,
      },
    );
  }
  const serving = deps.registry.serving().map((s) => s.name);
  throw new NotFoundError(`no model named "${name}"; ${serving.length ? `models serving: ${serving.join(", ")}` : "no model is serving yet"}`, { serving });
}

/**
 * Check out stored version `raw` of `name`, loading it when it does not serve. Without the admin token in `c`, only
 * versions deployed at some time: any other answers exactly as an unknown version does, and nothing is loaded.
 * Throws BadRequestError (400) for a version that is not a whole number, NotFoundError (404) for an unknown (or, to
 * anonymous callers, never deployed) one, UnprocessableError (422) when its file cannot be loaded.
 */
export async function acquireVersion(deps: ServingDeps, c: Context, name: string, raw: string): Promise<Lease> {
  const version = parseVersion(raw);
  if (!deps.modelStore.everDeployed(name).includes(version) && !hasBearerToken(c, [deps.adminTokenSha256])) {
    // The same words as ModelStore.get for a version that does not exist: no telling the two apart.
    throw new NotFoundError(`model "${name}" has no version ${version}`);
  }
  return deps.registry.acquireVersion(name, version, () => deps.modelStore.get(name, version).path);
}

/** A version path segment as a positive whole number; throws BadRequestError otherwise. */
export function parseVersion(raw: string): number {
  if (!/^[1-9]\d{0,8}$/.test(raw)) throw new BadRequestError(`model version must be a positive whole number, got "${raw}"`);
  return Number(raw);
}

/**
 * Parse a JSON request body. Throws BadRequestError (400) for an empty or malformed body, and UnprocessableError (422)
 * for one that nests deeper than MAX_JSON_DEPTH or is JSON except for NaN or Infinity (what Python's json.dumps writes for them): the model needs finite numbers.
 */
export function parseJsonBody(text: string): unknown {
  if (!text.trim()) throw new BadRequestError("the request body is empty; send a JSON object");
  refuseDeepJson(text, "the request body");
  try {
    return JSON.parse(text);
  } catch (e) {
    if (/\bNaN\b|\bInfinity\b/.test(text)) {
      try {
        JSON.parse(text.replace(/-?\bInfinity\b|\bNaN\b/g, "null"));
        throw new UnprocessableError("the inputs contain NaN or Infinity; the model needs finite numbers (and JSON has no NaN)");
      } catch (inner) {
        if (inner instanceof UnprocessableError) throw inner;
      }
    }
    throw new BadRequestError(`the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}
