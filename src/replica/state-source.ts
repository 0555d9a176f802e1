// Where a replica reads its desired state: a primary's deployments stream (primary-client.ts) or MLflow's "deployed"
// aliases (mlflow-source.ts). Everything else (cache, loading, swapping, health, draining) is shared and knows only this.
import type { DesiredState, ModelState } from "./model-cache.ts";

/** What a replica follows: "primary" or "mlflow". */
export type SourceKind = "primary" | "mlflow";

/** How the source stands as this replica last saw it. */
export type SourceStatus = {
  kind: SourceKind;
  /** The source's URL, without credentials. */
  url: string;
  /** Whether the source answered its last read (the primary: its stream is open). */
  reachable: boolean;
  /** When `reachable` last changed (or the source started), ISO 8601. */
  since: string;
  /** Milliseconds since the epoch of the last answer from the source; undefined before the first. */
  lastContactAt?: number;
  /** Why the source is unreachable (the last failure); absent while reachable. */
  error?: string;
};

/**
 * A model the source names but whose wanted version must not be served (MLflow: an unsigned or badly signed version
 * under the alias). The replica keeps what it serves of that model and reports `error`.
 */
export type Refusal = { wanted: number; error: string };

/** What a source hands the replica at each read: the state to serve, and the models it refuses to change. */
export type StateHandlers = {
  /** A state to serve (checked by checkState); `refused` names models to leave as they are. Must not throw. */
  onState(state: DesiredState, refused?: Record<string, Refusal>): void;
  /** A failed or lost read, with the reason. Must not throw. */
  onDown?(reason: string): void;
};

/** One source of desired states. */
export interface DesiredStateSource {
  readonly kind: SourceKind;
  /** Start reading until close(); handlers hear every state, in order. Call once. */
  follow(handlers: StateHandlers): void;
  /**
   * Download `name`@`version` into `dest` (created, fsync'd), refusing it with IntegrityError unless its size and
   * sha256 are those of `expected`; other failures throw Error with the reason. On any failure `dest` is removed.
   */
  download(name: string, version: number, expected: ModelState, dest: string): Promise<void>;
  /** A copy of what is known of the source now. */
  status(): SourceStatus;
  /** Stop reading and abort what is in flight. Idempotent. */
  close(): void;
}

/** The file the source served did not match the state (size or sha256): it is never served. */
export class IntegrityError extends Error {}
