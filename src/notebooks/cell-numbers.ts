// How cells are numbered wherever a person reads them (the notebook page, the grouped log, a failure reason, a commit
// status): the 1-based position of the cell in the notebook as it was pushed. papermill adds cells to the executed
// notebook (its injected parameters, its error banner); those get no number, so the numbers match what the author sees
// in Jupyter, and papermill's own "Executing Cell N" (which counts every cell it runs) is mapped back here.
// Imports nothing of the app.

/** The tags papermill gives the cells it adds to an executed notebook; such cells were not in the pushed notebook. */
export const PAPERMILL_ADDED_TAGS = { "injected-parameters": "injected parameters", "papermill-error-cell-tag": "papermill error" } as const;

/** The tag papermill gives the parameters cell it injects (or replaces). */
const INJECTED = "injected-parameters";

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** The string tags of a cell (metadata.tags), [] when it has none or the cell is not an object. Never throws. */
export function cellTags(cell: unknown): string[] {
  const meta = isObject(cell) && isObject(cell.metadata) ? cell.metadata : {};
  return Array.isArray(meta.tags) ? meta.tags.filter((t): t is string => typeof t === "string") : [];
}

/** What papermill added this cell as ("injected parameters", "papermill error"), or undefined for a cell of the pushed notebook. */
export function papermillAddedCell(cell: unknown): string | undefined {
  for (const tag of cellTags(cell)) if (Object.hasOwn(PAPERMILL_ADDED_TAGS, tag)) return PAPERMILL_ADDED_TAGS[tag as keyof typeof PAPERMILL_ADDED_TAGS];
  return undefined;
}

/**
 * For each cell of an executed notebook's `cells` array, in order: its number as the pages show it (the 1-based
 * position in the notebook as pushed), or null for a cell papermill added. Never throws; a non-array gives [].
 */
export function pushedCellNumbers(cells: unknown): (number | null)[] {
  if (!Array.isArray(cells)) return [];
  let n = 0;
  return cells.map((cell) => (papermillAddedCell(cell) === undefined ? ++n : null));
}

/** What is kept of a pushed notebook to number its cells: each cell's tags, in order (markdown cells included). */
export type CellOutline = { cells: { tags: string[] }[] };

/** How a cell of the executed notebook is shown: its number in the pushed notebook (null: papermill's injected parameters) and its tags. */
export type CellLabel = { number: number | null; tags: string[] };

/** The outline of a notebook's `cells` (a non-array gives no cells). Never throws. */
export function cellOutlineOf(nb: { cells: unknown }): CellOutline {
  return { cells: Array.isArray(nb.cells) ? nb.cells.map((c) => ({ tags: cellTags(c) })) : [] };
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

/** The outline's cells in the order papermill runs them, its injected cell included. */
function executedOrder(outline: CellOutline): { tags: string[] }[] {
  const { index, replaces } = injectedCellPosition(outline);
  const injected = { tags: [INJECTED] };
  return [...outline.cells.slice(0, index), injected, ...outline.cells.slice(replaces ? index + 1 : index)];
}

/**
 * The numbers of the cells as papermill will run them, computed from the pushed notebook's `cells` before any run.
 * Index i of the result is papermill's cell i (its log says "Executing Cell i+1"); the injected cell's entry is null.
 * Never throws; a non-array gives [].
 */
export function executedCellNumbers(pushedCells: unknown): (number | null)[] {
  if (!Array.isArray(pushedCells)) return [];
  return pushedCellNumbers(executedOrder(cellOutlineOf({ cells: pushedCells })).map((c) => ({ metadata: { tags: c.tags } })));
}

/**
 * The label of papermill's cell `n` (1-based, counting every cell of the executed notebook), numbered as the pushed
 * notebook's cells are. Undefined when `n` is outside the notebook (the outline does not match what ran).
 */
export function papermillCellLabel(outline: CellOutline, n: number): CellLabel | undefined {
  const cells = executedOrder(outline);
  const i = n - 1;
  const cell = cells[i];
  if (i < 0 || !cell) return undefined;
  const number = pushedCellNumbers(cells.map((c) => ({ metadata: { tags: c.tags } })))[i] ?? null;
  return { number, tags: cell.tags };
}
