// Test support for end-to-end tests: a real server on a temp data dir, real git repositories, signed pushes.
import { createHmac, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { loadConfig } from "../config.ts";
import { startServer, type RunningServer } from "../server.ts";
import { eventually } from "./eventually.ts";

export const ROOT = resolve(import.meta.dir, "..", "..");
export const VENV_BIN = join(ROOT, ".venv", "bin");
export const ADMIN_TOKEN = "e2e-admin-token-0123456789";
/**
 * One package cache for every environment tests build (each test server has its own data dir): PyPI is asked once per
 * package, and once per machine (it is kept in the checkout, ignored by git, not in the suite's temp dir).
 */
export const TEST_UV_CACHE = join(ROOT, ".cache", "uv-test");
export const WEBHOOK_SECRET = "e2e-webhook-secret";
export const ZERO_SHA = "0".repeat(40);

/** Run git in `cwd`; throws with stderr on failure; returns stdout trimmed. */
export function git(cwd: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main", ...args], { cwd });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

/** A new git repository holding `files` (path → content, or a path of notebooks/ to copy); returns its dir and head sha. */
export function makeRepo(files: Record<string, string>): { dir: string; sha: string } {
  const dir = mkdtempSync(join(tmpdir(), "mlops-e2e-repo-"));
  git(dir, "init", "-q");
  return { dir, sha: commit(dir, files, "initial") };
}

/** Write files and commit them; returns the new sha. */
export function commit(dir: string, files: Record<string, string>, message: string): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

/** The text of an example notebook in notebooks/. */
export function exampleNotebook(name: string): string {
  return readFileSync(join(ROOT, "notebooks", name), "utf8");
}

/** A notebook with the given tagged code cells (nbformat 4). */
export function notebook(cells: { tags: string[]; source: string }[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    cells: cells.map((c, i) => ({ id: `c${i}`, cell_type: "code", metadata: { tags: c.tags }, source: c.source, outputs: [], execution_count: null })),
  });
}

export type TestServer = RunningServer & { dataDir: string; api(path: string, init?: RequestInit): Promise<Response>; base: string };

/** Start a real server on a free loopback port with a temp data dir (or `dataDir`). */
export async function startTestServer(env: Record<string, string> = {}, dataDir?: string, opts: Parameters<typeof startServer>[1] = {}): Promise<TestServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "mlops-e2e-data-"));
  const config = loadConfig(
    {
      DATA_DIR: dir,
      PORT: "0",
      HOST: "127.0.0.1",
      ADMIN_TOKEN,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      PAPERMILL: join(VENV_BIN, "papermill"),
      PYTHON: join(VENV_BIN, "python"),
      LOG_LEVEL: "silent",
      WORKER_CONCURRENCY: "2",
      // Tests stop their servers at once unless they test the grace period.
      SHUTDOWN_GRACE_SECONDS: "0",
      ...env,
    },
    ROOT,
  );
  const server = await startServer(config, { environmentCache: TEST_UV_CACHE, ...opts });
  const base = `http://127.0.0.1:${server.port}`;
  return {
    ...server,
    dataDir: dir,
    base,
    api: (path, init = {}) =>
      fetch(base + path, {
        ...init,
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json", ...(init.headers as Record<string, string>) },
      }),
  };
}

/** Sign in to the pages of the server at `base` with the admin token, as a browser does; returns the Cookie header value. */
export async function signIn(base: string, token = ADMIN_TOKEN): Promise<string> {
  const res = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
  const cookie = res.headers.get("set-cookie")?.split(";")[0];
  if (res.status !== 303 || !cookie) throw new Error(`signing in to ${base} failed: ${res.status}`);
  return cookie;
}

/** POST a signed push delivery for `repo` to the server; returns the response. */
export function sendPush(
  base: string,
  p: { fullName: string; cloneUrl: string; after: string; before?: string; ref?: string; deliveryId?: string; created?: boolean },
): Promise<Response> {
  const body = JSON.stringify({
    ref: p.ref ?? "refs/heads/main",
    before: p.before ?? ZERO_SHA,
    after: p.after,
    created: p.created ?? p.before === undefined,
    deleted: false,
    forced: false,
    repository: { full_name: p.fullName, clone_url: p.cloneUrl, name: p.fullName.split("/")[1] },
    head_commit: { id: p.after },
    commits: [],
  });
  return fetch(`${base}/webhook/github`, {
    method: "POST",
    body,
    headers: {
      "Content-Type": "application/json",
      "X-GitHub-Event": "push",
      "X-GitHub-Delivery": p.deliveryId ?? randomUUID(),
      "X-Hub-Signature-256": `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex")}`,
    },
  });
}

type PipelineJson = {
  id: number;
  status: string;
  error: string | null;
  notebook_path: string;
  model_name: string | null;
  phases: { name: string; status: string; error: string | null }[];
  model_version: number | null;
  metrics: Record<string, number> | null;
};

/** Poll the API until `count` pipelines exist (filtered by `query`) and all have ended; returns them (with phases). */
export async function waitForPipelines(server: Pick<TestServer, "api">, query: string, count: number, timeoutMs = 90_000): Promise<PipelineJson[]> {
  let seen: [number, string][] = [];
  const list = await eventually(
    async () => {
      const list = ((await (await server.api(`/api/pipelines?${query}`)).json()) as { pipelines: PipelineJson[] }).pipelines;
      seen = list.map((p) => [p.id, p.status]);
      return list.length >= count && list.every((p) => !["queued", "running"].includes(p.status)) && list;
    },
    { what: `${count} pipelines (${query}) to end`, timeoutMs, everyMs: 100 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last seen (id, status): ${JSON.stringify(seen)}`);
  });
  return Promise.all(list.map(async (p) => (await (await server.api(`/api/pipelines/${p.id}`)).json()) as PipelineJson));
}

/** Poll until pipeline `id` reaches one of `statuses`. */
export function waitForStatus(server: Pick<TestServer, "api">, id: number, statuses: string[], timeoutMs = 60_000): Promise<PipelineJson> {
  return eventually(
    async () => {
      const p = (await (await server.api(`/api/pipelines/${id}`)).json()) as PipelineJson;
      return statuses.includes(p.status) && p;
    },
    { what: `pipeline ${id} to become ${statuses.join(" or ")}`, timeoutMs },
  );
}

/** Run python code with the notebook environment; returns parsed JSON from its last stdout line. */
export function python<T>(code: string, args: string[] = []): T {
  const r = Bun.spawnSync([join(VENV_BIN, "python"), "-c", code, ...args], { cwd: ROOT });
  if (r.exitCode !== 0) throw new Error(`python failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString().trim().split("\n").pop()!) as T;
}
