// No Docker engine runs here, so the Dockerfile is checked by doing its steps: the build stage's COPY lines are
// carried out into an empty directory (node_modules linked in place of its `npm ci`) and its build command is run
// there, so a file the build needs but the stage does not copy fails this test as it would fail `docker build`.
// The runtime stage's sources must exist, and what it runs must be what the build stage made.
import { expect, test } from "bun:test";
import { cpSync, existsSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

type Stage = { name: string; workdir: string; copies: { from?: string; sources: string[]; dest: string }[]; runs: string[]; env: string[] };

/** The Dockerfile's stages with their WORKDIR, COPY, RUN and ENV instructions (continuation lines joined). */
function stages(text: string): Stage[] {
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const out: Stage[] = [];
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(" ");
    if (instruction === "FROM") out.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? `stage-${out.length}`, workdir: "/", copies: [], runs: [], env: [] });
    const stage = out.at(-1)!;
    if (instruction === "WORKDIR") stage.workdir = args;
    if (instruction === "RUN") stage.runs.push(args);
    if (instruction === "ENV") stage.env.push(args);
    if (instruction === "COPY") {
      const words = args.split(/\s+/);
      const from = words[0]!.startsWith("--from=") ? words.shift()!.slice("--from=".length) : undefined;
      stage.copies.push({ from, sources: words.slice(0, -1), dest: words.at(-1)! });
    }
  }
  return out;
}

const dockerfile = stages(await Bun.file(join(ROOT, "Dockerfile")).text());

test("the Dockerfile's build stage, carried out step by step, compiles an executable that runs", async () => {
  const build = dockerfile.find((s) => s.name === "build")!;
  expect(build).toBeDefined();
  const dir = mkdtempSync(join(tmpdir(), "mlops-docker-build-"));
  for (const copy of build.copies) {
    expect(copy.from).toBeUndefined();
    for (const source of copy.sources) {
      const target = copy.dest.endsWith("/") || copy.sources.length > 1 ? join(dir, copy.dest, source) : join(dir, copy.dest);
      cpSync(join(ROOT, source), target, { recursive: true });
    }
  }
  expect(build.runs.some((r) => r.includes("npm ci"))).toBe(true);
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules")); // what its `npm ci` installs
  const command = build.runs.find((r) => r.includes("scripts/build.ts"))!;
  expect(command).toBeDefined();
  const built = Bun.spawnSync(["bash", "-c", command], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  expect({ code: built.exitCode, stderr: built.stderr.toString().slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
  const exe = join(dir, "dist", "mlops");
  const version = Bun.spawnSync([exe, "--version"], { cwd: mkdtempSync(join(tmpdir(), "mlops-docker-run-")) });
  expect(version.exitCode).toBe(0);
  expect(version.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+/);
}, 120_000);

test("the runtime stage copies files that exist, the executable the build stage makes, and the venv its setup builds", async () => {
  const runtime = dockerfile.at(-1)!;
  for (const copy of runtime.copies.filter((c) => !c.from)) for (const source of copy.sources) expect(existsSync(join(ROOT, source))).toBe(true);
  const fromBuild = runtime.copies.find((c) => c.from === "build")!;
  expect(fromBuild.sources).toEqual([`${dockerfile.find((s) => s.name === "build")!.workdir}/dist/mlops`]);
  // scripts/setup-python.sh builds <root>/.venv; the image's PYTHON and PAPERMILL point there.
  expect(runtime.runs).toContain("bash scripts/setup-python.sh");
  // The notebook sandbox, as scripts/setup.sh installs it outside Docker.
  expect(runtime.runs.some((r) => /apt-get install .*\bbubblewrap\b/.test(r))).toBe(true);
  expect(await Bun.file(join(ROOT, "scripts", "setup.sh")).text()).toMatch(/apt-get install .*\bbubblewrap\b/);
  expect(await Bun.file(join(ROOT, "scripts", "setup-python.sh")).text()).toContain('"$ROOT/.venv"');
  const env = runtime.env.join(" ");
  expect(env).toContain(`PYTHON=${runtime.workdir}/.venv/bin/python`);
  expect(env).toContain(`PAPERMILL=${runtime.workdir}/.venv/bin/papermill`);
});
