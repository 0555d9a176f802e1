// In-process log bus: stores each pipeline log line with a sequence number, then hands it to live subscribers.
import type { PipelineStore } from "./pipeline-store.ts";

export type BusEvent =
  | { type: "log"; seq: number; stream: string; line: string; at: number }
  | { type: "status"; status: string; phase?: string; phaseStatus?: string }
  | { type: "done"; status: string }
  /** No more events will come through this bus: the server is stopping. */
  | { type: "closed" };

type Listener = (e: BusEvent) => void;

/** Durable-first publish/subscribe of pipeline events. */
export class LogBus {
  private readonly listeners = new Map<number, Set<Listener>>();
  private readonly seqs = new Map<number, number>();
  private closed = false;

  constructor(private readonly store: PipelineStore) {}

  /** Store a line (next seq for the pipeline), then publish it. Returns the seq. */
  append(pipelineId: number, stream: string, line: string): number {
    let seq = this.seqs.get(pipelineId);
    if (seq === undefined) seq = this.store.lastLogSeq(pipelineId);
    seq += 1;
    this.seqs.set(pipelineId, seq);
    const at = Date.now();
    this.store.appendLogs(pipelineId, [{ seq, stream, line, at }]);
    this.emit(pipelineId, { type: "log", seq, stream, line, at });
    return seq;
  }

  /** Publish a status change (not stored here: the pipeline row is the record). */
  status(pipelineId: number, status: string, phase?: string, phaseStatus?: string): void {
    this.emit(pipelineId, { type: "status", status, phase, phaseStatus });
  }

  /** Publish the end of a pipeline and forget its sequence counter. */
  done(pipelineId: number, status: string): void {
    this.emit(pipelineId, { type: "done", status });
    this.seqs.delete(pipelineId);
  }

  /**
   * The server is stopping: tell every subscriber, with a `closed` event, to stop listening (live log streams
   * end, so the HTTP server can close). A later subscriber gets `closed` at once. Lines are still stored. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.listeners.keys()]) this.emit(id, { type: "closed" });
  }

  /** Listen to one pipeline's events; returns the unsubscribe function. After `close()` the listener hears `closed` at once. */
  subscribe(pipelineId: number, listener: Listener): () => void {
    let set = this.listeners.get(pipelineId);
    if (!set) this.listeners.set(pipelineId, (set = new Set()));
    set.add(listener);
    if (this.closed) {
      try {
        listener({ type: "closed" });
      } catch {
        // as in emit: a broken subscriber must not break the caller
      }
    }
    return () => {
      set.delete(listener);
      if (!set.size) this.listeners.delete(pipelineId);
    };
  }

  private emit(pipelineId: number, e: BusEvent): void {
    for (const l of [...(this.listeners.get(pipelineId) ?? [])]) {
      try {
        l(e);
      } catch {
        // a broken subscriber (closed stream) must not stop the pipeline
      }
    }
  }
}
