// The pipeline pages: the list, one pipeline with its live log, and the Cancel/Retry page actions.
import { zValidator } from "@hono/zod-validator";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { cellEndFragment, cellStartFragment, failedCellFragment, lineFragment } from "../../views/cell-log.tsx";
import { PipelinePage } from "../../views/pipeline-page.tsx";
import { PipelineRows } from "../../views/pipeline-rows.tsx";
import { PipelineSummary, type PipelineDetail } from "../../views/pipeline-summary.tsx";
import { PipelinesPage } from "../../views/pipelines-page.tsx";
import { type CellLogDeps, pipelineCellLog, resumedCellGrouper } from "../notebooks/pipeline-cell-log.ts";
import { isTerminalStatus, PipelineStatus } from "../pipeline/pipeline-states.ts";
import { pipelineDetail, pipelineJson, type PipelineJson } from "../pipeline/pipeline-view.ts";
import type { PageDeps } from "./page-deps.ts";
import { resumeAfter, streamPipelineEvents, type EventRenderer } from "./pipeline-event-stream.ts";
import { idParam, onInvalid } from "./validation.ts";

// The filter form sends empty fields for "any".
const blankAsUnset = (v: unknown) => (v === "" ? undefined : v);
const filterQuery = z.object({
  status: z.preprocess(blankAsUnset, z.enum(PipelineStatus).optional()),
  model: z.preprocess(blankAsUnset, z.string().max(200).optional()),
});
type Filter = z.infer<typeof filterQuery>;

const isActive = (status: PipelineStatus) => !isTerminalStatus(status);

/**
 * The page's log, grouped by cell: unnamed messages whose HTML htmx appends to the log or, as <hx-partial>s, into the
 * group a line belongs to; papermill's cell markers open a group or put its duration in its heading. When the
 * pipeline ended with a cell raising, that cell's group comes again opened and highlighted, then `done`.
 */
function htmlEvents(deps: CellLogDeps, id: number, after: number): EventRenderer {
  const grouper = resumedCellGrouper(deps, id, after);
  // Connected to an ended pipeline with nothing left to replay: the page already shows the final log.
  const endedBefore = isTerminalStatus(deps.store.get(id).status) && after >= deps.store.lastLogSeq(id);
  return {
    log: (l) => {
      const step = grouper.push(l);
      const data =
        step.type === "cell-start"
          ? cellStartFragment(step.group)
          : step.type === "cell-end"
            ? cellEndFragment(step.group)
            : lineFragment(step.group, l, step.opened, step.unfinished);
      return { id: String(l.seq), data };
    },
    status: () => undefined,
    done: (status) => {
      const failed = endedBefore ? undefined : pipelineCellLog(deps, id).failed;
      return [...(failed ? [{ data: failedCellFragment(failed) }] : []), { event: "done", data: status }];
    },
  };
}

/** Routes for /pipelines and /pipelines/{id}; `guard` (the page session) runs first on each. */
export function pipelinePageRoutes(deps: PageDeps, guard: MiddlewareHandler) {
  const { pipelineStore: store, bus, pipelineActions: actions } = deps;

  const withRepoName = <P extends PipelineJson>(p: P): P & { repo_name?: string } => ({
    ...p,
    repo_name: p.repo_id === null ? undefined : deps.repoName(p.repo_id),
  });
  const listing = (filter: Filter) => {
    const pipelines = store.list({ status: filter.status, model: filter.model }).map((p) => withRepoName(pipelineJson(p)));
    const query = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => e[1] !== undefined)).toString();
    return { pipelines, rowsUrl: `/pipelines/rows${query ? `?${query}` : ""}`, poll: pipelines.some((p) => isActive(p.status)) };
  };
  const cellLogDeps: CellLogDeps = { store, dataDir: deps.config.dataDir };
  const detail = (id: number) => {
    const pipeline = pipelineDetail({ store, repoName: deps.repoName, mlflowView: deps.mlflowView, jobDashboard: deps.jobDashboard }, id) as PipelineDetail;
    return { pipeline, active: isActive(pipeline.status) };
  };

  const app = new Hono();
  // /pipelines/rows before /pipelines/:id, which would refuse "rows" as an id.
  app.get("/pipelines", guard, zValidator("query", filterQuery, onInvalid), (c) => {
    const filter = c.req.valid("query");
    return c.html(
      <PipelinesPage version={deps.version} sandbox={deps.sandbox} filter={filter} statuses={Object.values(PipelineStatus)} {...listing(filter)} />,
    );
  });
  app.get("/pipelines/rows", guard, zValidator("query", filterQuery, onInvalid), (c) => c.html(<PipelineRows {...listing(c.req.valid("query"))} />));
  app.get("/pipelines/:id", guard, zValidator("param", idParam, onInvalid), (c) => {
    const { id } = c.req.valid("param");
    return c.html(<PipelinePage version={deps.version} sandbox={deps.sandbox} {...detail(id)} log={pipelineCellLog(cellLogDeps, id)} />);
  });
  app.get("/pipelines/:id/summary", guard, zValidator("param", idParam, onInvalid), (c) => c.html(<PipelineSummary {...detail(c.req.valid("param").id)} />));
  app.get("/pipelines/:id/log-stream", guard, zValidator("param", idParam, onInvalid), (c) => {
    const { id } = c.req.valid("param");
    store.get(id);
    return streamPipelineEvents(c, { store, bus }, id, htmlEvents(cellLogDeps, id, resumeAfter(c)));
  });
  app.post("/pipelines/:id/cancel", guard, zValidator("param", idParam, onInvalid), async (c) => {
    const { id } = c.req.valid("param");
    await actions.cancel(id);
    return c.html(<PipelineSummary {...detail(id)} />);
  });
  app.post("/pipelines/:id/retry", guard, zValidator("param", idParam, onInvalid), async (c) => {
    const newId = await actions.retry(c.req.valid("param").id);
    c.header("HX-Redirect", `/pipelines/${newId}`);
    return c.body(null, 204);
  });
  return app;
}
