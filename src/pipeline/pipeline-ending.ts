// The one place a pipeline ends. Whatever ends it (its run succeeding or failing, a cancel with or without a job,
// a newer push superseding it, start-up finding it interrupted), the end is recorded, published on the log bus and
// told to every listener (commit statuses, MLflow) here, once.
import type { Logger } from "../lib/logger.ts";
import type { LogBus } from "./log-bus.ts";
import type { PipelineFailure } from "./pipeline-failure.ts";
import type { PipelineStatus } from "./pipeline-states.ts";
import type { PipelineStore } from "./pipeline-store.ts";

export type EndStatus = Exclude<PipelineStatus, "queued" | "running">;
export type PipelineEnd = { id: number; status: EndStatus; failure: PipelineFailure | null };
/** Told of each pipeline end, once. Must not throw or wait (queue work instead); a throw is logged and ignored. */
export type EndListener = (end: PipelineEnd) => void;

export class PipelineEnding {
  private readonly listeners: EndListener[] = [];

  constructor(
    private readonly store: PipelineStore,
    private readonly bus: LogBus,
    private readonly logger?: Logger,
  ) {}

  /** Add a listener; it hears every end recorded after this call. */
  listen(listener: EndListener): void {
    this.listeners.push(listener);
  }

  /**
   * End pipeline `id` with `status` and, unless it succeeded, its failure. Returns false, recording and telling
   * nothing, when it had already ended (so two racing ends, e.g. a cancel and the run's own failure, count once).
   */
  end(id: number, status: EndStatus, failure: PipelineFailure | null = null): boolean {
    if (!this.store.finish(id, status, status === "succeeded" ? null : failure)) return false;
    this.bus.done(id, status);
    const end = { id, status, failure: status === "succeeded" ? null : failure };
    for (const listener of this.listeners) {
      try {
        listener(end);
      } catch (err) {
        this.logger?.error({ pipeline: id, err }, "a listener of pipeline ends failed");
      }
    }
    return true;
  }
}
