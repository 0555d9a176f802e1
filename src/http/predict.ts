// POST /models/:name/predict: rows in, predictions (and probabilities) out, from the model serving in memory.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BadRequestError, NotFoundError, PayloadTooLargeError, UnprocessableError } from "../lib/errors.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";

export const MAX_PREDICT_BODY_BYTES = 10 * 1024 * 1024;

/** Check `{"inputs": [[numbers...], ...]}`; throws UnprocessableError saying what was expected. */
export function decodeRows(body: unknown): number[][] {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) throw new UnprocessableError('expected {"inputs": [[number, ...], ...]}: "inputs" must be an array of rows');
  if (!inputs.length) throw new UnprocessableError("inputs is empty: send at least one row");
  const rows = inputs.every((r) => typeof r === "number") ? [inputs as number[]] : inputs;
  let width: number | undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row)) throw new UnprocessableError(`inputs[${i}] must be an array of numbers`);
    if (width === undefined) width = row.length;
    else if (row.length !== width) throw new UnprocessableError(`rows have different lengths: inputs[0] has ${width} values, inputs[${i}] has ${row.length}`);
    for (let j = 0; j < row.length; j++) {
      if (typeof row[j] !== "number" || !Number.isFinite(row[j])) throw new UnprocessableError(`inputs[${i}][${j}] must be a finite number, got ${JSON.stringify(row[j])}`);
    }
  }
  return rows as number[][];
}

/** Routes under /models. */
export function predictRoutes(deps: { registry: ModelRegistry }) {
  return new Hono().post(
    "/:name/predict",
    bodyLimit({
      maxSize: MAX_PREDICT_BODY_BYTES,
      onError: () => {
        throw new PayloadTooLargeError(`request body is larger than ${MAX_PREDICT_BODY_BYTES} bytes`);
      },
    }),
    async (c) => {
      const name = c.req.param("name");
      const lease = deps.registry.acquire(name);
      if (!lease) throw new NotFoundError(`no model named "${name}" is serving`);
      try {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw new BadRequestError("request body is not valid JSON");
        }
        const out = await lease.model.predictRows(decodeRows(body));
        c.header("X-Model-Version", String(lease.version));
        return c.json({ model: name, version: lease.version, predictions: out.predictions, ...(out.probabilities && { probabilities: out.probabilities }) });
      } finally {
        lease.done();
      }
    },
  );
}
