// Per-repository environments with the real uv from PyPI, in the real sandbox: built once however many ask at the
// same time, reused after, refused with the resolver's own words, nothing half-built left behind, and retired after
// ENV_RETENTION_DAYS without use.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotebookSandbox } from "../sandbox/notebook-sandbox.ts";
import { fakeClock } from "../testing/db.ts";
import { TEST_UV_CACHE, VENV_BIN } from "../testing/e2e.ts";
import { testEnvironments } from "../testing/test-environments.ts";
import { EnvironmentBuildError, type EnvironmentsOptions } from "./python-environments.ts";

let sandbox: NotebookSandbox;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "mlops-envs-"));
  sandbox = await NotebookSandbox.start({
    setting: "auto",
    executables: [join(VENV_BIN, "papermill"), join(VENV_BIN, "python"), join(VENV_BIN, "uv")],
    privateDirs: [join(scratch, "private")],
    limits: { dataBytes: 8192 * 1024 * 1024, processes: 1024, fileBytes: 4096 * 1024 * 1024 },
    scratchDir: join(scratch, "probe"),
  });
});

let n = 0;
function environments(extra: Partial<EnvironmentsOptions> = {}) {
  const root = join(scratch, `root-${++n}`);
  const envs = testEnvironments(root, sandbox, extra);
  const built = () => readdirSync(root).filter((d) => !d.startsWith(".") && d !== "uv-cache");
  return { envs, root, built };
}

const TABULATE = { path: "requirements.txt", lines: ["tabulate==0.9.0"] };

describe("PythonEnvironments", () => {
  test("ten pipelines asking for the same new environment at once build it once; later ones reuse it without running uv", async () => {
    const { envs, built } = environments();
    const logs = Array.from({ length: 10 }, () => [] as string[]);
    const got = await Promise.all(logs.map((log) => envs.ensure(TABULATE, (l) => log.push(l))));
    expect(new Set(got.map((e) => e.dir)).size).toBe(1);
    expect(built()).toEqual([got[0]!.key]);
    // One of them built it (uv's install lines in its log); the nine others waited for that build.
    const builders = logs.filter((log) => log.some((l) => l.includes("+ tabulate==0.9.0")));
    expect(builders).toHaveLength(1);
    expect(logs.filter((log) => log.some((l) => l.includes("being built for another pipeline")))).toHaveLength(9);
    expect(got.filter((e) => !e.reused)).toHaveLength(1);
    expect(got[0]!.packages).toContain("tabulate==0.9.0");
    // The platform's packages are there too, resolved with the repository's.
    for (const name of ["papermill", "ipykernel", "skl2onnx", "onnxmltools", "joblib"])
      expect(got[0]!.packages.some((p) => p.startsWith(`${name}==`))).toBe(true);

    const again: string[] = [];
    const started = performance.now();
    const reused = await envs.ensure(TABULATE, (l) => again.push(l));
    const ms = performance.now() - started;
    expect(reused).toMatchObject({ dir: got[0]!.dir, reused: true });
    expect(again.join("\n")).toContain("cache hit");
    expect(again.join("\n")).not.toContain("Resolved");
    console.log(`  environment reused in ${ms.toFixed(1)} ms`);
  }, 600_000);

  test("an environment a server built is reused by the next server on the same data dir (a restart)", async () => {
    const first = environments();
    const env = await first.envs.ensure(TABULATE, () => undefined);
    const second = testEnvironments(first.root, sandbox);
    const log: string[] = [];
    expect(await second.ensure(TABULATE, (l) => log.push(l))).toMatchObject({ dir: env.dir, reused: true });
    expect(log.join("\n")).toContain("cache hit");
  }, 600_000);

  const refusals: [string, string[], RegExp][] = [
    [
      "a pin that conflicts with the platform's packages",
      ["skl2onnx==1.14.0"],
      /No solution found when resolving dependencies: Because you require skl2onnx.* and skl2onnx==1\.14\.0/,
    ],
    ["a package that needs a newer Python than the machine's", ["django==6.0"], /the current Python version \(3\.\d+\.\d+\) does not satisfy Python>=3\.12/],
    ["a package that is not on the index", ["this-package-does-not-exist-mlops==1.0"], /was not found in the package registry/],
    ["a package with no wheel for this Python (source builds are off)", ["pyyaml==5.4.1"], /has no usable wheels.*hint: Wheels are required for `pyyaml`/],
  ];
  for (const [what, lines, words] of refusals) {
    test(`${what}: the build fails with the resolver's words and leaves nothing behind`, async () => {
      const { envs, built, root } = environments();
      const log: string[] = [];
      const err = await envs.ensure({ path: "models/requirements.txt", lines }, (l) => log.push(l)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EnvironmentBuildError);
      expect((err as Error).message).toMatch(words);
      expect((err as Error).message).not.toContain("Traceback");
      expect(built()).toEqual([]);
      expect(existsSync(join(root, ".build")) ? readdirSync(join(root, ".build")) : []).toEqual([]);
      // Nothing was cached as built: the same environment is tried again next time, and a good one still builds.
      expect(await envs.ensure({ path: "requirements.txt", lines }, () => undefined).catch((e: unknown) => e)).toBeInstanceOf(EnvironmentBuildError);
      expect((await envs.ensure(TABULATE, () => undefined)).reused).toBe(false);
    }, 600_000);
  }

  test("a build past ENV_BUILD_TIMEOUT_SECONDS is stopped and says so", async () => {
    const { envs, built } = environments({ buildTimeoutMs: 1 });
    const err = await envs.ensure({ path: "requirements.txt", lines: ["tabulate==0.8.10"] }, () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentBuildError);
    expect((err as Error).message).toContain("ENV_BUILD_TIMEOUT_SECONDS");
    expect(built()).toEqual([]);
  }, 60_000);

  test("a pipeline that stops waiting (cancelled) does not stop the build others wait for", async () => {
    const { envs } = environments();
    const abort = new AbortController();
    const first = envs.ensure(TABULATE, () => undefined);
    const cancelled = envs.ensure(TABULATE, () => undefined, abort.signal);
    abort.abort(new Error("cancelled"));
    expect(await cancelled.catch((e: Error) => e.message)).toBe("cancelled");
    expect((await first).packages).toContain("tabulate==0.9.0");
  }, 600_000);

  test("sweep removes environments unused for ENV_RETENTION_DAYS and leftovers of cut-short builds, keeps the rest", async () => {
    const clock = fakeClock(Date.now());
    const { envs, root, built } = environments({ clock, retentionDays: 30 });
    const env = await envs.ensure(TABULATE, () => undefined);
    mkdirSync(join(root, "0123456789abcdef01234567", "bin"), { recursive: true }); // a build a crash cut short
    expect(envs.sweep()).toEqual(["0123456789abcdef01234567"]);
    expect(built()).toEqual([env.key]);

    clock.advance(29 * 24 * 3600_000);
    expect(envs.sweep()).toEqual([]);
    // Used again on day 29: its 30 days start over.
    await envs.ensure(TABULATE, () => undefined);
    clock.advance(29 * 24 * 3600_000);
    expect(envs.sweep()).toEqual([]);
    clock.advance(2 * 24 * 3600_000);
    expect(envs.sweep()).toEqual([env.key]);
    expect(built()).toEqual([]);
    // The shared package cache is never swept with them.
    expect(existsSync(TEST_UV_CACHE)).toBe(true);
  }, 600_000);
});
