// A notebook's requirements: `requirements.txt` beside the notebook, else at the repository root (docs/notebook-contract.md).
// The file comes from a push, so it is read bounded and only what a wheel install needs is accepted: requirement
// specifiers and package-index options. Anything that would reach outside the environment build (another file,
// a local path, an editable checkout) is refused with the line that asked for it.
import { lstatSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";

export const REQUIREMENTS_FILE = "requirements.txt";
const MAX_BYTES = 64 * 1024;
const MAX_LINES = 500;

/** A requirements file as found in a checkout: where (relative to the checkout) and its requirement lines. */
export type Requirements = {
  /** Path inside the repository, e.g. `models/requirements.txt`. */
  path: string;
  /** The lines that matter, trimmed, comments and blank lines dropped, in the file's order. */
  lines: string[];
};

/** A requirements file that cannot be used; the message names the file and the line. */
export class RequirementsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RequirementsError";
  }
}

// Options a requirements file may carry: where wheels come from, and pre-releases. `-r`, `-c`, `-e` and the rest
// read other files or build local code.
const ALLOWED_OPTIONS = new Set(["--index-url", "-i", "--extra-index-url", "--find-links", "-f", "--pre", "--only-binary", "--prefer-binary"]);

/**
 * The requirements for `notebookFile` inside `checkoutDir`: the file beside the notebook, else the one at the root;
 * undefined when there is neither. Throws RequirementsError for a file that is not a regular file, too large, or asks
 * for something other than packages from an index.
 */
export function findRequirements(checkoutDir: string, notebookFile: string): Requirements | undefined {
  const candidates = [join(dirname(notebookFile), REQUIREMENTS_FILE), join(checkoutDir, REQUIREMENTS_FILE)];
  for (const file of candidates) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(file);
    } catch {
      continue;
    }
    const path = relative(checkoutDir, file);
    if (!stat.isFile()) throw new RequirementsError(`${path} is not a regular file (a symlink or a directory); it must be a plain text file`);
    if (stat.size > MAX_BYTES) throw new RequirementsError(`${path} is ${stat.size} bytes; at most ${MAX_BYTES} are read`);
    return { path, lines: parseRequirements(path, readFileSync(file, "utf8")) };
  }
  return undefined;
}

/** The requirement lines of `text` (read from `path`), checked; throws RequirementsError naming the bad line. */
export function parseRequirements(path: string, text: string): string[] {
  const lines: string[] = [];
  const raw = text.split(/\r?\n/);
  for (const [i, original] of raw.entries()) {
    // A comment starts at a `#` at the line's start or after whitespace (a `#` inside a URL fragment is not one).
    const line = original.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    const where = `${path} line ${i + 1}`;
    if (line.endsWith("\\")) throw new RequirementsError(`${where}: line continuations are not supported; put each requirement on one line`);
    if (line.startsWith("-")) {
      const option = line.split(/[\s=]/, 1)[0]!;
      if (!ALLOWED_OPTIONS.has(option))
        throw new RequirementsError(
          `${where}: option ${option} is not allowed; a requirements file here lists packages (and may set --index-url, --extra-index-url, --find-links or --pre)`,
        );
      if ((option === "--find-links" || option === "-f") && !/\shttps?:\/\/|=https?:\/\//.test(line))
        throw new RequirementsError(`${where}: --find-links must be an http(s) URL; local paths are not visible to the build`);
    } else if (/^(\.{0,2}\/|~|file:)/.test(line) || /\s@\s*file:/.test(line)) {
      throw new RequirementsError(`${where}: ${line} is a local path; only packages from an index (or an http(s) URL) can be installed`);
    }
    if (/[\0-\x08\x0b-\x1f]/.test(line)) throw new RequirementsError(`${where}: control characters are not allowed`);
    lines.push(line);
    if (lines.length > MAX_LINES) throw new RequirementsError(`${path} has more than ${MAX_LINES} requirements`);
  }
  return lines;
}
