// Cell numbers as the pages and failure reasons show them: the 1-based position of a cell in the notebook as pushed.
// papermill counts the cells of the notebook it executes, which holds one more cell (its injected parameters), so its
// "Executing Cell N" is mapped back here. Imports nothing of the app but the notebook's JSON shape.
import { cellTags, type Notebook } from "../pipeline/notebook-contract.ts";

/** What is kept of a pushed notebook to number its cells: each cell's tags, in order (markdown cells included). */
export type CellOutline = { cells: { tags: string[] }[] };

/** How a cell of the executed notebook is shown: its number in the pushed notebook (null: papermill's injected parameters) and its tags. */
export type CellLabel = { number: number | null; tags: string[] };

/** The tag papermill gives the parameters cell it injects (or replaces). */
const INJECTED = "injected-parameters";

/** The outline of a parsed notebook. */
export function cellOutlineOf(nb: Notebook): CellOutline {
  return { cells: nb.cells.map((c) => ({ tags: cellTags(c) })) };
}

/**
 * The position at which papermill puts its injected-parameters cell in the executed notebook (0-based), and whether it
 * replaces a pushed cell there: papermill replaces a cell already tagged `injected-parameters`, else inserts right after
 * the first cell tagged `parameters`, else first. The platform always passes parameters, so the cell is always there.
 */
export function injectedCellPosition(outline: CellOutline): { index: number; replaces: boolean } {
  const injected = outline.cells.findIndex((c) => c.tags.includes(INJECTED));
  if (injected >= 0) return { index: injected, replaces: true };
  return { index: outline.cells.findIndex((c) => c.tags.includes("parameters")) + 1, replaces: false };
}

/**
 * The label of papermill's cell `n` (1-based, counting every cell of the executed notebook), numbered as the pushed
 * notebook's cells are (the injected cell is not counted, as notebook-errors.ts counts). Undefined when `n` is past the
 * notebook's end (the outline does not match what ran).
 */
export function papermillCellLabel(outline: CellOutline, n: number): CellLabel | undefined {
  const { index: at, replaces } = injectedCellPosition(outline);
  const i = n - 1;
  if (i === at) return { number: null, tags: [INJECTED] };
  // Cells of the pushed notebook before `at` keep their position; after it, one more cell came first.
  const pushed = i < at ? i : replaces ? i : i - 1;
  const cell = outline.cells[pushed];
  if (i < 0 || !cell) return undefined;
  // A replaced cell is not counted either (findFailedCell skips both papermill tags).
  const number = replaces && pushed > at ? pushed : pushed + 1;
  return { number, tags: cell.tags };
}
