// Reading the failure out of a notebook papermill executed: papermill writes the output notebook even when a
// cell raises, with the failing cell's error output and `metadata.papermill.exception = true`.
import { stripANSI } from "bun";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { containedFileSize } from "../lib/contained-file.ts";
import { cellTags, pushedCellNumbers } from "../notebooks/cell-numbers.ts";

/** Largest executed notebook read back to find the failed cell; a bigger one is left unread (the reason is then generic). */
const MAX_EXECUTED_NOTEBOOK_BYTES = 64 * 1024 * 1024;

/** The cell that stopped a notebook run, as a user needs it to find and fix the problem. */
export type FailedCell = {
  /** 0-based position in the notebook as pushed (papermill's injected-parameters and error-banner cells are not counted). */
  index: number;
  /** The `In [n]` number papermill shows in its log, when the cell ran. */
  executionCount: number | null;
  tags: string[];
  /** The first lines of the cell's source. */
  source: string;
  ename: string;
  evalue: string;
  /** The traceback as plain text (ANSI colour codes removed). */
  traceback: string;
};

const SOURCE_LINES = 8;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string => (Array.isArray(v) ? v.filter((s) => typeof s === "string").join("") : typeof v === "string" ? v : "");

/** The first failed code cell of an executed notebook (parsed JSON), or undefined when no cell failed or the JSON is not a notebook. Never throws. */
export function findFailedCell(notebook: unknown): FailedCell | undefined {
  if (!isObject(notebook) || !Array.isArray(notebook.cells)) return undefined;
  // The same numbers the notebook page shows (papermill's added cells have none).
  const numbers = pushedCellNumbers(notebook.cells);
  for (const [i, cell] of notebook.cells.entries()) {
    const number = numbers[i];
    if (!isObject(cell) || number === null || number === undefined) continue;
    const meta = isObject(cell.metadata) ? cell.metadata : {};
    const tags = cellTags(cell);
    const index = number - 1;
    if (cell.cell_type !== "code") continue;
    const error = (Array.isArray(cell.outputs) ? cell.outputs : []).find((o): o is Json => isObject(o) && o.output_type === "error");
    const flagged = isObject(meta.papermill) && meta.papermill.exception === true;
    if (!error && !flagged) continue;
    const traceback = Array.isArray(error?.traceback)
      ? error.traceback
          .filter((l): l is string => typeof l === "string")
          .map((l) => stripANSI(l).replace(/\n$/, ""))
          .join("\n")
      : "";
    return {
      index,
      executionCount: typeof cell.execution_count === "number" ? cell.execution_count : null,
      tags,
      source: text(cell.source).split("\n").slice(0, SOURCE_LINES).join("\n"),
      // A cell flagged without an error output was interrupted (per-cell timeout, dead kernel).
      ename: typeof error?.ename === "string" ? error.ename : "CellExecutionError",
      evalue: typeof error?.evalue === "string" ? error.evalue : "the cell did not finish",
      traceback,
    };
  }
  return undefined;
}

/** One line naming the failed cell (counted from 1, as a reader counts) and its exception, for a pipeline's failure reason. */
export function describeFailedCell(cell: FailedCell): string {
  const tags = cell.tags.length > 0 ? ` [${cell.tags.join(", ")}]` : "";
  return `cell ${cell.index + 1} of the notebook${tags} raised ${cell.ename}: ${cell.evalue}`;
}

/**
 * The failed cell of the executed notebook at `file`, read only as a plain file of bounded size inside its own
 * directory (the notebook's own code, or an upload, wrote it); undefined when none failed or it cannot be read.
 */
export function readFailedCell(file: string): FailedCell | undefined {
  try {
    containedFileSize(file, dirname(file), MAX_EXECUTED_NOTEBOOK_BYTES, "the executed notebook");
    return findFailedCell(JSON.parse(readFileSync(file, "utf8")));
  } catch {
    return undefined;
  }
}
