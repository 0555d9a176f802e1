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
