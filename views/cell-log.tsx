// The pipeline page's log grouped by notebook cell (src/notebooks/cell-log.ts): each cell's output under a heading
// with its number, tags and duration, in a <details>; lines outside cells as they are. The same pieces render the
// whole stored log in the page and, one at a time, the fragments the live SSE stream sends (htmx <hx-partial>s).
import type { CellGroup, LogGroup } from "../src/notebooks/cell-log.ts";
import type { LogLine } from "../src/pipeline/pipeline-store.ts";
import { LogLineItem } from "./log-line.tsx";
import { formatDuration } from "./pipeline-format.tsx";

/** How a cell group is shown: `failed` highlights it; `open` leaves it unfolded (the running or failed cell). */
export type CellState = { failed: boolean; open: boolean };

/** The DOM id of a group (its lines list for a group of lines, its <details> for a cell). */
export const groupId = (g: Pick<LogGroup, "key">) => `log-g${g.key}`;
const headId = (g: Pick<LogGroup, "key">) => `log-g${g.key}-head`;
const linesId = (g: Pick<LogGroup, "key">) => `log-g${g.key}-lines`;

/** The whole log: every group, then the live stream appends to it from after `afterSeq`. */
export function CellLog(props: { pipelineId: number; groups: LogGroup[]; afterSeq: number; stateOf: (g: CellGroup) => CellState }) {
  return (
    <div
      id="log"
      class="log cell-log"
      hx-sse:connect={`/pipelines/${props.pipelineId}/log-stream?after=${props.afterSeq}`}
      hx-sse:close="done"
      hx-swap="beforeend"
    >
      {props.groups.map((g) => (g.kind === "lines" ? <LinesGroupView group={g} /> : <CellGroupView group={g} state={props.stateOf(g)} />))}
    </div>
  );
}

/** Lines outside any cell, as a list the stream can append to. */
export function LinesGroupView(props: { group: { key: number; lines: LogLine[] } }) {
  return (
    <ol class="log-lines" id={groupId(props.group)}>
      {props.group.lines.map((l) => (
        <LogLineItem line={l} />
      ))}
    </ol>
  );
}

/** One cell's output under its heading. */
export function CellGroupView(props: { group: CellGroup; state: CellState }) {
  const { group, state } = props;
  return (
    <details id={groupId(group)} class={`cell-group${state.failed ? " cell-failed" : ""}`} open={state.open}>
      <CellHeading group={group} failed={state.failed} />
      <ol class="log-lines" id={linesId(group)}>
        {group.lines.map((l) => (
          <LogLineItem line={l} />
        ))}
      </ol>
    </details>
  );
}

/** The heading of a cell group: "Cell 4", its tags, and its duration ("running" while it has not ended). */
export function CellHeading(props: { group: CellGroup; failed: boolean }) {
  const { group } = props;
  const label = group.label;
  const name = !label ? `Cell ${group.cell} of the executed notebook` : label.number === null ? "injected parameters" : `Cell ${label.number}`;
  const tags = label?.number === null ? [] : (label?.tags ?? []);
  const duration = group.endedAt !== undefined ? formatDuration(group.endedAt - group.startedAt) : group.unfinished ? "did not finish" : "running";
  return (
    <summary id={headId(group)} class="cell-head">
      <span class="cell-name">{name}</span>
      {tags.map((t) => (
        <code class="cell-tag">{t}</code>
      ))}
      <span class="cell-duration">{duration}</span>
      {props.failed ? <span class="cell-raised">raised</span> : null}
    </summary>
  );
}

/** An htmx partial: `html` swapped into the element with DOM id `id` (ids are ours: log-g<number>…). */
const partial = (id: string, swap: "beforeend" | "outerHTML", html: string) => `<hx-partial hx-target="#${id}" hx-swap="${swap}">${html}</hx-partial>`;

/**
 * The live fragment for a line placed in `group` (`opened`: the line starts that group of lines; `unfinished`: the cell
 * it showed will not end, whose heading then says so).
 */
export function lineFragment(group: LogGroup, line: LogLine, opened: boolean, unfinished?: CellGroup): string {
  const item = (<LogLineItem line={line} />).toString();
  if (group.kind === "cell") return partial(linesId(group), "beforeend", item);
  const heading = unfinished ? partial(headId(unfinished), "outerHTML", (<CellHeading group={unfinished} failed={false} />).toString()) : "";
  return heading + (opened ? (<LinesGroupView group={{ key: group.key, lines: [line] }} />).toString() : partial(groupId(group), "beforeend", item));
}

/** The live fragment for a cell that starts: its (running, open) group, appended to the log. */
export function cellStartFragment(group: CellGroup): string {
  return (<CellGroupView group={{ ...group, lines: [] }} state={{ failed: false, open: true }} />).toString();
}

/** The live fragment for a cell that ended: its heading again, now with its duration. */
export function cellEndFragment(group: CellGroup): string {
  return partial(headId(group), "outerHTML", (<CellHeading group={group} failed={false} />).toString());
}

/** The live fragment for the cell that raised: its whole group again (its stored lines), opened and highlighted. */
export function failedCellFragment(group: CellGroup): string {
  return partial(groupId(group), "outerHTML", (<CellGroupView group={group} state={{ failed: true, open: true }} />).toString());
}
