import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cutLine, readLines } from "./log-lines.ts";

/** The lines `script` (bash) prints, read with readLines and the given cap. */
async function linesOf(script: string, maxChars?: number): Promise<string[]> {
  const proc = Bun.spawn(["bash", "-c", script], { stdout: "pipe" });
  const lines: string[] = [];
  await readLines(proc.stdout.getReader(), (l) => lines.push(l), maxChars);
  return lines;
}

describe("readLines", () => {
  test("splits lines across chunks, keeps UTF-8 split mid-character, and emits a last line without newline", async () => {
    // Each printf is its own write, so the bytes of "é" (c3 a9) and the lines arrive in separate chunks.
    const script = String.raw`printf 'caf\xc3'; sleep 0.1; printf '\xa9 one\r\ntw'; sleep 0.1; printf 'o\n\nthree'`;
    expect(await linesOf(script)).toEqual(["café one", "two", "", "three"]);
  });

  test("a line longer than the cap keeps its start and counts what was cut, also across chunks and at the end", async () => {
    const script = String.raw`printf 'abcdefghij'; sleep 0.1; printf 'klmno\nshort\r\n12345\r\n'; printf 'xyzxyzxyz'`;
    expect(await linesOf(script, 5)).toEqual([cutLine("abcdefghijklmno", 5), "short", "12345", cutLine("xyzxyzxyz", 5)]);
    expect(cutLine("abcdefghijklmno", 5)).toBe("abcde … [line cut: 10 more characters dropped (NOTEBOOK_LOG_LINE_MAX_CHARS=5)]");
  });

  test("memory stays bounded while one line without newline grows to 200 MB", async () => {
    // In a process of its own, so the peak resident size measures readLines alone, not other tests' garbage.
    const script = [
      `import { readLines } from ${JSON.stringify(join(import.meta.dir, "log-lines.ts"))};`,
      "const base = process.resourceUsage().maxRSS;",
      `const proc = Bun.spawn(["bash", "-c", "head -c 200000000 /dev/zero | tr '\\\\0' x; printf '\\\\nend\\\\n'"], { stdout: "pipe" });`,
      "const lines: string[] = [];",
      "await readLines(proc.stdout.getReader(), (l) => lines.push(l), 1000);",
      "console.log(JSON.stringify({ grewKb: process.resourceUsage().maxRSS - base, lengths: lines.map((l) => l.length), last: lines.at(-1) }));",
    ].join("\n");
    const file = join(mkdtempSync(join(tmpdir(), "mlops-log-lines-")), "run.ts");
    writeFileSync(file, script);
    const r = Bun.spawnSync([process.execPath, file]);
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString()) as { grewKb: number; lengths: number[]; last: string };
    expect(out.lengths).toEqual([cutLine("x".repeat(1000), 1000, 200_000_000 - 1000).length, 3]);
    expect(out.last).toBe("end");
    // Kept: 1000 characters. Without the cap the line alone would be 200 MB of string.
    expect(out.grewKb).toBeLessThan(80 * 1024);
  });
});

describe("cutLine", () => {
  test("leaves a line that fits alone and counts characters dropped earlier", () => {
    expect(cutLine("hello", 5)).toBe("hello");
    expect(cutLine("hello", 5, 3)).toBe("hello … [line cut: 3 more characters dropped (NOTEBOOK_LOG_LINE_MAX_CHARS=5)]");
  });
});
