// An executed notebook (parsed JSON, hostile) turned into what the notebook page shows: cells numbered as pushed,
// markdown and HTML outputs sanitized, tracebacks with their colours as spans, images as data: URIs, and every text
// and image bounded per output and per page so that a notebook that printed a gigabyte still makes a page.
// Imports nothing of the app but its siblings.
import { ansiToHtml } from "./ansi.ts";
import { cellTags, papermillAddedCell, pushedCellNumbers } from "./cell-numbers.ts";
import { renderNotebookMarkdown, sanitizeNotebookHtml } from "./sanitize.ts";

/** How much of a notebook one page shows: per output and for the whole page (characters of text, bytes of base64 images). */
export type NotebookBudget = { outputText: number; pageText: number; outputImage: number; pageImage: number };

/** The default budget: 200 KB of text and 5 MB of image per output, 2 MB of text and 20 MB of images per page. */
export const DEFAULT_NOTEBOOK_BUDGET: NotebookBudget = { outputText: 200_000, pageText: 2_000_000, outputImage: 5_000_000, pageImage: 20_000_000 };

/** One output of a code cell, ready to show. `html` fields are sanitized or escaped already. */
export type OutputView =
  | { kind: "stream"; name: string; text: string; truncated: boolean }
  | { kind: "text"; text: string; truncated: boolean }
  | { kind: "error"; ename: string; evalue: string; tracebackHtml: string; truncated: boolean }
  | { kind: "image"; mime: string; src: string }
  | { kind: "html"; html: string; truncated: boolean }
  | { kind: "omitted"; reason: string };

/** One cell, ready to show. */
export type CellView = {
  /** Position in the executed notebook (0-based), for anchors. */
  position: number;
  /** The number the pages show (1-based in the notebook as pushed), or null for a cell papermill added. */
  number: number | null;
  /** What papermill added it as ("injected parameters", "papermill error"), if it did. */
  added?: string;
  type: "markdown" | "code" | "raw";
  tags: string[];
  source: string;
  sourceTruncated: boolean;
  /** Sanitized HTML of a markdown cell. */
  markdownHtml?: string;
  executionCount: number | null;
  /** papermill's status of the cell: pending, running or completed; undefined when papermill wrote none. */
  status?: string;
  durationSeconds: number | null;
  failed: boolean;
  outputs: OutputView[];
};

/** The whole page's content. */
export type NotebookView = {
  cells: CellView[];
  /** Position of the first failed cell, for the anchor the page scrolls to. */
  failedPosition: number | null;
  /** Whether anything was cut or left out for the budget. */
  truncated: boolean;
};

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
// nbformat stores multi-line strings as either a string or a list of strings.
const text = (v: unknown): string => (Array.isArray(v) ? v.filter((s) => typeof s === "string").join("") : typeof v === "string" ? v : "");
// An exception's name and message, and a cell's tags, are one-liners on the page: anything longer is cut.
const SHORT = 1000;
const short = (v: unknown): string => {
  const s = typeof v === "string" ? v : "";
  return s.length > SHORT ? `${s.slice(0, SHORT)}…` : s;
};
const MAX_TAGS = 20;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/svg+xml"] as const;

class Budget {
  truncated = false;
  private textLeft: number;
  private imageLeft: number;
  constructor(private readonly limits: NotebookBudget) {
    this.textLeft = limits.pageText;
    this.imageLeft = limits.pageImage;
  }
  /** `s` cut to what this output and the page may still show. */
  text(s: string): { text: string; truncated: boolean } {
    const allowed = Math.max(0, Math.min(this.limits.outputText, this.textLeft));
    const cut = s.length > allowed;
    const shown = cut ? s.slice(0, allowed) : s;
    this.textLeft -= shown.length;
    if (cut) this.truncated = true;
    return { text: shown, truncated: cut };
  }
  textExhausted(): boolean {
    return this.textLeft <= 0;
  }
  /** Whether an image of `size` base64 characters may be shown; if so it is counted. */
  image(size: number): "ok" | "output" | "page" {
    if (size > this.limits.outputImage) return ((this.truncated = true), "output");
    if (size > this.imageLeft) return ((this.truncated = true), "page");
    this.imageLeft -= size;
    return "ok";
  }
}

function renderOutput(output: unknown, budget: Budget): OutputView | undefined {
  if (!isObject(output)) return undefined;
  const type = output.output_type;
  if (type === "stream") {
    if (budget.textExhausted()) return omittedText(budget);
    const { text: t, truncated } = budget.text(text(output.text));
    return { kind: "stream", name: output.name === "stderr" ? "stderr" : "stdout", text: t, truncated };
  }
  if (type === "error") {
    if (budget.textExhausted()) return omittedText(budget);
    const traceback = Array.isArray(output.traceback) ? output.traceback.filter((l): l is string => typeof l === "string").join("\n") : "";
    const { text: t, truncated } = budget.text(traceback);
    return { kind: "error", ename: short(output.ename), evalue: short(output.evalue), tracebackHtml: ansiToHtml(t), truncated };
  }
  if (type === "display_data" || type === "execute_result") return renderData(isObject(output.data) ? output.data : {}, budget);
  return undefined;
}

function omittedText(budget: Budget): OutputView {
  budget.truncated = true;
  return { kind: "omitted", reason: "text output left out: the page shows at most its budget of text" };
}

function renderData(data: Json, budget: Budget): OutputView | undefined {
  for (const mime of IMAGE_TYPES) {
    if (!(mime in data)) continue;
    const raw = text(data[mime]);
    const base64 = mime === "image/svg+xml" ? Buffer.from(raw, "utf8").toString("base64") : raw.replace(/\s+/g, "");
    // A raster image must be base64 already; anything else is not shown as an image.
    if (mime !== "image/svg+xml" && !BASE64.test(base64)) continue;
    const fits = budget.image(base64.length);
    if (fits !== "ok")
      return {
        kind: "omitted",
        reason: `image (${mime}, ${base64.length} bytes as base64) left out: more than ${fits === "output" ? "one output" : "the page"} may show`,
      };
    // An SVG inside <img> runs no script and loads nothing.
    return { kind: "image", mime, src: `data:${mime};base64,${base64}` };
  }
  if ("text/html" in data) {
    if (budget.textExhausted()) return omittedText(budget);
    const { text: t, truncated } = budget.text(text(data["text/html"]));
    return { kind: "html", html: sanitizeNotebookHtml(t), truncated };
  }
  if ("text/markdown" in data) {
    if (budget.textExhausted()) return omittedText(budget);
    const { text: t, truncated } = budget.text(text(data["text/markdown"]));
    return { kind: "html", html: renderNotebookMarkdown(t), truncated };
  }
  if ("text/plain" in data) {
    if (budget.textExhausted()) return omittedText(budget);
    const { text: t, truncated } = budget.text(text(data["text/plain"]));
    return { kind: "text", text: t, truncated };
  }
  return undefined;
}

const RASTER_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

// Images pasted into a markdown cell live in the cell's `attachments` and are linked as `attachment:<name>`: they
// become data: URIs (raster types only, within the image budget); anything else stays a link the sanitizer drops.
function withAttachments(markdown: string, attachments: unknown, budget: Budget): string {
  if (!isObject(attachments)) return markdown;
  return markdown.replace(/attachment:([^\s)"'<>]+)/g, (link, encoded: string) => {
    let name = encoded;
    try {
      name = decodeURIComponent(encoded);
    } catch {}
    const bundle = Object.hasOwn(attachments, name) ? attachments[name] : undefined;
    if (!isObject(bundle)) return link;
    const mime = RASTER_TYPES.find((m) => m in bundle);
    const base64 = mime === undefined ? "" : text(bundle[mime]).replace(/\s+/g, "");
    if (!mime || !BASE64.test(base64) || budget.image(base64.length) !== "ok") return link;
    return `data:${mime};base64,${base64}`;
  });
}

/** The page's view of an executed notebook (the parsed JSON, any shape). Never throws. */
export function notebookView(notebook: unknown, limits: NotebookBudget = DEFAULT_NOTEBOOK_BUDGET): NotebookView {
  const cells = isObject(notebook) && Array.isArray(notebook.cells) ? notebook.cells : [];
  const numbers = pushedCellNumbers(cells);
  const budget = new Budget(limits);
  let failedPosition: number | null = null;
  const views = cells.map((cell, position): CellView => {
    const c = isObject(cell) ? cell : {};
    const meta = isObject(c.metadata) ? c.metadata : {};
    const pm = isObject(meta.papermill) ? meta.papermill : {};
    const type = c.cell_type === "markdown" || c.cell_type === "raw" ? c.cell_type : "code";
    const outputs = type === "code" && Array.isArray(c.outputs) ? c.outputs.map((o) => renderOutput(o, budget)).filter((o) => o !== undefined) : [];
    const added = papermillAddedCell(cell);
    const failed = type === "code" && added === undefined && (pm.exception === true || outputs.some((o) => o.kind === "error"));
    if (failed && failedPosition === null) failedPosition = position;
    const { text: source, truncated: sourceTruncated } = budget.text(text(c.source));
    return {
      position,
      number: numbers[position] ?? null,
      added,
      type,
      tags: cellTags(cell).slice(0, MAX_TAGS).map(short),
      source,
      sourceTruncated,
      markdownHtml: type === "markdown" ? renderNotebookMarkdown(withAttachments(source, c.attachments, budget)) : undefined,
      executionCount: typeof c.execution_count === "number" ? c.execution_count : null,
      status: typeof pm.status === "string" ? pm.status : undefined,
      durationSeconds: typeof pm.duration === "number" && Number.isFinite(pm.duration) ? pm.duration : null,
      failed,
      outputs,
    };
  });
  return { cells: views, failedPosition, truncated: budget.truncated };
}
