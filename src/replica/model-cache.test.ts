import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkState, ModelCache } from "./model-cache.ts";

const SHA = "a".repeat(64);

test("checkState keeps a well-formed state and refuses what could leave the cache or is not a version", () => {
  const good = { revision: 3, models: { iris: { version: 2, sha256: SHA, size: 10 } } };
  expect(checkState(good)).toEqual(good);
  const bad: [unknown, string][] = [
    [null, "not a JSON object"],
    [{ revision: -1, models: {} }, "revision"],
    [{ revision: 1, models: [] }, "models are not"],
    [{ revision: 1, models: { "../etc": { version: 1, sha256: SHA, size: 1 } } }, "not a usable name"],
    [{ revision: 1, models: { iris: { version: 1.5, sha256: SHA, size: 1 } } }, "no whole version"],
    [{ revision: 1, models: { iris: { version: 1, sha256: "zz", size: 1 } } }, "no sha256"],
    [{ revision: 1, models: { iris: { version: 1, sha256: SHA, size: -1 } } }, "no size"],
  ];
  for (const [value, words] of bad) expect(() => checkState(value)).toThrow(words);
});

test("the state is written atomically and read back; an unreadable one reads as none", () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-cache-"));
  const cache = new ModelCache(dir);
  expect(cache.readState()).toBeUndefined();
  const state = { revision: 5, models: { iris: { version: 1, sha256: SHA, size: 3 } } };
  cache.writeState(state);
  expect(cache.readState()).toEqual(state);
  expect(readdirSync(dir).sort()).toEqual(["models", "state.json"]);
  writeFileSync(join(dir, "state.json"), "{not json");
  expect(cache.readState()).toBeUndefined();
});

test("prune keeps only the files of what serves, and stray temp files go", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mlops-cache-"));
  const cache = new ModelCache(dir);
  for (const [name, v] of [
    ["iris", 1],
    ["iris", 2],
    ["old", 1],
  ] as const) {
    mkdirSync(join(dir, "models", name), { recursive: true });
    writeFileSync(cache.path(name, v), "x");
  }
  writeFileSync(cache.tempPath("iris", 3), "partial");
  cache.prune({ iris: { version: 2 } });
  expect(readdirSync(join(dir, "models"))).toEqual(["iris"]);
  expect(readdirSync(join(dir, "models", "iris"))).toEqual(["2.onnx"]);
  expect(existsSync(cache.path("old", 1))).toBe(false);
  expect(await cache.holds("iris", 2, SHA)).toBe(false);
});
