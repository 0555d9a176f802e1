// The tree is formatted by the committed formatter (Biome, biome.json): `bun run format` writes it, this checks it,
// so CI fails on unformatted code.
import { expect, test } from "bun:test";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

test("every file biome.json covers is formatted (run `bun run format`)", () => {
  const r = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "biome"), "format", "--max-diagnostics=20", "."], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const report = r.stdout.toString() + r.stderr.toString();
  expect({ code: r.exitCode, unformatted: report.split("\n").filter((l) => / format ━/.test(l)) }).toEqual({ code: 0, unformatted: [] });
});
