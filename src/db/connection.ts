// Opens the SQLite database with the pragmas every connection needs, and applies pending migrations.
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { migrations, type Migration } from "./migrations/index.ts";
import * as schema from "./schema.ts";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

/**
 * Open (creating if needed) the database file; busy_timeout first, then WAL, synchronous=NORMAL, foreign keys on.
 * The file and its -wal and -shm are readable by the server's user only (0600; an older, looser file is tightened):
 * the database holds the webhook secret and the sessions' hashes.
 */
export function openDatabase(path: string): Db {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true });
    // Created 0600 before SQLite opens it: SQLite gives -wal and -shm the database file's mode.
    closeSync(openSync(path, "a", 0o600));
    for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  }
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  return drizzle({ client: sqlite, schema }) as Db;
}

/** Apply the migrations not yet recorded, each in its own transaction; returns the names applied. Idempotent. */
export function migrate(db: Db, list: readonly Migration[] = migrations): string[] {
  const sqlite = db.$client;
  sqlite.exec(
    "CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))",
  );
  const done = new Set(
    sqlite
      .query<{ id: number }, []>("SELECT id FROM schema_migrations")
      .all()
      .map((r) => r.id),
  );
  const applied: string[] = [];
  for (const m of list) {
    if (done.has(m.id)) continue;
    sqlite
      .transaction(() => {
        sqlite.exec(m.sql);
        sqlite.query("INSERT INTO schema_migrations (id, name) VALUES (?, ?)").run(m.id, m.name);
      })
      .immediate();
    applied.push(m.name);
  }
  return applied;
}

/** Cheap liveness probe of the database. Never throws. */
export function databaseOk(db: Db): boolean {
  try {
    return db.$client.query<{ ok: number }, []>("SELECT 1 AS ok").get()?.ok === 1;
  } catch {
    return false;
  }
}
