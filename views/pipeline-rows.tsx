// The body of the pipelines table: the list page renders it, and htmx re-fetches it while pipelines are active.
import type { PipelineJson } from "../src/pipeline/pipeline-view.ts";
import { formatDuration, RepoRef, ShortSha, StatusBadge, When } from "./pipeline-format.tsx";

export type PipelineRowsProps = {
  pipelines: (PipelineJson & { repo_name?: string })[];
  /** The fragment's own URL, with the page's filters. */
  rowsUrl: string;
  /** Whether to re-fetch every 2 s (something listed is queued or running); without it polling stops. */
  poll: boolean;
};

const PIPELINE_COLUMNS = 9;

/** `<tbody id="pipeline-rows">`, swapped whole (outerHTML) so each answer decides whether polling goes on. */
export function PipelineRows(props: PipelineRowsProps) {
  const polling = props.poll ? { "hx-get": props.rowsUrl, "hx-trigger": "every 2s", "hx-swap": "outerHTML" } : {};
  return (
    <tbody id="pipeline-rows" {...polling}>
      {props.pipelines.length === 0 && (
        <tr>
          <td colspan={PIPELINE_COLUMNS} class="muted">
            No pipelines match.
          </td>
        </tr>
      )}
      {props.pipelines.map((p) => (
        <tr>
          <td>
            <a href={`/pipelines/${p.id}`}>{p.id}</a>
          </td>
          <td>
            <RepoRef repoId={p.repo_id} name={p.repo_name} />
          </td>
          <td>
            <code>{p.notebook_path}</code>
          </td>
          <td>{p.model_name ?? <span class="muted">—</span>}</td>
          <td>
            <StatusBadge status={p.status} />
          </td>
          <td>{p.trigger}</td>
          <td>
            <ShortSha sha={p.commit} />
          </td>
          <td>
            <When iso={p.created_at} />
          </td>
          <td>{formatDuration(p.duration_ms)}</td>
        </tr>
      ))}
    </tbody>
  );
}
