// /pipelines: every pipeline, newest first, filtered by status and model.
import type { PipelineJson } from "../src/pipeline/pipeline-view.ts";
import type { SandboxStatus } from "../src/sandbox/notebook-sandbox.ts";
import { Layout } from "./layout.tsx";
import { PipelineRows } from "./pipeline-rows.tsx";
import { SandboxWarning } from "./sandbox-warning.tsx";

export type PipelinesPageProps = {
  version: string;
  pipelines: PipelineJson[];
  filter: { status?: string; model?: string };
  /** Every pipeline status, for the filter. */
  statuses: readonly string[];
  rowsUrl: string;
  poll: boolean;
  sandbox: SandboxStatus;
};

/** The filter form and the table; its body polls while something listed is active. */
export function PipelinesPage(props: PipelinesPageProps) {
  return (
    <Layout title="Pipelines" version={props.version}>
      <h2>Pipelines</h2>
      <SandboxWarning sandbox={props.sandbox} />
      <form method="get" action="/pipelines" class="filters">
        <label>
          Status{" "}
          <select name="status">
            <option value="">any</option>
            {props.statuses.map((s) => (
              <option value={s} selected={s === props.filter.status}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model <input type="text" name="model" value={props.filter.model ?? ""} placeholder="any" />
        </label>
        <button type="submit">Filter</button>
      </form>
      <table class="pipelines">
        <thead>
          <tr>
            <th>id</th>
            <th>repo</th>
            <th>notebook</th>
            <th>model</th>
            <th>status</th>
            <th>trigger</th>
            <th>commit</th>
            <th>created (UTC)</th>
            <th>duration</th>
          </tr>
        </thead>
        <PipelineRows pipelines={props.pipelines} rowsUrl={props.rowsUrl} poll={props.poll} />
      </table>
    </Layout>
  );
}
