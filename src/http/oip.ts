// /v2: the Open Inference Protocol (KServe v2; Triton, MLServer and KServe clients): health, server and model
// metadata, model readiness, and inference with tensor JSON (or Triton's binary tensor data extension).
import { Hono, type Context } from "hono";
import type { Lifecycle } from "./lifecycle.ts";
import type { Lease } from "../serving/model-registry.ts";
import { decodeInferRequest, encodeInferResponse, HEADER_LENGTH, splitBody } from "../serving/oip-tensors.ts";
import { runFeeds } from "../serving/run-feeds.ts";
import { oipDatatype } from "../serving/tensor-types.ts";
import { acquireServing, acquireVersion, limitPredictBody, measure, type ServedVars, type ServingDeps } from "./serving-support.ts";

/** Extensions this server implements (Triton's names). */
export const OIP_EXTENSIONS = ["binary_tensor_data"];

export type OipDeps = ServingDeps & { version: string; lifecycle: Lifecycle };

/** Routes under /v2. */
export function oipRoutes(deps: OipDeps) {
  const infer = [measure(deps.metrics, "v2"), limitPredictBody(deps.limits.maxRequestBytes)] as const;
  return new Hono<ServedVars>()
    .get("/", (c) => c.json({ name: "mlops", version: deps.version, extensions: OIP_EXTENSIONS }))
    .get("/health/live", (c) => c.json({ live: true }))
    .get("/health/ready", (c) => {
      const ready = deps.lifecycle.phase === "ready";
      return c.json({ ready }, ready ? 200 : 503);
    })
    .get("/models/:name", (c) => withServing(deps, c.req.param("name"), (lease) => c.json(metadata(deps, lease))))
    .get("/models/:name/versions/:version", async (c) =>
      withLease(await acquireVersion(deps, c, c.req.param("name"), c.req.param("version")), (l) => c.json(metadata(deps, l))),
    )
    .get("/models/:name/ready", (c) => withServing(deps, c.req.param("name"), (lease) => c.json({ name: lease.name, ready: true })))
    .get("/models/:name/versions/:version/ready", async (c) =>
      withLease(await acquireVersion(deps, c, c.req.param("name"), c.req.param("version")), (l) => c.json({ name: l.name, ready: true })),
    )
    .post("/models/:name/infer", ...infer, (c) => inferWith(c, deps, acquireServing(deps, c.req.param("name"))))
    .post("/models/:name/versions/:version/infer", ...infer, async (c) =>
      inferWith(c, deps, await acquireVersion(deps, c, c.req.param("name"), c.req.param("version"))),
    );
}

/** Read, decode, run and answer one infer request with `lease`; releases it. */
async function inferWith(c: Context<ServedVars>, deps: OipDeps, lease: Lease) {
  try {
    const version = String(lease.version);
    c.set("served", { model: lease.name, version });
    c.header("X-Model-Version", version);
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const { json, binary } = splitBody(bytes, c.req.header(HEADER_LENGTH));
    const plan = decodeInferRequest(json, binary, lease.model.signature, deps.limits);
    const outputs = await runFeeds(lease.model, plan.feeds);
    const res = encodeInferResponse({ model_name: lease.name, model_version: version, id: plan.id }, plan, outputs);
    if (res.headerLength === undefined) return c.body(res.body as string, 200, { "Content-Type": "application/json" });
    return c.body(res.body as Uint8Array<ArrayBuffer>, 200, { "Content-Type": "application/octet-stream", [HEADER_LENGTH]: String(res.headerLength) });
  } finally {
    lease.done();
  }
}

function withServing(deps: OipDeps, name: string, fn: (lease: Lease) => Response): Response {
  return withLease(acquireServing(deps, name), fn);
}

function withLease(lease: Lease, fn: (lease: Lease) => Response): Response {
  try {
    return fn(lease);
  } finally {
    lease.done();
  }
}

/** Model metadata: stored versions, the platform, and inputs/outputs with OIP datatypes and -1 for dynamic dimensions. */
function metadata(deps: OipDeps, lease: Lease) {
  const tensor = (t: { name: string; type: string; shape: (number | null)[] }) => ({
    name: t.name,
    datatype: oipDatatype(t.type),
    shape: t.shape.map((d) => d ?? -1),
  });
  const { signature } = lease.model;
  return {
    name: lease.name,
    versions: deps.modelStore.versions(lease.name).map((v) => String(v.version)),
    platform: "onnxruntime",
    inputs: signature.inputs.map(tensor),
    outputs: signature.outputs.filter((o) => o.type !== "non-tensor").map(tensor),
  };
}
