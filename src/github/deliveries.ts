// Webhook deliveries as a service: deciding a verified delivery and recording it once (group commit), listing what
// arrived, and noting what a push's intake did. The HTTP route (src/http/webhook.ts) only verifies and answers.
import { desc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/connection.ts";
import { GroupCommit } from "../db/group-commit.ts";
import { webhookDeliveries } from "../db/schema.ts";
import { BadRequestError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { Repo, RepoStore } from "../repos/repo-store.ts";
import { classifyPush, pushPayloadSchema, type PushPayload } from "./push-event.ts";

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
export const STORED_OUTCOMES = Object.freeze(["ping", "ignored", "accepted", "refused"] as const);
export type StoredOutcome = (typeof STORED_OUTCOMES)[number];

/** The HTTP answer to a delivery. */
export type DeliveryAnswer = { status: 200 | 202; body: Record<string, unknown> };

/** A delivery as operators list it (no payload). */
export type DeliveryView = { id: string; event: string; repo_full_name: string | null; outcome: string; detail: string | null; received_at: string };

type Decision =
  | { outcome: "ping" | "ignored"; detail: string; body: Record<string, unknown> }
  | { outcome: "accepted"; detail: string; repo: Repo; payload: PushPayload };

export type DeliveriesDeps = { db: Db; repos: RepoStore; acceptPush: AcceptPush; logger: Logger };

export class Deliveries {
  private readonly insert;
  private readonly group: GroupCommit;

  constructor(private readonly deps: DeliveriesDeps) {
    // Prepared once: this runs for every delivery (thousands per second).
    this.insert = deps.db
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
    this.group = new GroupCommit(deps.db.$client);
  }

  /**
   * Decide a verified delivery (`json` is its payload text) and record it in its own savepoint of a shared immediate
   * transaction, resolving after COMMIT. The row is inserted first (primary key = delivery id), so a repeated id, even
   * two arriving at once, is a duplicate and starts nothing. Throws BadRequestError for malformed JSON or a push
   * payload missing fields we use (nothing stored).
   */
  async receive(input: { deliveryId: string; event: string; json: string }): Promise<DeliveryAnswer> {
    const { deliveryId, event, json } = input;
    const payload = parseJson(json);
    const { outcome, answer } = await this.group.run(() => this.decideAndRecord(deliveryId, event, json, payload));
    const { logger } = this.deps;
    if (outcome === "accepted" || logger.isLevelEnabled("debug")) {
      logger[outcome === "accepted" ? "info" : "debug"]({ delivery: deliveryId, event, repo: repositoryName(payload), outcome }, "webhook delivery");
    }
    return answer;
  }

  /** The newest `limit` deliveries (optionally of one outcome), newest first, without payloads. */
  list(opts: { limit: number; outcome?: StoredOutcome }): DeliveryView[] {
    return this.deps.db
      .select({
        id: webhookDeliveries.id,
        event: webhookDeliveries.event,
        repo_full_name: webhookDeliveries.repoFullName,
        outcome: webhookDeliveries.outcome,
        detail: webhookDeliveries.detail,
        received_at: webhookDeliveries.receivedAt,
      })
      .from(webhookDeliveries)
      .where(opts.outcome ? eq(webhookDeliveries.outcome, opts.outcome) : undefined)
      .orderBy(desc(sql`rowid`))
      .limit(opts.limit)
      .all();
  }

  // Runs inside a GroupCommit savepoint: a throw (e.g. from acceptPush) undoes this delivery's writes alone.
  private decideAndRecord(deliveryId: string, event: string, json: string, payload: unknown): { outcome: DeliveryOutcome; answer: DeliveryAnswer } {
    const decision = decide(this.deps.repos, event, payload);
    const inserted = this.insert.get({
      id: deliveryId,
      event,
      repoFullName: repositoryName(payload),
      outcome: decision.outcome,
      detail: decision.detail,
      payload: decision.outcome === "accepted" ? json : null,
    });
    if (!inserted) return { outcome: "duplicate", answer: { status: 200, body: { duplicate: true, delivery: deliveryId } } };
    if (decision.outcome !== "accepted") return { outcome: decision.outcome, answer: { status: 200, body: decision.body } };
    const result = this.deps.acceptPush({ deliveryId, repo: decision.repo, payload: decision.payload });
    return { outcome: "accepted", answer: { status: 202, body: result } };
  }
}

/** Record on delivery `deliveryId` what its push's intake did (its detail), and `refused` when it ran nothing. */
export function noteDelivery(db: Db, deliveryId: string, detail: string, outcome?: "refused"): void {
  db.update(webhookDeliveries)
    .set(outcome ? { detail, outcome } : { detail })
    .where(eq(webhookDeliveries.id, deliveryId))
    .run();
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
