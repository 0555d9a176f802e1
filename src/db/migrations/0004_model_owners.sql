-- Which repository a model name belongs to, by full name (owner/name) so it survives removing and registering the
-- repository again. The first pipeline to register a version claims the name; models stored before this table
-- existed have no row and are claimed by the next pipeline that registers them. Only an admin moves a name.
CREATE TABLE model_owners (
  model_name TEXT PRIMARY KEY,
  repo_full_name TEXT NOT NULL,
  claimed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
