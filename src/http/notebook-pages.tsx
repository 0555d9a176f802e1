// The executed notebook of a pipeline: the page (/pipelines/{id}/notebook), its cells as an htmx fragment polled while
// the pipeline runs, and the raw .ipynb download. The notebook is hostile: its HTML was sanitized (src/notebooks), and
// the page also goes out under the pages' strict Content-Security-Policy in case anything got through.
import { GoneError } from "../lib/errors.ts";
import { zValidator } from "@hono/zod-validator";
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { NotebookCells, NotebookPage, type NotebookState } from "../../views/notebook-page.tsx";
import { notebookStamp, openNotebookDownload, readExecutedNotebook } from "../notebooks/notebook-file.ts";
import { notebookView } from "../notebooks/notebook-view.ts";
import { notebookOutputs } from "../pipeline/notebook-outputs.ts";
import { isTerminalStatus } from "../pipeline/pipeline-states.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";
import type { PageDeps } from "./page-deps.ts";
import { idParam, onInvalid } from "./validation.ts";

// The raw file is data, never a document: a browser that opened it anyway runs nothing.
const DOWNLOAD_CSP = "default-src 'none'; sandbox";

// A notebook that runs changes under the same URL: never cached. (Its Content-Security-Policy is the one every page
// gets, PAGE_CSP in src/http/page-security.ts.)
const noStore = (c: Context) => c.header("Cache-Control", "no-store");

/** Routes for /pipelines/{id}/notebook, …/notebook/cells and …/notebook.ipynb; `guard` (the page session) runs first on each. */
export function notebookPageRoutes(deps: Pick<PageDeps, "pipelineStore" | "version" | "config">, guard: MiddlewareHandler) {
  const fileOf = (id: number) => notebookOutputs(pipelineDir(deps.config.dataDir, id)).executed;
  // What the cells fragment shows depends on the pipeline's status and the file only: a poll that names the same
  // stamp gets 204 (htmx swaps nothing), without the notebook being read or parsed again.
  const stampOf = (id: number, status: string) => `${status}.${notebookStamp(fileOf(id))}`;
  // Throws NotFoundError for an unknown pipeline (the 404 page).
  const load = (id: number) => {
    const row = deps.pipelineStore.get(id);
    const stamp = stampOf(id, row.status);
    const read = readExecutedNotebook(fileOf(id));
    const state: NotebookState =
      read.kind === "ok"
        ? { kind: "view", view: notebookView(read.notebook) }
        : read.kind === "missing" && row.filesRemovedAt
          ? { kind: "removed", at: row.filesRemovedAt }
          : read;
    return { row, cells: { pipelineId: id, status: row.status, active: !isTerminalStatus(row.status), state, stamp } };
  };

  const app = new Hono();
  app.get("/pipelines/:id/notebook", guard, zValidator("param", idParam, onInvalid), (c) => {
    const { row, cells } = load(c.req.valid("param").id);
    noStore(c);
    return c.html(<NotebookPage version={deps.version} notebookPath={row.notebookPath} {...cells} />);
  });
  app.get("/pipelines/:id/notebook/cells", guard, zValidator("param", idParam, onInvalid), (c) => {
    const { id } = c.req.valid("param");
    noStore(c);
    const seen = c.req.query("v");
    if (seen !== undefined && seen === stampOf(id, deps.pipelineStore.get(id).status)) return c.body(null, 204);
    return c.html(<NotebookCells {...load(id).cells} />);
  });
  app.get("/pipelines/:id/notebook.ipynb", guard, zValidator("param", idParam, onInvalid), (c) => {
    const { id } = c.req.valid("param");
    const row = deps.pipelineStore.get(id);
    const file = openNotebookDownload(fileOf(id));
    if (file.kind === "missing" && row.filesRemovedAt)
      throw new GoneError(`pipeline ${id}'s executed notebook was removed by retention (RETENTION_DAYS) on ${row.filesRemovedAt}`);
    if (file.kind === "missing") return c.json({ error: `pipeline ${id} has no executed notebook (yet): it is written when its notebook runs` }, 404);
    if (file.kind === "unreadable") return c.json({ error: file.reason }, 404);
    return c.body(file.body, 200, {
      "Content-Type": "application/x-ipynb+json",
      "Content-Disposition": `attachment; filename="pipeline-${id}-executed.ipynb"`,
      "X-Content-Type-Options": "nosniff",
      "Content-Security-Policy": DOWNLOAD_CSP,
      "Cache-Control": "no-store",
    });
  });
  return app;
}
