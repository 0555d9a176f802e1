// /pipelines/{id}: the summary (polled while the pipeline is active) and the live log (SSE).
import type { PipelineCellLog } from "../src/notebooks/pipeline-cell-log.ts";
import type { SandboxStatus } from "../src/sandbox/notebook-sandbox.ts";
import { CellLog } from "./cell-log.tsx";
import { Layout } from "./layout.tsx";
import { When } from "./pipeline-format.tsx";
import { PipelineSummary, type PipelineSummaryProps } from "./pipeline-summary.tsx";
import { SandboxWarning } from "./sandbox-warning.tsx";

/** One pipeline's page; the log shows the stored lines grouped by cell and follows live ones until `done`. */
export function PipelinePage(props: PipelineSummaryProps & { version: string; sandbox: SandboxStatus; log: PipelineCellLog }) {
  const { log } = props;
  const id = props.pipeline.id;
  return (
    <Layout title={`Pipeline ${id}`} version={props.version}>
      <h2>
        Pipeline {id}{" "}
        <a href="/pipelines" class="back">
          all pipelines
        </a>
      </h2>
      <SandboxWarning sandbox={props.sandbox} />
      <div id="action-error" aria-live="polite"></div>
      <PipelineSummary pipeline={props.pipeline} active={props.active} />
      <h3>Log</h3>
      {props.pipeline.files_removed_at ? (
        <p id="log-removed" class="muted">
          The log and work files of this pipeline were removed by retention (RETENTION_DAYS) on <When iso={props.pipeline.files_removed_at} />.
        </p>
      ) : (
        <CellLog
          pipelineId={id}
          groups={log.groups}
          afterSeq={log.lastSeq}
          // The running cell (not ended) and the one that raised are unfolded; ended cells fold away.
          stateOf={(g) => ({ failed: g === log.failed, open: g === log.failed || g.endedAt === undefined })}
        />
      )}
    </Layout>
  );
}
