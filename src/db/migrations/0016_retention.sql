-- Retention (RETENTION_DAYS): when a pipeline's log and work dir were removed, and whether its executed notebook
-- was kept then (a serving or recently deployed version's), so a later sweep can remove it once it is no longer kept.
ALTER TABLE pipelines ADD COLUMN files_removed_at TEXT;
ALTER TABLE pipelines ADD COLUMN notebook_kept INTEGER NOT NULL DEFAULT 0;
-- The home page reads the newest job of a kind (the GitHub commit status reporting's last delivery).
CREATE INDEX jobs_kind_updated ON jobs (kind, updated_at);
-- What a retention sweep looks for, without scanning every pipeline.
CREATE INDEX pipelines_retention ON pipelines (finished_at) WHERE files_removed_at IS NULL;
CREATE INDEX pipelines_notebook_kept ON pipelines (id) WHERE notebook_kept = 1;
-- The home page's MLflow sync health: the last success and the newest error, without scanning every sync.
CREATE INDEX mlflow_sync_status_updated ON mlflow_sync (status, updated_at);
CREATE INDEX mlflow_sync_errors ON mlflow_sync (updated_at) WHERE last_error IS NOT NULL;
