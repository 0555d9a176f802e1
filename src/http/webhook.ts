// POST /webhook/github (signed GitHub deliveries, each recorded once) and GET /api/deliveries for operators. The
// deciding and recording is src/github/deliveries.ts; this file verifies, reads headers and answers.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import { STORED_OUTCOMES, type Deliveries } from "../github/deliveries.ts";
import { WebhookVerifier } from "../github/webhook-verify.ts";
import { BadRequestError, UnauthorizedError } from "../lib/errors.ts";
import { limitBody } from "./body-limit.ts";
import { onInvalid } from "./validation.ts";

/** GitHub's own cap on a delivery; anything larger is refused before it is read in full. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/** Route for /webhook: `POST /github`. */
export function webhookRoutes(deps: { deliveries: Pick<Deliveries, "receive">; webhookSecret: string }) {
  const verifier = new WebhookVerifier(deps.webhookSecret);
  return new Hono().post("/github", limitBody(MAX_WEBHOOK_BYTES, `webhook body is larger than ${MAX_WEBHOOK_BYTES / 1024 / 1024} MB`), async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const text = await verifier.verify(raw, c.req.header("x-hub-signature-256"));
    if (text === null) throw new UnauthorizedError("invalid signature");
    const event = c.req.header("x-github-event")?.trim();
    const deliveryId = c.req.header("x-github-delivery")?.trim();
    if (!event || event.length > 100) throw new BadRequestError("missing or invalid X-GitHub-Event header");
    if (!deliveryId || deliveryId.length > 200) throw new BadRequestError("missing or invalid X-GitHub-Delivery header");
    const answer = await deps.deliveries.receive({ deliveryId, event, json: payloadText(text, c.req.header("content-type")) });
    return c.json(answer.body, answer.status);
  });
}

// GitHub's default content type for a new webhook is form-encoded, with the JSON in the `payload` field.
function payloadText(text: string, contentType: string | undefined): string {
  if (!contentType?.toLowerCase().startsWith("application/x-www-form-urlencoded")) return text;
  const payload = new URLSearchParams(text).get("payload");
  if (payload === null) throw new BadRequestError("form-encoded webhook body has no payload field");
  return payload;
}

const deliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  outcome: z.enum(STORED_OUTCOMES).optional(),
});

/** Routes under /api/deliveries: `GET /?limit=&outcome=`, newest first, without payloads. */
export function deliveryRoutes(deps: { deliveries: Pick<Deliveries, "list"> }) {
  return new Hono().get("/", zValidator("query", deliveriesQuery, onInvalid), (c) => c.json({ deliveries: deps.deliveries.list(c.req.valid("query")) }));
}
