// One line of a pipeline's log as the page shows it, in the list of its cell or of the lines outside cells (views/cell-log.tsx).
import type { LogLine } from "../src/pipeline/pipeline-store.ts";

/** `<li>` with the line as escaped text, classed by its stream (stdout, stderr, mlops). */
export function LogLineItem(props: { line: LogLine }) {
  return (
    <li class={props.line.stream} data-seq={props.line.seq}>
      {props.line.line}
    </li>
  );
}
