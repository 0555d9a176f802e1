// docs/ stays true: every variable the configuration schema reads has a row in settings.md, and every row
// names a variable the schema reads.
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SETTING_NAMES } from "./config.ts";

test("docs/settings.md has one row for every setting, and no other", () => {
  const doc = readFileSync(join(import.meta.dir, "..", "docs", "settings.md"), "utf8");
  // first cells of the table rows: "| `PORT` / `HOST` | ..." names PORT and HOST
  const documented = doc
    .split("\n")
    .filter((line) => line.startsWith("| `"))
    .flatMap((line) => [...line.split("|")[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!));
  expect(new Set(documented).size).toBe(documented.length);
  expect([...documented].sort()).toEqual([...SETTING_NAMES].sort());
});

test("every test docs/faults.md names exists", () => {
  const doc = readFileSync(join(import.meta.dir, "..", "docs", "faults.md"), "utf8");
  const named = [...doc.matchAll(/`([a-z0-9/-]+\.test\.ts)`/g)].map((m) => m[1]!);
  expect(named.length).toBeGreaterThan(10);
  expect(named.filter((f) => !existsSync(join(import.meta.dir, f)))).toEqual([]);
});
