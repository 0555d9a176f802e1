// The primary's side of following deployments: the desired state read on demand, and a signal to every open
// replication stream on each deploy, rollback and undeploy (the deployer's onChange), and once when the server stops.
import type { Db } from "../db/connection.ts";
import type { Logger } from "../lib/logger.ts";
import type { Deployer } from "../models/deployer.ts";
import { readDesiredState, type DesiredState } from "./desired-state.ts";

/** Change notifications for the deployments stream; one per server. */
export class DeploymentsFeed {
  private readonly listeners = new Set<() => void>();
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly logger?: Logger,
  ) {}

  /** Hear every recorded deployment change of `deployer`. Call once, at start-up. */
  follow(deployer: Pick<Deployer, "onChange">): void {
    deployer.onChange(() => this.changed());
  }

  /** The desired state now (see readDesiredState). */
  current(): DesiredState {
    return readDesiredState(this.db, this.logger);
  }

  /** Tell every listener the state may have changed; they read current() themselves, so bursts coalesce. */
  changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Call `listener` on each change and once at close(); returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether close() was called: streams end instead of waiting for changes. */
  get closed(): boolean {
    return this.stopped;
  }

  /** The server is stopping: every open stream ends (a replica reconnects to the next server). Idempotent. */
  close(): void {
    this.stopped = true;
    this.changed();
  }
}
