-- Replica tokens (src/replication/replica-tokens.ts): the credential of a serving replica, good only for reading the
-- desired deployments and model files under /api/replication/. Only the token's SHA-256 is kept; revoking deletes
-- the row. last_used_at is refreshed at most once a minute.
CREATE TABLE replica_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL DEFAULT '',
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  last_used_at TEXT
);
