// The notebook contract (docs/notebook-contract.md): mlops:* cell tags, and MODEL_NAME / VERSION read without running anything.

export const REQUIRED_TAGS = ["mlops:config", "mlops:preprocessing", "mlops:training", "mlops:export"] as const;
export const OPTIONAL_TAGS = ["mlops:data", "mlops:evaluation"] as const;

export type NotebookCell = { cell_type?: string; source?: string | string[]; metadata?: { tags?: unknown } };
export type Notebook = { cells: NotebookCell[]; metadata?: Record<string, unknown>; nbformat?: number };

export type ContractResult = { ok: true; modelName: string; version: string; tags: string[] } | { ok: false; reason: string };

/** Parse notebook bytes as nbformat JSON; returns undefined when it is not a notebook. Never throws. */
export function parseNotebook(bytes: Uint8Array | string): Notebook | undefined {
  try {
    const nb = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes)) as unknown;
    if (typeof nb !== "object" || nb === null || !Array.isArray((nb as Notebook).cells)) return undefined;
    return nb as Notebook;
  } catch {
    return undefined;
  }
}

/** The tags of one cell (strings only). */
export function cellTags(cell: NotebookCell): string[] {
  const tags = cell.metadata?.tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === "string") : [];
}

/** Every mlops:* tag used anywhere in the notebook. */
export function mlopsTags(nb: Notebook): string[] {
  return [...new Set(nb.cells.flatMap(cellTags).filter((t) => t.startsWith("mlops:")))];
}

/** True when the notebook declares itself an ML pipeline (any mlops:* tag); untagged notebooks are skipped. */
export function isPipelineNotebook(bytes: Uint8Array | string): boolean {
  const nb = parseNotebook(bytes);
  // Not JSON at all: let it become a pipeline so the user sees the validate failure.
  return nb === undefined || mlopsTags(nb).length > 0;
}

const sourceText = (cell: NotebookCell) => (Array.isArray(cell.source) ? cell.source.join("") : (cell.source ?? ""));

/** Read a top-level `NAME = "literal"` assignment from Python source, or undefined. */
export function readStringAssignment(source: string, name: string): string | undefined {
  const re = new RegExp(`^${name}\\s*(?::\\s*str\\s*)?=\\s*(?:"((?:[^"\\\\\\n]|\\\\.)*)"|'((?:[^'\\\\\\n]|\\\\.)*)')\\s*(?:#.*)?$`, "m");
  const m = re.exec(source);
  if (!m) return undefined;
  return (m[1] ?? m[2] ?? "").replace(/\\(.)/g, "$1");
}

const MODEL_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/i;

/** Check the contract: JSON, required tags, MODEL_NAME and VERSION string literals in the config cell. */
export function checkContract(bytes: Uint8Array | string): ContractResult {
  const nb = parseNotebook(bytes);
  if (!nb) return { ok: false, reason: "the notebook is not valid notebook JSON (expected an object with a cells array)" };
  const tags = mlopsTags(nb);
  const missing = REQUIRED_TAGS.filter((t) => !tags.includes(t));
  if (missing.length) return { ok: false, reason: `missing required cell tags: ${missing.join(", ")}` };
  const config = nb.cells
    .filter((c) => cellTags(c).includes("mlops:config"))
    .map(sourceText)
    .join("\n");
  const modelName = readStringAssignment(config, "MODEL_NAME");
  if (modelName === undefined) return { ok: false, reason: 'the mlops:config cell has no MODEL_NAME = "..." string literal' };
  if (!MODEL_NAME_RE.test(modelName)) {
    return { ok: false, reason: `MODEL_NAME "${modelName}" is not usable: use letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)` };
  }
  const version = readStringAssignment(config, "VERSION");
  if (version === undefined) return { ok: false, reason: 'the mlops:config cell has no VERSION = "..." string literal' };
  return { ok: true, modelName, version, tags };
}
