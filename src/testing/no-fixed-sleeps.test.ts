// Tests (the Ray tests, *.raytest.ts, too) wait by driving, never by sleeping a fixed time and then checking (which
// passes when the thing checked for happens later): every wait goes through eventually() of src/testing/eventually.ts,
// and a deliberate pace() is never the step right before an assertion.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "..");

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory()
      ? testFiles(path)
      : name.endsWith(".test.ts") || name.endsWith(".test.tsx") || name.endsWith(".raytest.ts")
        ? [path]
        : [];
  });
}

/** `code` (a test file's text) broken by the rules: the line numbers and why. */
export function fixedSleeps(code: string): string[] {
  const lines = code.split("\n");
  const found: string[] = [];
  lines.forEach((line, i) => {
    if (/^\s*\/\//.test(line)) return;
    if (/\bBun\.sleep\(|\bsetTimeout\(/.test(line)) found.push(`${i + 1}: sleeps directly (use eventually() or pace())`);
    if (/\bawait pace\(/.test(line)) {
      const next = lines.slice(i + 1).find((l) => l.trim() !== "" && !/^\s*\/\//.test(l));
      if (next !== undefined && /^\s*expect\(/.test(next)) found.push(`${i + 1}: asserts right after a fixed pace()`);
    }
  });
  return found;
}

test("no test sleeps a fixed time (other than a pace() not followed by an assertion)", () => {
  const broken = testFiles(SRC)
    .filter((f) => !f.endsWith("no-fixed-sleeps.test.ts"))
    .flatMap((f) => fixedSleeps(readFileSync(f, "utf8")).map((why) => `${relative(SRC, f)}:${why}`));
  expect(broken).toEqual([]);
});

test("the rule sees a sleep, and an assertion right after a pace", () => {
  expect(fixedSleeps("await Bun.sleep(300);\nexpect(x).toBe(1);")).toEqual(["1: sleeps directly (use eventually() or pace())"]);
  expect(fixedSleeps("await pace(30);\n\n  expect(x).toBe(1);")).toEqual(["1: asserts right after a fixed pace()"]);
  expect(fixedSleeps("await pace(30);\nconst r = await act();\nexpect(r).toBe(1);")).toEqual([]);
  expect(fixedSleeps("// await Bun.sleep(5) in a comment")).toEqual([]);
});
