// The repository stands alone: a clone with nothing beside it (no shared/ folder, no fixtures from elsewhere) runs
// its tests. This clones the committed HEAD into an empty temp dir, links in the installed dependencies (installing
// them again is the README's test command's job, which CI runs on a clean clone), and runs a fast subset there: the
// webhook tests read the GitHub fixtures, the docs and architecture tests read docs/ and the whole tree.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

test("a clone alone, with nothing beside it, passes the tests that read fixtures, docs and the tree", async () => {
  const parent = mkdtempSync(join(tmpdir(), "mlops-clone-alone-"));
  made.push(parent);
  const clone = join(parent, "mlops");
  const cloned = Bun.spawnSync(["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone], { stderr: "pipe" });
  expect(cloned.stderr.toString()).toBe("");
  expect(cloned.exitCode).toBe(0);
  expect(existsSync(join(dirname(clone), "shared"))).toBe(false);
  for (const dep of ["node_modules", ".venv"]) symlinkSync(join(ROOT, dep), join(clone, dep));

  const run = Bun.spawn([process.execPath, "test", "--timeout", "60000", "src/http/webhook.test.ts", "src/config-docs.test.ts", "src/architecture.test.ts"], {
    cwd: clone,
    env: { ...process.env, PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([run.exited, new Response(run.stdout).text(), new Response(run.stderr).text()]);
  const report = out + err;
  expect({ code, failures: report.split("\n").filter((l) => l.startsWith("(fail)")) }).toEqual({ code: 0, failures: [] });
  expect(report).toMatch(/\n\s*[1-9]\d* pass\n/);
}, 120_000);
