// In-process log bus: stores each pipeline log line with a sequence number, then hands it to live subscribers.
// Every line is cut to a maximum length, and a pipeline's notebook output to a maximum size: past it, one marker
// line, then the rest of that output is dropped (the platform's own "mlops" lines are still kept).
import { cutLine } from "../lib/log-lines.ts";
import type { PipelineStore } from "./pipeline-store.ts";

/** Bounds on what one pipeline's log may hold. */
export type LogLimits = { maxLineChars: number; maxOutputBytes: number };

/** Generous bounds for tests and tools that do not configure them. */
export const DEFAULT_LOG_LIMITS: LogLimits = { maxLineChars: 10_000, maxOutputBytes: 20 * 1024 * 1024 };

/** The stream of the platform's own lines; every other stream is output of pushed code. */
const PLATFORM_STREAM = "mlops";

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
  private readonly counters = new Map<number, { seq: number; outputBytes: number; full: boolean }>();
  private closed = false;

  constructor(
    private readonly store: PipelineStore,
    private readonly limits: LogLimits = DEFAULT_LOG_LIMITS,
  ) {}

  /**
   * Store a line (cut to the line limit; next seq for the pipeline), then publish it. Returns the seq, or undefined
   * when the line was dropped because the pipeline's output passed its size limit.
   */
  append(pipelineId: number, stream: string, line: string): number | undefined {
    let c = this.counters.get(pipelineId);
    if (c === undefined) {
      const outputBytes = this.store.logBytes(pipelineId, PLATFORM_STREAM);
      c = { seq: this.store.lastLogSeq(pipelineId), outputBytes, full: outputBytes > this.limits.maxOutputBytes };
      this.counters.set(pipelineId, c);
    }
    const text = cutLine(line, this.limits.maxLineChars);
    if (stream !== PLATFORM_STREAM) {
      if (c.full) return undefined;
      c.outputBytes += Buffer.byteLength(text) + 1;
      if (c.outputBytes > this.limits.maxOutputBytes) {
        c.full = true;
        return this.record(
          pipelineId,
          c,
          PLATFORM_STREAM,
          `log limit reached: the notebook wrote more than NOTEBOOK_LOG_MAX_BYTES=${this.limits.maxOutputBytes} bytes of output; the rest of its output is dropped`,
        );
      }
    }
    return this.record(pipelineId, c, stream, text);
  }

  private record(pipelineId: number, c: { seq: number }, stream: string, line: string): number {
    c.seq += 1;
    const at = Date.now();
    this.store.appendLogs(pipelineId, [{ seq: c.seq, stream, line, at }]);
    this.emit(pipelineId, { type: "log", seq: c.seq, stream, line, at });
    return c.seq;
  }

  /** Publish a status change (not stored here: the pipeline row is the record). */
  status(pipelineId: number, status: string, phase?: string, phaseStatus?: string): void {
    this.emit(pipelineId, { type: "status", status, phase, phaseStatus });
  }

  /** Publish the end of a pipeline and forget its sequence counter. */
  done(pipelineId: number, status: string): void {
    this.emit(pipelineId, { type: "done", status });
    this.counters.delete(pipelineId);
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
