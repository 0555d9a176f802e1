// Which notebooks of a commit a push should run: changed, still present, matching the repository's glob.

/** True for a path Jupyter would not want run: its autosave copies under `.ipynb_checkpoints/`. */
function isCheckpoint(path: string): boolean {
  return path.split("/").includes(".ipynb_checkpoints");
}

/**
 * Notebook paths (`.ipynb`, matching `glob` via Bun.Glob) among `changed` — or among all files when
 * `changed` is "all" — that exist in `allFiles` (the commit's tree), so removed files are excluded.
 * Sorted, without duplicates; Jupyter checkpoint copies are never included. Pure.
 */
export function notebooksToRun(changed: readonly string[] | "all", allFiles: readonly string[], glob: string): string[] {
  const present = new Set(allFiles);
  const matcher = new Bun.Glob(glob);
  const candidates = changed === "all" ? allFiles : changed;
  const out = new Set<string>();
  for (const path of candidates) {
    if (present.has(path) && path.endsWith(".ipynb") && !isCheckpoint(path) && matcher.match(path)) out.add(path);
  }
  return [...out].sort();
}
