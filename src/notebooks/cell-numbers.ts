// How cells are numbered wherever a person reads them (the notebook page, the grouped log, a failure reason): the
// 1-based position of the cell in the notebook as it was pushed. papermill adds cells to the executed notebook (its
// injected parameters, its error banner); those get no number, so the numbers match what the author sees in Jupyter.
// Imports nothing of the app.

/** The tags papermill gives the cells it adds to an executed notebook; such cells were not in the pushed notebook. */
export const PAPERMILL_ADDED_TAGS = { "injected-parameters": "injected parameters", "papermill-error-cell-tag": "papermill error" } as const;

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

/**
 * The same numbers for the cells as papermill will run them, computed from the pushed notebook's `cells` before any
 * run: papermill puts its injected-parameters cell in place of one already tagged so, else right after the first cell
 * tagged `parameters`, else first. Index i of the result is papermill's cell i (its log says "Executing Cell i+1");
 * the injected cell's entry is null. Never throws; a non-array gives [].
 */
export function executedCellNumbers(pushedCells: unknown): (number | null)[] {
  if (!Array.isArray(pushedCells)) return [];
  const injected = { cell_type: "code", metadata: { tags: ["injected-parameters"] } };
  const tagged = (tag: string) => pushedCells.findIndex((c) => cellTags(c).includes(tag));
  const replaced = tagged("injected-parameters");
  const parameters = tagged("parameters");
  const cells =
    replaced >= 0
      ? pushedCells.map((c, i) => (i === replaced ? injected : c))
      : [...pushedCells.slice(0, parameters + 1), injected, ...pushedCells.slice(parameters + 1)];
  return pushedCellNumbers(cells);
}
