// Migration 9: page sessions made under the old layout (with the admin token's hash) are ended, not carried over.
import { expect, test } from "bun:test";
import { migrate, openDatabase } from "../connection.ts";
import { tempDbPath } from "../../testing/db.ts";
import { migrations } from "./index.ts";

test("sessions stored with the admin token's hash are dropped; the table keeps only tags", () => {
  const path = tempDbPath();
  const db = openDatabase(path);
  migrate(
    db,
    migrations.filter((m) => m.id < 9),
  );
  db.$client.run("INSERT INTO page_sessions (id_sha256, admin_token_sha256, expires_at) VALUES ('aa', 'token-hash', 1)");
  migrate(db);
  const columns = db.$client
    .query<{ name: string }, []>("SELECT name FROM pragma_table_info('page_sessions')")
    .all()
    .map((c) => c.name);
  expect(columns).toEqual(["id_sha256", "admin_tag", "created_at", "expires_at"]);
  expect(db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM page_sessions").get()!.n).toBe(0);
});
