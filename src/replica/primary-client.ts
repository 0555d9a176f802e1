// The replica's side of replication: follows the primary's deployments stream (reconnecting with backoff, a silent
// connection counted dead) and downloads model files, checking each against the state's sha256 and size.
import { createHash } from "node:crypto";
import { open, rm } from "node:fs/promises";
import type { Logger } from "../lib/logger.ts";
import { checkState, type ModelState } from "./model-cache.ts";
import { chunksOf, readSse } from "./sse-reader.ts";
import { Reachability, WakeableWait } from "./source-reachability.ts";
import { type DesiredStateSource, IntegrityError, type SourceStatus, type StateHandlers } from "./state-source.ts";

export type PrimaryClientOptions = {
  url: string;
  token: string;
  logger: Logger;
  /** A connection that sends no byte for this long is dead (the primary pings every 15 s). Default 30 s. */
  idleMs?: number;
  /** Reconnect backoff: the first wait, doubled after each failure up to the cap. Default 0.5 s → 10 s. */
  backoffMs?: { first: number; max: number };
};

/** Follows one primary. follow() starts the loop; close() ends it. */
export class PrimaryClient implements DesiredStateSource {
  readonly kind = "primary";
  private readonly idleMs: number;
  private readonly backoff: { first: number; max: number };
  private readonly state: SourceStatus;
  private closed = false;
  private current?: AbortController;
  // Aborts downloads in flight when the replica stops (a reconnect of the stream leaves them alone).
  private readonly closing = new AbortController();
  private readonly wait = new WakeableWait();
  private readonly reachability: Reachability;

  constructor(private readonly opts: PrimaryClientOptions) {
    this.idleMs = opts.idleMs ?? 30_000;
    this.backoff = opts.backoffMs ?? { first: 500, max: 10_000 };
    this.state = { kind: "primary", url: opts.url, reachable: false, since: new Date().toISOString() };
    this.reachability = new Reachability(
      this.state,
      opts.logger,
      { primary: opts.url },
      {
        up: "following the primary's deployments",
        down: "the primary cannot be reached; serving what is loaded and retrying",
      },
    );
  }

  /** A copy of what is known of the primary now. */
  status(): SourceStatus {
    return { ...this.state };
  }

  /**
   * Connect and keep connected until close(): `onState` hears every state event (checked by checkState), in order;
   * `onDown` hears each failed or lost connection with the reason. Neither may throw. Call once.
   */
  follow(handlers: StateHandlers): void {
    void this.loop(handlers);
  }

  /** Stop following: the open connection is cut and no new one is made. Idempotent. */
  close(): void {
    this.closed = true;
    this.current?.abort(new Error("the replica is stopping"));
    this.closing.abort(new Error("the replica is stopping"));
    this.wait.wake();
  }

  /**
   * Download `name`@`version` into `dest` (created, fsync'd), refusing it with IntegrityError unless its size and
   * sha256 are those of `expected` (and of the primary's X-Model-Sha256 header); other failures throw Error with the
   * reason. On any failure `dest` is removed.
   */
  async download(name: string, version: number, expected: ModelState, dest: string): Promise<void> {
    const url = `${this.opts.url}/api/replication/models/${encodeURIComponent(name)}/versions/${version}/model.onnx`;
    const ac = new AbortController();
    const onClose = () => ac.abort(this.closing.signal.reason);
    this.closing.signal.addEventListener("abort", onClose, { once: true });
    let idle = setTimeout(() => ac.abort(new Error(`no byte of the file for ${this.idleMs} ms`)), this.idleMs);
    const file = await open(dest, "wx", 0o600);
    try {
      const res = await fetch(url, { headers: { Authorization: `Bearer ${this.opts.token}` }, signal: ac.signal });
      if (!res.ok || !res.body) throw new Error(`the primary answered ${res.status} for ${name} version ${version}: ${await errorOf(res)}`);
      const header = res.headers.get("x-model-sha256");
      if (header !== null && header !== expected.sha256)
        throw new IntegrityError(`the primary's file of ${name} version ${version} is announced with sha256 ${header}, not ${expected.sha256} as in its state`);
      const hash = createHash("sha256");
      let size = 0;
      for await (const chunk of chunksOf(res.body)) {
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(new Error(`no byte of the file for ${this.idleMs} ms`)), this.idleMs);
        size += chunk.byteLength;
        if (size > expected.size)
          throw new IntegrityError(`the primary's file of ${name} version ${version} is larger than the ${expected.size} bytes of its state`);
        hash.update(chunk);
        await file.write(chunk);
      }
      const sha = hash.digest("hex");
      if (size !== expected.size || sha !== expected.sha256)
        throw new IntegrityError(
          `the primary's file of ${name} version ${version} (${size} bytes, sha256 ${sha}) does not match its state (${expected.size} bytes, sha256 ${expected.sha256})`,
        );
      await file.sync();
    } catch (e) {
      await file.close().catch(() => undefined);
      await rm(dest, { force: true });
      throw e;
    } finally {
      clearTimeout(idle);
      this.closing.signal.removeEventListener("abort", onClose);
    }
    await file.close();
  }

  private async loop(handlers: StateHandlers): Promise<void> {
    let wait = this.backoff.first;
    while (!this.closed) {
      const ac = new AbortController();
      this.current = ac;
      let idle: ReturnType<typeof setTimeout> | undefined;
      const watch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(new Error(`no byte from the primary for ${this.idleMs / 1000} s`)), this.idleMs);
      };
      const alive = () => {
        this.state.lastContactAt = Date.now();
        watch();
      };
      try {
        watch();
        // No Last-Event-ID: every connection starts with the whole state, so a reconnect also retries what failed.
        const res = await fetch(`${this.opts.url}/api/replication/deployments`, {
          headers: { Authorization: `Bearer ${this.opts.token}`, Accept: "text/event-stream" },
          signal: ac.signal,
        });
        if (!res.ok || !res.body) throw new Error(`the primary answered ${res.status}: ${await errorOf(res)}`);
        alive();
        await readSse(res.body, {
          onBytes: alive,
          onMessage: (m) => {
            if (m.event !== "state") return;
            const state = checkState(JSON.parse(m.data));
            this.reachability.up();
            wait = this.backoff.first;
            handlers.onState(state);
          },
        });
        throw new Error("the primary closed the deployments stream");
      } catch (e) {
        clearTimeout(idle);
        if (this.closed) break;
        const reason = ac.signal.aborted && ac.signal.reason instanceof Error ? ac.signal.reason.message : describe(e);
        this.reachability.down(reason, wait);
        handlers.onDown?.(reason);
        await this.wait.sleep(wait);
        wait = Math.min(wait * 2, this.backoff.max);
      } finally {
        clearTimeout(idle);
      }
    }
  }
}

async function errorOf(res: Response): Promise<string> {
  const text = (await res.text().catch(() => "")).slice(0, 500);
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === "string") return error;
  } catch {}
  return text || res.statusText;
}

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message !== e.message ? `${e.message} (${cause.message})` : e.message;
}
