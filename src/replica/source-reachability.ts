// What both state sources (the primary's stream, MLflow's aliases) keep about whether their source answers: reachable
// since when, the reason it does not, logged once per change rather than at every try; and the wait between tries,
// which close() cuts short.
import type { Logger } from "../lib/logger.ts";
import type { SourceStatus } from "./state-source.ts";

/** Keeps `status`'s reachable/since/error up to date and logs each change once, with `fields` naming the source. */
export class Reachability {
  constructor(
    private readonly status: SourceStatus,
    private readonly logger: Logger,
    private readonly fields: Record<string, unknown>,
    private readonly messages: { up: string; down: string },
  ) {}

  /** The source answered: reachable from now on (logged when it was not). */
  up(): void {
    if (this.status.reachable) return;
    this.status.reachable = true;
    this.status.since = new Date().toISOString();
    delete this.status.error;
    this.logger.info(this.fields, this.messages.up);
  }

  /** The source could not be read for `reason`, tried again in `retryInMs`: logged once per outage, again when the reason changes. */
  down(reason: string, retryInMs: number): void {
    if (this.status.reachable || this.status.error !== reason) this.logger.warn({ ...this.fields, reason, retry_in_ms: retryInMs }, this.messages.down);
    if (this.status.reachable) this.status.since = new Date().toISOString();
    this.status.reachable = false;
    this.status.error = reason;
  }
}

/** A wait between tries that wake() ends at once (a stopping source does not wait out its retry). */
export class WakeableWait {
  private wakeNow?: () => void;

  /** Resolves after `ms`, or at the next wake(). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeNow = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the wait in progress, if any. */
  wake(): void {
    this.wakeNow?.();
  }
}
