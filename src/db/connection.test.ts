import { describe, expect, test } from "bun:test";
import { getTableConfig, type SQLiteTable } from "drizzle-orm/sqlite-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databaseOk, migrate, openDatabase } from "./connection.ts";
import { migrations } from "./migrations/index.ts";
import * as schema from "./schema.ts";

const dbPath = () => join(mkdtempSync(join(tmpdir(), "mlops-db-")), "nested", "mlops.db");

describe("database", () => {
  test("a fresh data dir gets the schema, with the pragmas set", () => {
    const db = openDatabase(dbPath());
    expect(migrate(db)).toEqual(migrations.map((m) => m.name));
    const sqlite = db.$client;
    expect(sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
    expect(sqlite.query<{ foreign_keys: number }, []>("PRAGMA foreign_keys").get()?.foreign_keys).toBe(1);
    expect(sqlite.query<{ synchronous: number }, []>("PRAGMA synchronous").get()?.synchronous).toBe(1);
    expect(sqlite.query<{ timeout: number }, []>("PRAGMA busy_timeout").get()?.timeout).toBe(5000);
    expect(databaseOk(db)).toBe(true);
  });

  test("a second start applies nothing and leaves data and schema untouched", () => {
    const path = dbPath();
    const first = openDatabase(path);
    migrate(first);
    first.$client.exec("INSERT INTO settings (key, value) VALUES ('k', 'v')");
    const schemaBefore = first.$client.query("SELECT sql FROM sqlite_master ORDER BY name").all();
    first.$client.close();

    const second = openDatabase(path);
    expect(migrate(second)).toEqual([]);
    expect(second.$client.query("SELECT sql FROM sqlite_master ORDER BY name").all()).toEqual(schemaBefore);
    expect(second.$client.query("SELECT key, value FROM settings").all()).toEqual([{ key: "k", value: "v" }]);
    expect(second.$client.query("SELECT count(*) AS n FROM schema_migrations").get()).toEqual({ n: migrations.length });
  });

  test("a failing migration rolls back whole and is not recorded", () => {
    const db = openDatabase(dbPath());
    migrate(db);
    const broken = [...migrations, { id: 999, name: "broken", sql: "CREATE TABLE half (x INTEGER); SELECT * FROM no_such_table;" }];
    expect(() => migrate(db, broken)).toThrow(/no_such_table/);
    expect(db.$client.query("SELECT name FROM sqlite_master WHERE name = 'half'").all()).toEqual([]);
    expect(db.$client.query("SELECT id FROM schema_migrations WHERE id = 999").all()).toEqual([]);
  });

  test("every drizzle table and column exists in the migrated database with the same nullability", () => {
    const db = openDatabase(dbPath());
    migrate(db);
    const tables = (Object.values(schema) as unknown[]).filter(
      (t): t is SQLiteTable => typeof t === "object" && t !== null && Symbol.for("drizzle:IsDrizzleTable") in t,
    );
    expect(tables.length).toBeGreaterThanOrEqual(9);
    for (const table of tables) {
      const cfg = getTableConfig(table);
      const cols = db.$client.query<{ name: string; notnull: number; pk: number }, []>(`PRAGMA table_info(${cfg.name})`).all();
      expect({ table: cfg.name, count: cols.length }).toEqual({ table: cfg.name, count: cfg.columns.length });
      for (const col of cfg.columns) {
        const found = cols.find((c) => c.name === col.name);
        expect({ table: cfg.name, column: col.name, found: !!found }).toEqual({ table: cfg.name, column: col.name, found: true });
        if (found && !found.pk)
          expect({ column: `${cfg.name}.${col.name}`, notNull: found.notnull === 1 }).toEqual({ column: `${cfg.name}.${col.name}`, notNull: col.notNull });
      }
    }
  });
});
