// /api/pipelines: list, detail, log text, live events (SSE), cancel, retry.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { BusEvent, LogBus } from "../pipeline/log-bus.ts";
import { TERMINAL_STATUSES, type PipelineStatus } from "../pipeline/pipeline-states.ts";
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import { pipelineJson } from "../pipeline/pipeline-view.ts";
import { idParam, onInvalid } from "./validation.ts";

export type PipelineActions = {
  /** Cancel a queued or running pipeline; throws ConflictError when it already ended. */
  cancel(id: number): Promise<void>;
  /** Start a new pipeline for the same commit and notebook; returns its id. */
  retry(id: number): Promise<number>;
};

const listQuery = z.object({
  repo: z.coerce.number().int().positive().optional(),
  status: z.enum(["queued", "running", "succeeded", "failed", "cancelled", "timed_out", "superseded"]).optional(),
  model: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const PING_MS = 15_000;

/** Routes under /api/pipelines. */
export function pipelineRoutes(deps: { pipelineStore: PipelineStore; bus: LogBus; pipelineActions: PipelineActions }) {
  const { pipelineStore: store, bus, pipelineActions: actions } = deps;
  return new Hono()
    .get("/", zValidator("query", listQuery, onInvalid), (c) => {
      const q = c.req.valid("query");
      return c.json({ pipelines: store.list({ repoId: q.repo, status: q.status, model: q.model, limit: q.limit }).map((p) => pipelineJson(p)) });
    })
    .get("/:id", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      return c.json(pipelineJson(store.get(id), store.phases(id)));
    })
    .get("/:id/logs", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      store.get(id);
      const text = store.logs(id).map((l) => `${l.line}\n`).join("");
      return c.text(text);
    })
    .get("/:id/events", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      store.get(id);
      const after = Number(c.req.header("last-event-id") ?? c.req.query("after") ?? 0) || 0;
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
            await stream.writeSSE({ id: String(l.seq), event: "log", data: JSON.stringify(l) });
            lastSeq = l.seq;
          }
          const current = store.get(id).status as PipelineStatus;
          if (TERMINAL_STATUSES.includes(current)) {
            await stream.writeSSE({ event: "done", data: JSON.stringify({ status: current }) });
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
              await stream.writeSSE({ id: String(e.seq), event: "log", data: JSON.stringify({ seq: e.seq, stream: e.stream, line: e.line, at: e.at }) });
            } else if (e.type === "status") {
              await stream.writeSSE({ event: "status", data: JSON.stringify({ status: e.status, phase: e.phase, phase_status: e.phaseStatus }) });
            } else {
              await stream.writeSSE({ event: "done", data: JSON.stringify({ status: e.status }) });
              return;
            }
          }
        } finally {
          unsubscribe();
        }
      });
    })
    .post("/:id/cancel", zValidator("param", idParam, onInvalid), async (c) => {
      const { id } = c.req.valid("param");
      await actions.cancel(id);
      return c.json(pipelineJson(store.get(id), store.phases(id)));
    })
    .post("/:id/retry", zValidator("param", idParam, onInvalid), async (c) => {
      const { id } = c.req.valid("param");
      const newId = await actions.retry(id);
      return c.json(pipelineJson(store.get(newId), store.phases(newId)), 202);
    });
}
