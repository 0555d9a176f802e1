// One pipeline's events as Server-Sent Events: stored log lines first, then live ones, then `done`.
// The JSON API and the log on the pipeline page share this loop and differ only in how events are rendered.
import type { Context } from "hono";
import { streamSSE, type SSEMessage } from "hono/streaming";
import type { BusEvent, LogBus } from "../pipeline/log-bus.ts";
import { TERMINAL_STATUSES, type PipelineStatus } from "../pipeline/pipeline-states.ts";
import type { LogLine, PipelineStore } from "../pipeline/pipeline-store.ts";

/** How events become SSE messages; `status` may return undefined to leave status changes out. */
export type EventRenderer = {
  log(line: LogLine): SSEMessage;
  status(e: Extract<BusEvent, { type: "status" }>): SSEMessage | undefined;
  /** The messages that end the stream (the last one named `done`). */
  done(status: string): SSEMessage | SSEMessage[];
};

const PING_MS = 15_000;

/** The seq a stream request resumes after: its `Last-Event-ID` (a reconnect), else `?after=`, else 0 (from the start). */
export function resumeAfter(c: Context): number {
  return Number(c.req.header("last-event-id") ?? c.req.query("after") ?? 0) || 0;
}

/**
 * Stream pipeline `id`'s events from after `Last-Event-ID` (or `?after=`), ending with `done` once it ended, or
 * without it when the bus closes (server stopping).
 * Throws NotFoundError (before any byte is sent) when the pipeline does not exist.
 */
export function streamPipelineEvents(c: Context, deps: { store: PipelineStore; bus: LogBus }, id: number, render: EventRenderer): Response {
  const { store, bus } = deps;
  store.get(id);
  const after = resumeAfter(c);
  // Bun closes idle connections after its idleTimeout; a log stream may be quiet for minutes.
  (c.env as { timeout?: (r: Request, s: number) => void } | undefined)?.timeout?.(c.req.raw, 0);
  return streamSSE(c, async (stream) => {
    // Subscribe before replaying, so nothing printed in between is lost; seq filters the overlap.
    const queue: BusEvent[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = bus.subscribe(id, (e) => {
      queue.push(e);
      wake?.();
    });
    stream.onAbort(() => {
      unsubscribe();
      wake?.();
    });
    let lastSeq = after;
    try {
      for (const l of store.logs(id, after)) {
        await stream.writeSSE(render.log(l));
        lastSeq = l.seq;
      }
      const current = store.get(id).status;
      if (TERMINAL_STATUSES.includes(current)) {
        for (const m of [render.done(current)].flat()) await stream.writeSSE(m);
        return;
      }
      while (!stream.aborted) {
        if (!queue.length) {
          const timer = setTimeout(() => wake?.(), PING_MS);
          await new Promise<void>((r) => (wake = r));
          clearTimeout(timer);
          wake = undefined;
          if (!queue.length && !stream.aborted) await stream.write(": ping\n\n");
          continue;
        }
        const e = queue.shift()!;
        if (e.type === "log") {
          if (e.seq <= lastSeq) continue;
          lastSeq = e.seq;
          await stream.writeSSE(render.log({ seq: e.seq, stream: e.stream, line: e.line, at: e.at }));
        } else if (e.type === "status") {
          const message = render.status(e);
          if (message) await stream.writeSSE(message);
        } else if (e.type === "done") {
          for (const m of [render.done(e.status)].flat()) await stream.writeSSE(m);
          return;
        } else {
          // The server is stopping: end the stream without `done`, so a client reconnects (Last-Event-ID) to the next server.
          return;
        }
      }
    } finally {
      unsubscribe();
    }
  });
}
