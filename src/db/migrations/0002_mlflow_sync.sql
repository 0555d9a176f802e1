-- What of each pipeline is in MLflow (only when MLFLOW_TRACKING_URI is set). A pipeline is synced in steps, each
-- recorded here as it completes, so a retry after MLflow was down (or after a crash) resumes where it stopped.
CREATE TABLE mlflow_sync (
  pipeline_id INTEGER PRIMARY KEY REFERENCES pipelines(id) ON DELETE CASCADE,
  status TEXT NOT NULL CHECK (status IN ('pending', 'synced', 'failed')),
  experiment_id TEXT,
  run_id TEXT,
  artifact_uri TEXT,
  logged INTEGER NOT NULL DEFAULT 0,
  artifacts INTEGER NOT NULL DEFAULT 0,
  model_version TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX mlflow_sync_status ON mlflow_sync (status);
