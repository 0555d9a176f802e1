// Shared by the queue's tests: a real SQLite file in a fresh temp dir, and a clock the test sets.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase, type Db } from "../db/connection.ts";
import type { Clock } from "../lib/clock.ts";

/** A clock that only moves when the test moves it. */
export type FakeClock = Clock & { t: number; advance(ms: number): void };

/** A FakeClock starting at `t` (epoch ms). */
export function fakeClock(t = 1_700_000_000_000): FakeClock {
  return {
    t,
    now() {
      return this.t;
    },
    advance(ms) {
      this.t += ms;
    },
  };
}

/** Path of a not-yet-created database file in a new temp dir. */
export function tempDbPath(): string {
  return join(mkdtempSync(join(tmpdir(), "mlops-queue-")), "mlops.db");
}

/** Open and migrate a database at `path` (default: a new temp file). */
export function openTestDb(path = tempDbPath()): Db {
  const db = openDatabase(path);
  migrate(db);
  return db;
}

/** A clock that runs with real time and that a test can also step forward (past a retry's delay), for a whole server. */
export type SteppedClock = Clock & { advance(ms: number): void };

/** A SteppedClock: real time plus whatever the test has stepped. */
export function steppedClock(): SteppedClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}
