// Replica tokens on a real SQLite file: made, checked, listed, revoked; last_used_at written at most once a minute;
// `mlops create-replica-token` through the real command on a data dir.
import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { migrate, openDatabase } from "../db/connection.ts";
import { ReplicaTokens } from "./replica-tokens.ts";

const ROOT = resolve(import.meta.dir, "..", "..");

function freshDb() {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), "mlops-replica-tokens-")), "mlops.db"));
  migrate(db);
  return db;
}

describe("ReplicaTokens", () => {
  test("check gives the id of a live token and undefined for anything else", () => {
    const tokens = new ReplicaTokens(freshDb());
    const a = tokens.create("a");
    const b = tokens.create();
    expect(a.token).not.toBe(b.token);
    // 32 random bytes, base64url: 43 URL-safe characters.
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tokens.check(a.token)).toBe(a.id);
    expect(tokens.check(b.token)).toBe(b.id);
    for (const wrong of ["", a.token.slice(1), `${a.token}x`, "x".repeat(10_000), "ünïcode"]) expect(tokens.check(wrong)).toBeUndefined();
  });

  test("revoke: refused at once, listeners hear it, the other tokens stay; an unknown id throws NotFoundError", () => {
    const tokens = new ReplicaTokens(freshDb());
    const a = tokens.create("a");
    const b = tokens.create("b");
    const heard: number[] = [];
    tokens.onRevoke((id) => heard.push(id));
    tokens.revoke(a.id);
    expect(tokens.check(a.token)).toBeUndefined();
    expect(tokens.isLive(a.id)).toBe(false);
    expect(tokens.check(b.token)).toBe(b.id);
    expect(heard).toEqual([a.id]);
    expect(() => tokens.revoke(a.id)).toThrow(`replica token ${a.id} does not exist`);
    expect(tokens.list().map((x) => x.name)).toEqual(["b"]);
  });

  test("last_used_at is written on use, then at most once a minute", () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const tokens = new ReplicaTokens(freshDb(), () => now);
    const a = tokens.create("a");
    expect(tokens.list()[0]!.last_used_at).toBeNull();
    tokens.check(a.token);
    expect(tokens.list()[0]!.last_used_at).toBe("2030-01-01T00:00:00.000Z");
    now += 59_000;
    tokens.check(a.token);
    expect(tokens.list()[0]!.last_used_at).toBe("2030-01-01T00:00:00.000Z");
    now += 1_000;
    tokens.check(a.token);
    expect(tokens.list()[0]!.last_used_at).toBe("2030-01-01T00:01:00.000Z");
  });
});

describe("mlops create-replica-token", () => {
  const run = (dataDir: string, ...args: string[]) => {
    const p = Bun.spawnSync([process.execPath, join(ROOT, "src", "main.ts"), "create-replica-token", ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, LOG_LEVEL: "silent" },
    });
    return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
  };

  test("prints the token alone on its last line; the primary's database knows it by its hash", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mlops-replica-cli-"));
    const named = run(dataDir, "--name", "edge-1");
    expect(named.code).toBe(0);
    const token = named.out.trimEnd().split("\n").at(-1)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const unnamed = run(dataDir);
    expect(unnamed.code).toBe(0);
    const second = unnamed.out.trimEnd().split("\n").at(-1)!;

    const db = openDatabase(join(dataDir, "mlops.db"));
    const tokens = new ReplicaTokens(db);
    expect(tokens.list().map((x) => x.name)).toEqual(["", "edge-1"]);
    expect(tokens.check(token)).toBe(tokens.list()[1]!.id);
    expect(tokens.check(second)).toBe(tokens.list()[0]!.id);
    db.$client.close();
  });

  test("a bad argument is exit 2 with the usage, and makes no token", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "mlops-replica-cli-"));
    for (const args of [["--nam", "x"], ["--name"], ["extra"]]) {
      const r = run(dataDir, ...args);
      expect(r.code).toBe(2);
      expect(r.err).toContain("usage: mlops create-replica-token [--name <label>]");
    }
    const db = openDatabase(join(dataDir, "mlops.db"));
    migrate(db);
    expect(new ReplicaTokens(db).list()).toEqual([]);
    db.$client.close();
  });
});
