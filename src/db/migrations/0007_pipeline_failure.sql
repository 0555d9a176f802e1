-- Why a pipeline did not succeed, as JSON {phase, kind, message, cell?} (src/pipeline/pipeline-failure.ts).
ALTER TABLE pipelines ADD COLUMN failure TEXT;
-- The runner's handle of the pipeline's latest run (src/runner/runner.ts), stored at submit.
ALTER TABLE pipelines ADD COLUMN runner_handle TEXT;

-- Pipelines that ended before: the kind from their status and reason, the phase that failed (if any). The failed
-- cell of an old failure stays in its one-line error only.
UPDATE pipelines SET failure = json_object(
    'phase', (SELECT name FROM pipeline_phases ph WHERE ph.pipeline_id = pipelines.id AND ph.status = 'failed' ORDER BY position LIMIT 1),
    'kind', CASE
      WHEN status = 'timed_out' THEN 'timeout'
      WHEN status IN ('cancelled', 'superseded') THEN 'cancelled'
      WHEN error LIKE 'interrupted:%' THEN 'interrupted'
      ELSE 'notebook_error'
    END,
    'message', coalesce(error, status))
  WHERE status IN ('failed', 'timed_out', 'cancelled', 'superseded');
