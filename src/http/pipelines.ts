// /api/pipelines: list, detail, log text, live events (SSE), cancel, retry.
import { GoneError } from "../lib/errors.ts";
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import type { LogBus } from "../pipeline/log-bus.ts";
import { PIPELINE_STATUSES } from "../pipeline/pipeline-states.ts";
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import { pipelineDetail, pipelineJson } from "../pipeline/pipeline-view.ts";
import { streamPipelineEvents, type EventRenderer } from "./pipeline-event-stream.ts";
import type { MlflowSyncView } from "../mlflow/mlflow-tracking.ts";
import { idParam, onInvalid } from "./validation.ts";

export type PipelineActions = {
  /** Cancel a queued or running pipeline; throws ConflictError when it already ended. */
  cancel(id: number): Promise<void>;
  /** Start a new pipeline for the same commit and notebook; returns its id. */
  retry(id: number): Promise<number>;
};

const listQuery = z.object({
  repo: z.coerce.number().int().positive().optional(),
  status: z.enum(PIPELINE_STATUSES).optional(),
  model: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

// The API's events: `log` and `status` carry JSON, `done` the final status.
const jsonEvents: EventRenderer = {
  log: (l) => ({ id: String(l.seq), event: "log", data: JSON.stringify({ seq: l.seq, stream: l.stream, line: l.line, at: l.at }) }),
  status: (e) => ({ event: "status", data: JSON.stringify({ status: e.status, phase: e.phase, phase_status: e.phaseStatus }) }),
  done: (status) => ({ event: "done", data: JSON.stringify({ status }) }),
};

/** Routes under /api/pipelines. */
export function pipelineRoutes(deps: {
  pipelineStore: PipelineStore;
  bus: LogBus;
  pipelineActions: PipelineActions;
  mlflowView?: (id: number) => MlflowSyncView | null;
  /** The Ray dashboard's page of a job; absent with the local runner. */
  jobDashboard?: (jobId: string) => string;
  repoName?: (repoId: number) => string | undefined;
}) {
  const { pipelineStore: store, bus, pipelineActions: actions } = deps;
  return new Hono()
    .get("/", zValidator("query", listQuery, onInvalid), (c) => {
      const q = c.req.valid("query");
      return c.json({ pipelines: store.list({ repoId: q.repo, status: q.status, model: q.model, limit: q.limit }).map((p) => pipelineJson(p)) });
    })
    .get("/:id", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      return c.json(pipelineDetail({ store, repoName: deps.repoName, mlflowView: deps.mlflowView, jobDashboard: deps.jobDashboard }, id));
    })
    .get("/:id/logs", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      const removedAt = store.get(id).filesRemovedAt;
      if (removedAt) throw new GoneError(`pipeline ${id}'s log was removed by retention (RETENTION_DAYS) on ${removedAt}`);
      const text = store
        .logs(id)
        // Ray's own lines (its setup of the job) are marked, as the page marks them.
        .map((l) => `${l.stream === "ray" ? "[ray] " : ""}${l.line}\n`)
        .join("");
      return c.text(text);
    })
    .get("/:id/events", zValidator("param", idParam, onInvalid), (c) => {
      const { id } = c.req.valid("param");
      return streamPipelineEvents(c, { store, bus }, id, jsonEvents);
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
