-- Upload tokens (src/pipeline/upload-tokens.ts): one live token per pipeline for sending its results back over HTTP
-- (POST /api/pipelines/{id}/artifacts). Only the token's SHA-256 is kept; a new token replaces the row, a pipeline's
-- end deletes it, and it is good only while the pipeline runs.
CREATE TABLE upload_tokens (
  pipeline_id INTEGER PRIMARY KEY REFERENCES pipelines(id) ON DELETE CASCADE,
  token_sha256 TEXT NOT NULL,
  issued_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
