// The executed notebook of a pipeline: its cells as a notebook shows them, numbered as pushed. Everything HTML here
// that came from the notebook was sanitized by src/notebooks (markdownHtml, html, tracebackHtml); the rest is text
// that JSX escapes.
import { raw } from "hono/html";
import type { NotebookRead } from "../src/notebooks/notebook-file.ts";
import type { CellView, NotebookView, OutputView } from "../src/notebooks/notebook-view.ts";
import { Layout } from "./layout.tsx";
import { StatusBadge, When } from "./pipeline-format.tsx";

/** What the page says about the notebook file: its cells, or why there are none to show. */
export type NotebookState = { kind: "view"; view: NotebookView } | { kind: "removed"; at: string } | Exclude<NotebookRead, { kind: "ok" }>;

export type NotebookCellsProps = {
  pipelineId: number;
  /** The pipeline's status, shown at the top of the cells so that it follows the run too. */
  status: string;
  /** Queued or running: the cells are fetched again every 2 s, as papermill saves the notebook after each cell. */
  active: boolean;
  state: NotebookState;
  /** Names the pipeline's status and the file's version; the poll sends it back and gets 204 while it holds. */
  stamp: string;
};

export type NotebookPageProps = NotebookCellsProps & {
  version: string;
  notebookPath: string;
};

/** The anchor of a cell: its number when it has one, else its position in the executed notebook. */
export function cellAnchor(cell: Pick<CellView, "number" | "position">): string {
  return cell.number === null ? `cell-at-${cell.position}` : `cell-${cell.number}`;
}

const downloadUrl = (id: number) => `/pipelines/${id}/notebook.ipynb`;

function formatSeconds(s: number | null): string | undefined {
  if (s === null) return undefined;
  return s < 1 ? `${Math.round(s * 1000)} ms` : s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
}

function Truncated(props: { pipelineId: number }) {
  return (
    <p class="nb-truncated">
      Cut here: the rest is in the <a href={downloadUrl(props.pipelineId)}>executed notebook (.ipynb)</a>.
    </p>
  );
}

function Output(props: { output: OutputView; pipelineId: number }) {
  const o = props.output;
  switch (o.kind) {
    case "stream":
      return (
        <div class={`nb-output nb-stream nb-${o.name}`}>
          <pre>{o.text}</pre>
          {o.truncated && <Truncated pipelineId={props.pipelineId} />}
        </div>
      );
    case "text":
      return (
        <div class="nb-output nb-text">
          <pre>{o.text}</pre>
          {o.truncated && <Truncated pipelineId={props.pipelineId} />}
        </div>
      );
    case "error":
      return (
        <div class="nb-output nb-error">
          <p class="nb-exception">
            <strong>{o.ename}</strong>
            {o.evalue && `: ${o.evalue}`}
          </p>
          <pre class="nb-traceback">{raw(o.tracebackHtml)}</pre>
          {o.truncated && <Truncated pipelineId={props.pipelineId} />}
        </div>
      );
    case "image":
      return (
        <div class="nb-output nb-image">
          <img src={o.src} alt={`output (${o.mime})`} />
        </div>
      );
    case "html":
      return (
        <div class="nb-output nb-html">
          {raw(o.html)}
          {o.truncated && <Truncated pipelineId={props.pipelineId} />}
        </div>
      );
    case "omitted":
      return (
        <div class="nb-output nb-omitted">
          <p class="nb-truncated">
            {o.reason}: see the <a href={downloadUrl(props.pipelineId)}>executed notebook (.ipynb)</a>.
          </p>
        </div>
      );
  }
}

function Cell(props: { cell: CellView; pipelineId: number }) {
  const c = props.cell;
  const time = formatSeconds(c.durationSeconds);
  const classes = ["nb-cell", `nb-${c.type}`, c.failed && "nb-failed", c.added && "nb-added", c.status === "running" && "nb-running"].filter(Boolean).join(" ");
  return (
    <article id={cellAnchor(c)} class={classes} data-cell={c.number ?? undefined}>
      <div class="nb-cell-head">
        <a class="nb-num" href={`#${cellAnchor(c)}`}>
          {c.number === null ? (c.added ?? "added by papermill") : `cell ${c.number}`}
        </a>
        {c.type === "code" && <span class="nb-count">In [{c.executionCount ?? " "}]</span>}
        {c.tags.map((t) => (
          <span class="badge">{t}</span>
        ))}
        {time && <span class="nb-time">{time}</span>}
        {c.status && c.status !== "completed" && !(c.failed && c.status === "failed") && <span class={`nb-status nb-status-${c.status}`}>{c.status}</span>}
        {c.failed && <span class="nb-status nb-status-failed">failed</span>}
      </div>
      {c.type === "markdown" ? (
        <div class="nb-markdown">{raw(c.markdownHtml ?? "")}</div>
      ) : (
        <pre class="nb-source">
          <code>{c.source}</code>
        </pre>
      )}
      {c.sourceTruncated && <Truncated pipelineId={props.pipelineId} />}
      {c.outputs.length > 0 && (
        <div class="nb-outputs">
          {c.outputs.map((o) => (
            <Output output={o} pipelineId={props.pipelineId} />
          ))}
        </div>
      )}
    </article>
  );
}

function Message(props: NotebookCellsProps) {
  const s = props.state;
  const download = (
    <>
      {" "}
      The raw file: <a href={downloadUrl(props.pipelineId)}>executed notebook (.ipynb)</a>.
    </>
  );
  switch (s.kind) {
    case "missing":
      return (
        <p id="notebook-message" class="muted">
          {props.active
            ? "No executed notebook yet: papermill writes it when the notebook starts (a notebook run on Ray arrives when its run ends). This page refreshes."
            : "This pipeline has no executed notebook: it ended before its notebook ran (or the notebook was removed since)."}
        </p>
      );
    case "removed":
      return (
        <p id="notebook-message" class="muted">
          The executed notebook was removed by retention (RETENTION_DAYS) on <When iso={s.at} />.
        </p>
      );
    case "too_large":
      return (
        <p id="notebook-message" class="warning">
          The executed notebook is {s.bytes} bytes, too large to show here.{download}
        </p>
      );
    case "corrupt":
      return props.active ? (
        <p id="notebook-message" class="muted">
          papermill is writing the notebook; this page refreshes.
        </p>
      ) : (
        <p id="notebook-message" class="error" role="alert">
          The executed notebook could not be read: {s.reason}.{download}
        </p>
      );
    case "unreadable":
      return (
        <p id="notebook-message" class="error" role="alert">
          {s.reason}.
        </p>
      );
    case "view":
      return null;
  }
}

/** The cells (or why there are none), polled while the pipeline is active; the same markup in the page and as the fragment. */
export function NotebookCells(props: NotebookCellsProps) {
  const polling = props.active
    ? { "hx-get": `/pipelines/${props.pipelineId}/notebook/cells?v=${encodeURIComponent(props.stamp)}`, "hx-trigger": "every 2s", "hx-swap": "outerHTML" }
    : {};
  const view = props.state.kind === "view" ? props.state.view : undefined;
  const failed = view && view.failedPosition !== null ? view.cells[view.failedPosition] : undefined;
  return (
    <section id="notebook-cells" {...polling}>
      <p class="headline">
        <StatusBadge id="notebook-status" status={props.status} /> <a href={downloadUrl(props.pipelineId)}>Download the executed notebook (.ipynb)</a>
      </p>
      {props.active && (
        <p id="notebook-running" class="nb-live" role="status">
          Running: the cells below are what papermill has saved so far, and this page follows it. <a href="">Refresh</a>
        </p>
      )}
      <Message {...props} />
      {failed && (
        <p id="notebook-failed" class="error" role="alert">
          <a href={`#${cellAnchor(failed)}`}>{failed.number === null ? "A cell" : `Cell ${failed.number}`} failed</a>
          {failed.outputs.map((o) => (o.kind === "error" ? `: ${o.ename}` : "")).find(Boolean) ?? ""}.
        </p>
      )}
      {view?.truncated && (
        <p class="warning nb-truncated">
          Some outputs are cut or left out to keep this page small: the <a href={downloadUrl(props.pipelineId)}>executed notebook (.ipynb)</a> has them all.
        </p>
      )}
      {view && view.cells.length === 0 && <p class="muted">The notebook has no cells.</p>}
      {view?.cells.map((c) => (
        <Cell cell={c} pipelineId={props.pipelineId} />
      ))}
    </section>
  );
}

/** The notebook page of one pipeline. */
export function NotebookPage(props: NotebookPageProps) {
  return (
    <Layout title={`Notebook of pipeline ${props.pipelineId}`} version={props.version}>
      <h2>
        <a href={`/pipelines/${props.pipelineId}`}>Pipeline {props.pipelineId}</a> · <code>{props.notebookPath}</code>
      </h2>
      <NotebookCells pipelineId={props.pipelineId} status={props.status} active={props.active} state={props.state} stamp={props.stamp} />
    </Layout>
  );
}
