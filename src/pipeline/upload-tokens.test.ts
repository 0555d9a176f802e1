// Upload tokens on a real SQLite file: good for one pipeline, only while it runs, one live token per pipeline,
// revoked by every end that goes through PipelineEnding, and never stored in the clear.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import type { Db } from "../db/connection.ts";
import { uploadTokens } from "../db/schema.ts";
import { NotFoundError } from "../lib/errors.ts";
import { hashToken } from "../lib/tokens.ts";
import { openTestDb, tempDbPath } from "../testing/db.ts";
import { LogBus } from "./log-bus.ts";
import { PipelineEnding, type EndStatus } from "./pipeline-ending.ts";
import { failure, FailureKind } from "./pipeline-failure.ts";
import { PipelineStore } from "./pipeline-store.ts";
import { UploadTokens } from "./upload-tokens.ts";

function setup(path = tempDbPath()) {
  const db = openTestDb(path);
  const store = new PipelineStore(db);
  const ending = new PipelineEnding(store, new LogBus(store));
  const tokens = new UploadTokens(db);
  tokens.revokeOnEnd(ending);
  const pipeline = (running = true) => {
    const p = store.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "n.ipynb" });
    if (running) store.markRunning(p.id);
    return p.id;
  };
  return { db, store, ending, tokens, pipeline, path };
}

const rows = (db: Db) => db.select().from(uploadTokens).all();

describe("UploadTokens", () => {
  test("a token is 256 random bits, URL-safe, and good for its own running pipeline only", () => {
    const { tokens, pipeline } = setup();
    const a = pipeline();
    const b = pipeline();
    const ta = tokens.issue(a);
    const tb = tokens.issue(b);
    expect(ta).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ta).not.toBe(tb);
    expect(tokens.check(a, ta)).toBe(true);
    expect(tokens.check(b, tb)).toBe(true);
    // another pipeline's token, a near miss, nonsense
    expect(tokens.check(a, tb)).toBe(false);
    expect(tokens.check(b, ta)).toBe(false);
    expect(tokens.check(a, `${ta.slice(0, -1)}${ta.endsWith("A") ? "B" : "A"}`)).toBe(false);
    for (const bad of ["", "x", "x".repeat(10_000)]) expect(tokens.check(a, bad)).toBe(false);
    expect(tokens.check(9999, ta)).toBe(false);
    expect(tokens.check(Number.NaN, ta)).toBe(false);
  });

  test("a queued pipeline's token is refused until the pipeline runs", () => {
    const { tokens, store, pipeline } = setup();
    const id = pipeline(false);
    const token = tokens.issue(id);
    expect(tokens.check(id, token)).toBe(false);
    store.markRunning(id);
    expect(tokens.check(id, token)).toBe(true);
  });

  test("issuing again replaces the pipeline's token: the old one stops working, one row is kept", () => {
    const { db, tokens, pipeline } = setup();
    const id = pipeline();
    const first = tokens.issue(id);
    const second = tokens.issue(id);
    expect(tokens.check(id, first)).toBe(false);
    expect(tokens.check(id, second)).toBe(true);
    expect(rows(db)).toEqual([expect.objectContaining({ pipelineId: id, tokenSha256: hashToken(second) })]);
  });

  test("revoke ends the token at once and is idempotent; other pipelines' tokens stay", () => {
    const { db, tokens, pipeline } = setup();
    const a = pipeline();
    const b = pipeline();
    const ta = tokens.issue(a);
    const tb = tokens.issue(b);
    tokens.revoke(a);
    tokens.revoke(a);
    expect(tokens.check(a, ta)).toBe(false);
    expect(tokens.check(b, tb)).toBe(true);
    expect(rows(db).map((r) => r.pipelineId)).toEqual([b]);
  });

  test("every end through PipelineEnding revokes the token, whatever the status", () => {
    const { db, tokens, ending, pipeline } = setup();
    const ends: EndStatus[] = ["succeeded", "failed", "cancelled", "timed_out"];
    const issued = ends.map((status) => ({ status, id: pipeline(), token: "" }));
    const bystander = pipeline();
    const bystanderToken = tokens.issue(bystander);
    for (const p of issued) p.token = tokens.issue(p.id);
    for (const p of issued) {
      expect(tokens.check(p.id, p.token)).toBe(true);
      expect(ending.end(p.id, p.status, p.status === "succeeded" ? null : failure("execute", FailureKind.runner, "it ended"))).toBe(true);
      expect(tokens.check(p.id, p.token)).toBe(false);
    }
    expect(rows(db).map((r) => r.pipelineId)).toEqual([bystander]);
    expect(tokens.check(bystander, bystanderToken)).toBe(true);
  });

  test("issuing for a pipeline that does not exist throws NotFoundError and stores nothing", () => {
    const { db, tokens } = setup();
    expect(() => tokens.issue(424242)).toThrow(NotFoundError);
    expect(rows(db)).toEqual([]);
  });

  test("the raw token appears nowhere in the database files, only its SHA-256", () => {
    const { db, tokens, pipeline, path } = setup();
    const issued = [pipeline(), pipeline()].map((id) => tokens.issue(id));
    expect(rows(db).map((r) => r.tokenSha256)).toEqual(issued.map(hashToken));
    // Whatever is on disk, committed pages and the write-ahead log alike.
    const bytes = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f).toString("latin1"));
    expect(bytes.join("")).toContain(hashToken(issued[0]!));
    for (const token of issued) for (const b of bytes) expect(b.includes(token)).toBe(false);
  });
});
