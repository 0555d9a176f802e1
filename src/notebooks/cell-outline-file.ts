// The pushed notebook's cell outline (cell-numbers.ts), kept in the pipeline's work dir by the validate phase so the
// log can be numbered as the pages number cells after the checkout is gone and across restarts. The notebook runs with
// its work dir writable, so the file is read as untrusted: bounded, a plain file, checked; anything wrong reads as
// "not known" (the log is then numbered as papermill counts).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { containedFileSize } from "../lib/contained-file.ts";
import type { CellOutline } from "./cell-numbers.ts";

const FILE = "cell-outline.json";
const MAX_BYTES = 1024 * 1024;
const outlineSchema = z.object({
  cells: z.array(z.object({ tags: z.array(z.string().max(200)).max(50) })).max(20_000),
});

/** Write `outline` into work dir `workDir` (which must exist), replacing an earlier one. */
export function writeCellOutline(workDir: string, outline: CellOutline): void {
  writeFileSync(join(workDir, FILE), JSON.stringify(outline));
}

/** The outline kept in `workDir`, or undefined when there is none or it is not a well-formed outline. Never throws. */
export function readCellOutline(workDir: string): CellOutline | undefined {
  try {
    const path = join(workDir, FILE);
    containedFileSize(path, workDir, MAX_BYTES, "the cell outline");
    const parsed = outlineSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
