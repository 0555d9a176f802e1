// A pipeline's log grouped by notebook cell: papermill's "Executing Cell N-----" and "Ending Cell N-----" lines become
// the bounds of a group (and are not shown), the lines between them its output; lines outside any cell (download,
// validate, papermill's own messages after the last cell) form groups of their own. The stored log stays raw.
import type { LogLine } from "../pipeline/pipeline-store.ts";
import { type CellLabel, type CellOutline, papermillCellLabel } from "./cell-numbers.ts";

/** A papermill cell marker: the start or end of the executed notebook's cell `cell` (papermill's 1-based count). */
export type PapermillMarker = { kind: "start" | "end"; cell: number };

/** Lines outside any cell; `key` is the seq of its first line. */
export type LinesGroup = { kind: "lines"; key: number; lines: LogLine[] };
/** One cell's output; `key` is the seq of its "Executing Cell" line, `endedAt` the time of its "Ending Cell" line. */
export type CellGroup = {
  kind: "cell";
  key: number;
  /** papermill's count (executed notebook, injected cell included). */
  cell: number;
  /** The cell as the pages number it; undefined when the pushed notebook's cells are not known. */
  label?: CellLabel;
  startedAt: number;
  endedAt?: number;
  /** Set when the platform spoke before the cell ended (papermill was stopped or killed in it): it never will. */
  unfinished?: true;
  lines: LogLine[];
};
export type LogGroup = LinesGroup | CellGroup;

/** What one pushed line did to the grouping. */
export type GroupStep =
  | { type: "cell-start"; group: CellGroup }
  | { type: "cell-end"; group: CellGroup }
  /** `opened`: the line starts a new group of lines outside cells; `unfinished`: the cell it left unfinished. */
  | { type: "line"; group: LogGroup; line: LogLine; opened: boolean; unfinished?: CellGroup };

// papermill logs `f"Executing Cell {n:-<40}"` and `f"Ending Cell {n:-<43}"`: the number padded with dashes to 40 / 43.
const MARKER = /^(Executing|Ending) Cell (\d{1,6})(-*)$/;
/** The platform's own stream (log-bus.ts): its lines are never a cell's output. */
const PLATFORM_STREAM = "mlops";
// Streams papermill's log can arrive on (the local runner keeps stderr apart, Ray's job log mixes them into stdout).
const NOTEBOOK_STREAMS = new Set(["stdout", "stderr"]);

/** The papermill cell marker `line` is, or undefined. Only exact markers count (the padding included). */
export function papermillMarker(line: Pick<LogLine, "stream" | "line">): PapermillMarker | undefined {
  if (!NOTEBOOK_STREAMS.has(line.stream)) return undefined;
  const m = MARKER.exec(line.line);
  if (!m) return undefined;
  const kind = m[1] === "Executing" ? "start" : "end";
  const width = kind === "start" ? 40 : 43;
  if (m[2]!.length + m[3]!.length !== Math.max(width, m[2]!.length)) return undefined;
  return { kind, cell: Number(m[2]) };
}

/**
 * Groups log lines in order, one at a time (the live log) or all at once (`groupCellLog`). With `keepLines` false the
 * groups hold no lines (a live stream only needs to know where the next line goes).
 */
export class CellLogGrouper {
  readonly groups: LogGroup[] = [];
  private open: CellGroup | undefined;

  constructor(
    private readonly outline: CellOutline | undefined,
    private readonly keepLines = true,
  ) {}

  /** Place the next line (lines must come in seq order); returns what it did. */
  push(line: LogLine): GroupStep {
    const marker = papermillMarker(line);
    if (marker?.kind === "start") {
      const label = this.outline && papermillCellLabel(this.outline, marker.cell);
      const group: CellGroup = { kind: "cell", key: line.seq, cell: marker.cell, ...(label && { label }), startedAt: line.at, lines: [] };
      this.groups.push(group);
      this.open = group;
      return { type: "cell-start", group };
    }
    // An end that does not close the open cell is not structure: it stays a line.
    if (marker?.kind === "end" && this.open?.cell === marker.cell) {
      const group = this.open;
      group.endedAt = line.at;
      this.open = undefined;
      return { type: "cell-end", group };
    }
    let unfinished: CellGroup | undefined;
    if (this.open && line.stream === PLATFORM_STREAM) {
      // The platform speaks during a cell only once the run is over (finished, timed out, stopped, limit reached).
      unfinished = this.open;
      unfinished.unfinished = true;
      this.open = undefined;
    }
    if (this.open) {
      if (this.keepLines) this.open.lines.push(line);
      return { type: "line", group: this.open, line, opened: false };
    }
    const last = this.groups.at(-1);
    if (last?.kind === "lines") {
      if (this.keepLines) last.lines.push(line);
      return { type: "line", group: last, line, opened: false };
    }
    const group: LinesGroup = { kind: "lines", key: line.seq, lines: this.keepLines ? [line] : [] };
    this.groups.push(group);
    return { type: "line", group, line, opened: true, ...(unfinished && { unfinished }) };
  }
}

/** `lines` (in seq order) grouped by cell; `outline` numbers the cells as the pushed notebook does. */
export function groupCellLog(lines: LogLine[], outline: CellOutline | undefined): LogGroup[] {
  const grouper = new CellLogGrouper(outline);
  for (const l of lines) grouper.push(l);
  return grouper.groups;
}

/**
 * The group of the cell that raised, given the failed cell's 0-based index in the pushed notebook: the last cell group
 * with that number (a log may hold an earlier attempt's run too). Undefined when none matches.
 */
export function failedCellGroup(groups: LogGroup[], cellIndex: number): CellGroup | undefined {
  return groups.findLast((g): g is CellGroup => g.kind === "cell" && g.label?.number === cellIndex + 1);
}
