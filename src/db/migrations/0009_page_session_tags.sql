-- Page sessions no longer keep the admin token's hash (an ADMIN_TOKEN chosen by a person could be guessed offline
-- from it by whoever reads the database): each row keeps a tag, HMAC-SHA256 keyed by the session's own id (which only
-- the cookie holds) over the token's hash. Sessions made before are ended: everyone signs in once more.
DROP TABLE page_sessions;
CREATE TABLE page_sessions (
  id_sha256 TEXT PRIMARY KEY,
  admin_tag TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  expires_at INTEGER NOT NULL
);
CREATE INDEX page_sessions_expires ON page_sessions (expires_at);
