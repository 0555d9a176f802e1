// One pipeline's stored log grouped by cell, numbered with the outline its validate phase kept, and the cell that
// raised (from the pipeline's failure, stored as data) found among the groups.
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";
import { type CellGroup, CellLogGrouper, failedCellGroup, groupCellLog, type LogGroup } from "./cell-log.ts";
import { readCellOutline } from "./cell-outline-file.ts";

export type CellLogDeps = { store: PipelineStore; dataDir: string };

/** The stored log grouped by cell, the seq of its last line (0 when empty) and the group of the cell that raised, if any. */
export type PipelineCellLog = { groups: LogGroup[]; lastSeq: number; failed?: CellGroup };

/** Pipeline `id`'s log as it stands. Throws NotFoundError when the pipeline does not exist. */
export function pipelineCellLog(deps: CellLogDeps, id: number): PipelineCellLog {
  const row = deps.store.get(id);
  const lines = deps.store.logs(id);
  const groups = groupCellLog(lines, readCellOutline(pipelineDir(deps.dataDir, id)));
  const cell = row.failure?.cell;
  const failed = cell ? failedCellGroup(groups, cell.index) : undefined;
  return { groups, lastSeq: lines.at(-1)?.seq ?? 0, ...(failed && { failed }) };
}

/**
 * A grouper for a live stream of pipeline `id`'s log that resumes after seq `after`: it has already placed the stored
 * lines up to there, so the next line goes where the page (or the previous connection) left off.
 */
export function resumedCellGrouper(deps: CellLogDeps, id: number, after: number): CellLogGrouper {
  const grouper = new CellLogGrouper(readCellOutline(pipelineDir(deps.dataDir, id)), false);
  if (after > 0) for (const l of deps.store.logs(id, 0, after)) if (l.seq <= after) grouper.push(l);
  return grouper;
}
