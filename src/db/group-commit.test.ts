import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "./connection.ts";
import { GroupCommit } from "./group-commit.ts";

const setup = () => {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), "mlops-group-")), "g.db"));
  db.$client.exec("CREATE TABLE t (id TEXT PRIMARY KEY)");
  const insert = db.$client.prepare("INSERT INTO t VALUES (?)");
  const ids = () =>
    db.$client
      .query<{ id: string }, []>("SELECT id FROM t ORDER BY id")
      .all()
      .map((r) => r.id);
  return { db, insert, ids, group: new GroupCommit(db.$client) };
};

describe("GroupCommit", () => {
  test("writes queued in one turn commit together; each caller gets its own result after the commit", async () => {
    const { insert, ids, group, db } = setup();
    const results = await Promise.all(["a", "b", "c"].map((id) => group.run(() => (insert.run(id), id.toUpperCase()))));
    expect(results).toEqual(["A", "B", "C"]);
    expect(ids()).toEqual(["a", "b", "c"]);
    expect(db.$client.inTransaction).toBe(false);
  });

  test("a failing callback rolls back only its own writes and rejects only its caller", async () => {
    const { insert, ids, group } = setup();
    const results = await Promise.allSettled([
      group.run(() => insert.run("x")),
      group.run(() => {
        insert.run("half-written");
        throw new Error("refused");
      }),
      group.run(() => insert.run("x")), // duplicate key: a SQLite error, its own savepoint only
      group.run(() => insert.run("z")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason.message).toBe("refused");
    expect(ids()).toEqual(["x", "z"]);
  });

  test("nothing is written before the caller awaits a later turn; a second batch commits separately", async () => {
    const { insert, ids, group } = setup();
    const first = group.run(() => insert.run("1"));
    expect(ids()).toEqual([]);
    await first;
    await group.run(() => insert.run("2"));
    expect(ids()).toEqual(["1", "2"]);
  });
});
