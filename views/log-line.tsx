// One line of a pipeline's log as the page's live log shows it (sent over SSE, appended to <ol id="log">).
import type { LogLine } from "../src/pipeline/pipeline-store.ts";

/** `<li>` with the line as escaped text, classed by its stream (stdout, stderr, mlops). */
export function LogLineItem(props: { line: LogLine }) {
  return (
    <li class={props.line.stream} data-seq={props.line.seq}>
      {props.line.line}
    </li>
  );
}
