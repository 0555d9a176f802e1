// Per-repository environments for tests: the real uv and Python of ./.venv, the suite's shared package cache, and
// generous limits; `extra` changes what a test is about.
import { join } from "node:path";
import { type EnvironmentsOptions, PythonEnvironments } from "../environments/python-environments.ts";
import { TEST_UV_CACHE, VENV_BIN } from "./e2e.ts";

/** Environments kept under `root`, built in `sandbox`. */
export function testEnvironments(root: string, sandbox: EnvironmentsOptions["sandbox"], extra: Partial<EnvironmentsOptions> = {}): PythonEnvironments {
  return new PythonEnvironments({
    root,
    uv: join(VENV_BIN, "uv"),
    python: join(VENV_BIN, "python"),
    allowSdist: false,
    retentionDays: 30,
    buildTimeoutMs: 600_000,
    sandbox,
    maxLineChars: 10_000,
    cacheDir: TEST_UV_CACHE,
    ...extra,
  });
}
