-- Page sessions: the cookie holds a random id; only its SHA-256 is stored, with the admin token hash that signed in
-- (a session ends when the admin token changes) and when it expires. Logout deletes the row.
CREATE TABLE page_sessions (
  id_sha256 TEXT PRIMARY KEY,
  admin_token_sha256 TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  expires_at INTEGER NOT NULL
);
CREATE INDEX page_sessions_expires ON page_sessions (expires_at);
