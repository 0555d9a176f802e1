// Migration 7 gives pipelines that ended before it a structured failure read from their status, reason and failed phase.
import { expect, test } from "bun:test";
import { migrate, openDatabase } from "../connection.ts";
import { tempDbPath } from "../../testing/db.ts";
import { migrations } from "./index.ts";

test("ended pipelines get a failure from their status, reason and failed phase; running and succeeded ones get none", () => {
  const db = openDatabase(tempDbPath());
  migrate(
    db,
    migrations.filter((m) => m.id < 7),
  );
  const sql = db.$client;
  const add = (status: string, error: string | null, failedPhase?: string) => {
    const { id } = sql
      .query<{ id: number }, [string, string | null]>(
        "INSERT INTO pipelines (trigger, ref, commit_sha, notebook_path, status, error) VALUES ('push', 'refs/heads/main', 'abc', 'n.ipynb', ?, ?) RETURNING id",
      )
      .get(status, error)!;
    ["download", "validate", "execute", "register", "deploy"].forEach((name, position) =>
      sql
        .query("INSERT INTO pipeline_phases (pipeline_id, name, position, status) VALUES (?, ?, ?, ?)")
        .run(id, name, position, name === failedPhase ? "failed" : "pending"),
    );
    return id;
  };
  const ids = {
    interrupted: add("failed", "interrupted: the server stopped while this pipeline ran; retry it to run it again", "execute"),
    raised: add("failed", "cell 3 of the notebook raised ValueError: x", "execute"),
    timedOut: add("timed_out", "ran past PIPELINE_TIMEOUT_SECONDS", "execute"),
    superseded: add("superseded", "superseded by pipeline 9"),
    cancelled: add("cancelled", null),
    succeeded: add("succeeded", null),
    running: add("running", null),
  };
  migrate(db);
  const failureOf = (id: number) => {
    const raw = (sql.query("SELECT failure FROM pipelines WHERE id = ?").get(id) as { failure: string | null }).failure;
    return raw === null ? null : JSON.parse(raw);
  };
  expect(failureOf(ids.interrupted)).toEqual({
    phase: "execute",
    kind: "interrupted",
    message: "interrupted: the server stopped while this pipeline ran; retry it to run it again",
  });
  expect(failureOf(ids.raised)).toEqual({ phase: "execute", kind: "notebook_error", message: "cell 3 of the notebook raised ValueError: x" });
  expect(failureOf(ids.timedOut)).toEqual({ phase: "execute", kind: "timeout", message: "ran past PIPELINE_TIMEOUT_SECONDS" });
  expect(failureOf(ids.superseded)).toEqual({ phase: null, kind: "cancelled", message: "superseded by pipeline 9" });
  expect(failureOf(ids.cancelled)).toEqual({ phase: null, kind: "cancelled", message: "cancelled" });
  expect(failureOf(ids.succeeded)).toBeNull();
  expect(failureOf(ids.running)).toBeNull();
});
