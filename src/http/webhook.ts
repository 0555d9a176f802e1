// POST /webhook/github (signed GitHub deliveries, each recorded once) and GET /api/deliveries for operators.
import { zValidator } from "@hono/zod-validator";
import { desc, eq, sql } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import type { Db } from "../db/connection.ts";
import { GroupCommit } from "../db/group-commit.ts";
import { webhookDeliveries } from "../db/schema.ts";
import { classifyPush, pushPayloadSchema, type PushPayload } from "../github/push-event.ts";
import { WebhookVerifier } from "../github/webhook-verify.ts";
import { BadRequestError, UnauthorizedError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Repo, RepoStore } from "../repos/repo-store.ts";
import { limitBody } from "./body-limit.ts";
import { onInvalid } from "./validation.ts";

/** GitHub's own cap on a delivery; anything larger is refused before it is read in full. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export type AcceptPushResult = { [key: string]: unknown };

/**
 * Queue the work for a push that runs (e.g. `{ queued: true, job_id }`). Called synchronously inside the
 * SQLite transaction that records the delivery, on the same connection: what it writes commits with the
 * delivery row, and if it throws both are rolled back (GitHub sees a 500 and may redeliver). No git or
 * network work here. The raw payload is stored in webhook_deliveries.payload for the background job.
 */
export type AcceptPush = (input: { deliveryId: string; repo: Repo; payload: PushPayload }) => AcceptPushResult;

/**
 * What became of a delivery. The first three are stored in webhook_deliveries.outcome when it arrives; a duplicate
 * leaves the first row as it was. An accepted push becomes `refused` when its background intake finds its commit is
 * not on the registered branch (src/pipeline/pipeline-service.ts).
 */
export type DeliveryOutcome = "ping" | "ignored" | "accepted" | "duplicate";

/** Every value webhook_deliveries.outcome may hold. */
export const STORED_OUTCOMES = ["ping", "ignored", "accepted", "refused"] as const;

type Decision = { outcome: "ping" | "ignored"; detail: string; body: Record<string, unknown> } | { outcome: "accepted"; detail: string; repo: Repo; payload: PushPayload };

type Answer = { status: 200 | 202; body: Record<string, unknown> };

/** Route for /webhook: `POST /github`. */
export function webhookRoutes(deps: { db: Db; repos: RepoStore; webhookSecret: string; acceptPush: AcceptPush; logger: Logger }) {
  const verifier = new WebhookVerifier(deps.webhookSecret);
  const receive = deliveryIntake(deps);
  return new Hono().post("/github", limitBody(MAX_WEBHOOK_BYTES, `webhook body is larger than ${MAX_WEBHOOK_BYTES / 1024 / 1024} MB`), async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const text = await verifier.verify(raw, c.req.header("x-hub-signature-256"));
    if (text === null) throw new UnauthorizedError("invalid signature");
    const event = c.req.header("x-github-event")?.trim();
    const deliveryId = c.req.header("x-github-delivery")?.trim();
    if (!event || event.length > 100) throw new BadRequestError("missing or invalid X-GitHub-Event header");
    if (!deliveryId || deliveryId.length > 200) throw new BadRequestError("missing or invalid X-GitHub-Delivery header");
    const answer = await receive({ deliveryId, event, json: payloadText(text, c.req.header("content-type")) });
    return c.json(answer.body, answer.status);
  });
}

/**
 * The service behind the route: `receive({ deliveryId, event, json })` decides a verified delivery and
 * records it in its own savepoint of a shared immediate transaction (group commit), resolving after COMMIT. The row is inserted first (primary key = delivery id), so a
 * repeated id — even two arriving at once — is a duplicate and starts nothing. Throws BadRequestError for
 * malformed JSON or a push payload missing fields we use (nothing stored).
 */
export function deliveryIntake(deps: { db: Db; repos: RepoStore; acceptPush: AcceptPush; logger: Logger }) {
  // Prepared once: this runs for every delivery (SPEC §7 asks for thousands per second).
  const insert = deps.db
    .insert(webhookDeliveries)
    .values({
      id: sql.placeholder("id"),
      event: sql.placeholder("event"),
      repoFullName: sql.placeholder("repoFullName"),
      outcome: sql.placeholder("outcome"),
      detail: sql.placeholder("detail"),
      payload: sql.placeholder("payload"),
    })
    .onConflictDoNothing()
    .returning({ id: webhookDeliveries.id })
    .prepare();

  // Runs inside a GroupCommit savepoint: a throw (e.g. from acceptPush) undoes this delivery's writes alone.
  const decideAndRecord = (deliveryId: string, event: string, json: string, payload: unknown): { outcome: DeliveryOutcome; answer: Answer } => {
    const decision = decide(deps.repos, event, payload);
    const inserted = insert.get({
      id: deliveryId,
      event,
      repoFullName: repositoryName(payload),
      outcome: decision.outcome,
      detail: decision.detail,
      payload: decision.outcome === "accepted" ? json : null,
    });
    if (!inserted) return { outcome: "duplicate", answer: { status: 200, body: { duplicate: true, delivery: deliveryId } } };
    if (decision.outcome !== "accepted") return { outcome: decision.outcome, answer: { status: 200, body: decision.body } };
    const result = deps.acceptPush({ deliveryId, repo: decision.repo, payload: decision.payload });
    return { outcome: "accepted", answer: { status: 202, body: result } };
  };

  const group = new GroupCommit(deps.db.$client);
  return async (input: { deliveryId: string; event: string; json: string }): Promise<Answer> => {
    const { deliveryId, event, json } = input;
    const payload = parseJson(json);
    const { outcome, answer } = await group.run(() => decideAndRecord(deliveryId, event, json, payload));
    if (outcome === "accepted" || deps.logger.isLevelEnabled("debug")) {
      deps.logger[outcome === "accepted" ? "info" : "debug"]({ delivery: deliveryId, event, repo: repositoryName(payload), outcome }, "webhook delivery");
    }
    return answer;
  };
}

function decide(repos: RepoStore, event: string, payload: unknown): Decision {
  if (event === "ping") {
    const zen = (payload as { zen?: unknown }).zen;
    return { outcome: "ping", detail: typeof zen === "string" ? zen : "", body: { ok: true, zen: typeof zen === "string" ? zen : null } };
  }
  if (event !== "push") {
    const reason = `${event} events are not used`;
    return { outcome: "ignored", detail: reason, body: { ignored: reason } };
  }
  const parsed = pushPayloadSchema.safeParse(payload);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "body"}: ${i.message}`);
    throw new BadRequestError(`push payload is missing fields we use: ${problems.join("; ")}`, { problems });
  }
  const repo = repos.getByFullName(parsed.data.repository.full_name);
  const decision = classifyPush(parsed.data, repo);
  if (decision.action === "ignore") return { outcome: "ignored", detail: decision.reason, body: { ignored: decision.reason } };
  return { outcome: "accepted", detail: `push to ${decision.branch} at ${parsed.data.after}`, repo: repo!, payload: parsed.data };
}

// GitHub's default content type for a new webhook is form-encoded, with the JSON in the `payload` field.
function payloadText(text: string, contentType: string | undefined): string {
  if (!contentType?.toLowerCase().startsWith("application/x-www-form-urlencoded")) return text;
  const payload = new URLSearchParams(text).get("payload");
  if (payload === null) throw new BadRequestError("form-encoded webhook body has no payload field");
  return payload;
}

function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`webhook body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BadRequestError("webhook body must be a JSON object");
  return value;
}

function repositoryName(payload: unknown): string | null {
  const name = (payload as { repository?: { full_name?: unknown } }).repository?.full_name;
  return typeof name === "string" ? name : null;
}

const deliveriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  outcome: z.enum(STORED_OUTCOMES).optional(),
});

/** Routes under /api/deliveries: `GET /?limit=&outcome=`, newest first, without payloads. */
export function deliveryRoutes(deps: { db: Db }) {
  return new Hono().get("/", zValidator("query", deliveriesQuery, onInvalid), (c) => {
    const { limit, outcome } = c.req.valid("query");
    const rows = deps.db
      .select({
        id: webhookDeliveries.id,
        event: webhookDeliveries.event,
        repo_full_name: webhookDeliveries.repoFullName,
        outcome: webhookDeliveries.outcome,
        detail: webhookDeliveries.detail,
        received_at: webhookDeliveries.receivedAt,
      })
      .from(webhookDeliveries)
      .where(outcome ? eq(webhookDeliveries.outcome, outcome) : undefined)
      .orderBy(desc(sql`rowid`))
      .limit(limit)
      .all();
    return c.json({ deliveries: rows });
  });
}
