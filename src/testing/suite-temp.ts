// Preloaded by `bun test` (bunfig.toml): every temporary file and directory the suite makes, in this process and in
// the servers and notebooks it starts, goes under one directory of its own (TMPDIR), removed when the run ends. A
// full run writes several GB there (environments, pipeline work dirs, notebooks that fill their file limit); without
// this they piled up in /tmp run after run.
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const base = process.env.TMPDIR || "/tmp";
// A nested bun test (a test that runs the suite's fast subset in a fresh clone) keeps its parent's directory.
if (!process.env.MLOPS_SUITE_TMP) {
  const dir = mkdtempSync(join(base, "mlops-suite-"));
  // Passable by every uid, as /tmp is: some tests run the server as another user with its data dir in here.
  chmodSync(dir, 0o755);
  process.env.MLOPS_SUITE_TMP = dir;
  process.env.TMPDIR = dir;
  // A hook of the preload runs once, after the last test file.
  afterAll(() => {
    const sizes = Bun.spawnSync(["du", "-sm", dir]).stdout.toString().split("\t")[0];
    rmSync(dir, { recursive: true, force: true });
    if (sizes) console.error(`test temp files: ${sizes} MB under ${dir}, removed`);
  });
}
