CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE repositories (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  full_name TEXT NOT NULL UNIQUE,
  clone_url TEXT NOT NULL,
  branch TEXT NOT NULL,
  notebook_glob TEXT NOT NULL,
  deploy_metric TEXT NOT NULL,
  deploy_threshold REAL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  event TEXT NOT NULL,
  repo_full_name TEXT,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  payload TEXT,
  received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  dedupe_key TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 1,
  run_at INTEGER NOT NULL,
  locked_by TEXT,
  locked_until INTEGER,
  last_error TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_claim ON jobs (state, run_at, id);
CREATE INDEX jobs_dedupe ON jobs (dedupe_key, state);

CREATE TABLE pipelines (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  repo_id INTEGER REFERENCES repositories(id) ON DELETE SET NULL,
  delivery_id TEXT,
  trigger TEXT NOT NULL,
  ref TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  before_sha TEXT,
  notebook_path TEXT NOT NULL,
  model_name TEXT,
  status TEXT NOT NULL,
  error TEXT,
  metrics TEXT,
  model_version INTEGER,
  retry_of INTEGER,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  started_at TEXT,
  finished_at TEXT
);
CREATE INDEX pipelines_status ON pipelines (status);
CREATE INDEX pipelines_repo ON pipelines (repo_id, id);

CREATE TABLE pipeline_phases (
  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  position INTEGER NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  error TEXT,
  PRIMARY KEY (pipeline_id, name)
);

CREATE TABLE pipeline_log_lines (
  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  stream TEXT NOT NULL,
  line TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (pipeline_id, seq)
);

CREATE TABLE pipeline_processes (
  pipeline_id INTEGER NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
  pid INTEGER NOT NULL,
  start_time TEXT NOT NULL,
  PRIMARY KEY (pipeline_id, pid)
);

CREATE TABLE model_versions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  format TEXT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}',
  signature TEXT,
  repo_id INTEGER,
  commit_sha TEXT,
  notebook_path TEXT,
  pipeline_id INTEGER,
  notebook_version TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE UNIQUE INDEX model_versions_name_version ON model_versions (model_name, version);

CREATE TABLE deployments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_name TEXT NOT NULL,
  version INTEGER,
  reason TEXT NOT NULL,
  pipeline_id INTEGER,
  actor TEXT,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX deployments_model ON deployments (model_name, id);
