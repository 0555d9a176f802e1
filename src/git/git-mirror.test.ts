import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TransientError } from "../lib/errors.ts";
import { GitCommandError, GitMirror, gitTokenScope } from "./git-mirror.ts";
import { notebooksToRun } from "./notebook-paths.ts";

const notebook = (name: string) =>
  JSON.stringify({ cells: [{ cell_type: "code", source: [`print("${name}")`], metadata: {} }], metadata: {}, nbformat: 4, nbformat_minor: 5 });

/** A real upstream repository: c1 adds two notebooks and a data file, c2 changes one notebook, c3 removes the other and adds one. */
let upstream: string;
let work: string;
let c1: string, c2: string, c3: string, branchHead: string;

function git(cwd: string, ...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], {
    cwd,
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" },
  });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString().trim();
}

function write(root: string, path: string, text: string) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "mlops-git-"));
  upstream = join(work, "upstream");
  mkdirSync(upstream);
  git(upstream, "init", "--quiet", "-b", "main");
  write(upstream, "notebooks/iris.ipynb", notebook("iris v1"));
  write(upstream, "notebooks/wine.ipynb", notebook("wine"));
  write(upstream, "notebooks/.ipynb_checkpoints/iris-checkpoint.ipynb", notebook("checkpoint"));
  write(upstream, "notebooks/data/iris.csv", "a,b\n1,2\n");
  write(upstream, "README.md", "# models\n");
  git(upstream, "add", "-A");
  git(upstream, "commit", "--quiet", "-m", "first");
  c1 = git(upstream, "rev-parse", "HEAD");
  write(upstream, "notebooks/iris.ipynb", notebook("iris v2"));
  git(upstream, "commit", "--quiet", "-am", "tune iris");
  c2 = git(upstream, "rev-parse", "HEAD");
  git(upstream, "rm", "--quiet", "notebooks/wine.ipynb");
  write(upstream, "experiments/new model.ipynb", notebook("new"));
  git(upstream, "add", "-A");
  git(upstream, "commit", "--quiet", "-m", "replace wine");
  c3 = git(upstream, "rev-parse", "HEAD");
  git(upstream, "checkout", "--quiet", "-b", "feature");
  write(upstream, "x.txt", "x");
  git(upstream, "add", "-A");
  git(upstream, "commit", "--quiet", "-m", "feature");
  branchHead = git(upstream, "rev-parse", "HEAD");
  git(upstream, "checkout", "--quiet", "main");
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const newMirror = (opts = {}) => new GitMirror(mkdtempSync(join(work, "mirror-")), opts);
const NAME = "Acme/Models";

describe("GitMirror on a real repository", () => {
  test("mirrorPath is one bare repository per owner/name, case-insensitive; bad names are refused", () => {
    const m = new GitMirror("/data/git");
    expect(m.mirrorPath("Acme/Models")).toBe("/data/git/acme/models.git");
    expect(m.mirrorPath("acme/.github")).toBe("/data/git/acme/.github.git");
    for (const bad of ["../x", "a/../../b", "a", "a/b/c", "-a/b", ""]) expect(() => m.mirrorPath(bad)).toThrow(GitCommandError);
  });

  test("fetch brings the exact commit (and its history, not its descendants) into a bare mirror", async () => {
    const m = newMirror();
    expect(await m.hasCommit(NAME, c1)).toBe(false);
    await m.fetch(upstream, NAME, c2);
    expect(existsSync(join(m.mirrorPath(NAME), "HEAD"))).toBe(true);
    expect(existsSync(join(m.mirrorPath(NAME), "objects"))).toBe(true);
    expect(await m.hasCommit(NAME, c2)).toBe(true);
    expect(await m.hasCommit(NAME, c1)).toBe(true);
    expect(await m.hasCommit(NAME, c3)).toBe(false);
    // Kept under a ref, so gc never drops it.
    expect(git(m.mirrorPath(NAME), "for-each-ref", "--format=%(refname)")).toBe(`refs/mlops/commits/${c2}`);
  });

  test("fetch is idempotent and needs no network once the commit is there", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, c1);
    await m.fetch(join(work, "no-such-repo"), NAME, c1);
    expect(await m.hasCommit(NAME, c1)).toBe(true);
  });

  test("concurrent fetches of one mirror do not trip over each other", async () => {
    const m = newMirror();
    await Promise.all([m.fetch(upstream, NAME, c1), m.fetch(upstream, NAME, c2), m.fetch(upstream, NAME, c3), m.fetch(`file://${upstream}`, NAME, c3)]);
    for (const sha of [c1, c2, c3]) expect(await m.hasCommit(NAME, sha)).toBe(true);
  });

  test("a commit on another branch can be fetched by sha", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, branchHead);
    expect(await m.listFiles(NAME, branchHead)).toContain("x.txt");
  });

  test("changedFiles between commits; 'all' for a zero or unknown before", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, c3);
    expect(await m.changedFiles(NAME, c1, c2)).toEqual(["notebooks/iris.ipynb"]);
    expect(await m.changedFiles(NAME, c2, c3)).toEqual(["experiments/new model.ipynb", "notebooks/wine.ipynb"]);
    expect(await m.changedFiles(NAME, "0".repeat(40), c3)).toBe("all");
    expect(await m.changedFiles(NAME, "1234567890123456789012345678901234567890", c3)).toBe("all");
  });

  test("listFiles, readFile, exportFile", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, c2);
    expect((await m.listFiles(NAME, c2)).sort()).toEqual([
      "README.md",
      "notebooks/.ipynb_checkpoints/iris-checkpoint.ipynb",
      "notebooks/data/iris.csv",
      "notebooks/iris.ipynb",
      "notebooks/wine.ipynb",
    ]);
    expect(new TextDecoder().decode(await m.readFile(NAME, c2, "notebooks/iris.ipynb"))).toBe(notebook("iris v2"));
    expect(new TextDecoder().decode(await m.readFile(NAME, c1, "notebooks/iris.ipynb"))).toBe(notebook("iris v1"));
    await expect(m.readFile(NAME, c2, "notebooks/missing.ipynb")).rejects.toThrow("notebooks/missing.ipynb is not a file in commit");
    const dest = join(work, "export-file", "deep", "iris.ipynb");
    await m.exportFile(NAME, c2, "notebooks/iris.ipynb", dest);
    expect(readFileSync(dest, "utf8")).toBe(notebook("iris v2"));
  });

  test("exportTree checks out the whole commit, so a notebook can read its sibling files", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, c3);
    const dest = join(work, "export-tree");
    await Promise.all([m.exportTree(NAME, c3, dest), m.exportTree(NAME, c2, join(work, "export-tree-2"))]);
    expect(readFileSync(join(dest, "notebooks/data/iris.csv"), "utf8")).toBe("a,b\n1,2\n");
    expect(readFileSync(join(dest, "experiments/new model.ipynb"), "utf8")).toBe(notebook("new"));
    expect(existsSync(join(dest, "notebooks/wine.ipynb"))).toBe(false);
    expect(existsSync(join(dest, ".git"))).toBe(false);
    expect(existsSync(join(work, "export-tree-2", "notebooks/wine.ipynb"))).toBe(true);
    expect(readdirSync(m.mirrorPath(NAME))).not.toContain("index");
  });

  test("resolve gives a branch's head sha; a missing branch is a clear error", async () => {
    const m = newMirror();
    expect(await m.resolve(upstream, NAME, "main")).toBe(c3);
    expect(await m.resolve(upstream, NAME, "feature")).toBe(branchHead);
    await expect(m.resolve(upstream, NAME, "nope")).rejects.toThrow(`branch nope does not exist in ${upstream}`);
  });

  test("fetchBranchHead fetches the branch's current head with its history (not other branches) and keeps it; it follows the branch as it moves", async () => {
    const m = newMirror();
    expect(await m.fetchBranchHead(upstream, NAME, "main")).toBe(c3);
    for (const c of [c1, c2, c3]) expect(await m.hasCommit(NAME, c)).toBe(true);
    expect(await m.hasCommit(NAME, branchHead)).toBe(false);
    expect(git(m.mirrorPath(NAME), "rev-parse", `refs/mlops/commits/${c3}`)).toBe(c3);
    // a clone that moves main on: the next call sees the new head
    const moving = join(work, "moving");
    git(work, "clone", "--quiet", upstream, moving);
    write(moving, "later.txt", "later");
    git(moving, "add", "-A");
    git(moving, "commit", "--quiet", "-m", "later");
    const later = git(moving, "rev-parse", "HEAD");
    expect(await m.fetchBranchHead(moving, NAME, "main")).toBe(later);
    expect(await m.fetchBranchHead(upstream, NAME, "feature")).toBe(branchHead);
  });

  test("fetchBranchHead: a missing branch is a permanent error naming it; a URL that is not a repository too", async () => {
    const m = newMirror();
    const err = await m.fetchBranchHead(upstream, NAME, "nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitCommandError);
    expect((err as Error).message).toBe(`branch nope does not exist in ${upstream}`);
    const notRepo = await m.fetchBranchHead(join(work, "not-a-repo"), NAME, "main").catch((e: unknown) => e);
    expect(notRepo).toBeInstanceOf(GitCommandError);
    expect(notRepo).not.toBeInstanceOf(TransientError);
  });

  test("isAncestor: the head and its ancestors are on the branch; another branch's commit and an unknown sha are not", async () => {
    const m = newMirror();
    await m.fetchBranchHead(upstream, NAME, "main");
    await m.fetch(upstream, NAME, branchHead); // now in the mirror, but on feature only
    expect(await m.isAncestor(NAME, c3, c3)).toBe(true);
    expect(await m.isAncestor(NAME, c1, c3)).toBe(true);
    expect(await m.isAncestor(NAME, c3, c1)).toBe(false);
    expect(await m.isAncestor(NAME, branchHead, c3)).toBe(false);
    expect(await m.isAncestor(NAME, c3, branchHead)).toBe(true); // feature was branched from main's head
    expect(await m.isAncestor(NAME, "1234567890abcdef1234567890abcdef12345678", c3)).toBe(false);
    expect(await m.isAncestor(NAME, "0".repeat(40), c3)).toBe(false);
  });

  test("fetching a sha the repository does not have → a permanent error naming sha and URL", async () => {
    const m = newMirror();
    const missing = "1234567890abcdef1234567890abcdef12345678";
    const err = await m.fetch(upstream, NAME, missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitCommandError);
    expect(err).not.toBeInstanceOf(TransientError);
    expect((err as Error).message).toContain(`could not fetch commit ${missing} from ${upstream}`);
    expect((err as Error).message).toContain("not our ref");
  });

  test("a URL that is not a repository → permanent error; a refused connection → TransientError without credentials", async () => {
    const m = newMirror();
    const notRepo = await m.fetch(join(work, "nothing-here"), NAME, c1).catch((e: unknown) => e);
    expect(notRepo).toBeInstanceOf(GitCommandError);
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const port = server.port;
    await server.stop(true);
    const refused = await m.fetch(`http://user:hunter2@127.0.0.1:${port}/a/b.git`, NAME, c1).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TransientError);
    expect((refused as Error).message).toContain(`http://127.0.0.1:${port}/a/b.git`);
    expect((refused as Error).message).not.toContain("hunter2");
  });

  test("invalid shas are refused before git runs", async () => {
    const m = newMirror();
    for (const sha of ["--upload-pack=touch /tmp/x", "main", "0".repeat(40), c1.slice(0, 12)]) {
      await expect(m.fetch(upstream, NAME, sha)).rejects.toThrow("not a commit sha");
    }
  });
});

describe("GitMirror token handling", () => {
  const TOKEN = "ghs_TESTTOKEN_0123456789abcdef";

  test("the token is never in argv, only in GIT_CONFIG_* environment, scoped to the token URL", () => {
    const m = new GitMirror("/data/git", { token: TOKEN });
    const { argv, env } = m.command(["fetch", "--", "https://github.com/a/b.git", c1 ?? "x"]);
    expect(argv.join(" ")).not.toContain(TOKEN);
    expect(argv.join(" ")).not.toContain(Buffer.from(`x-access-token:${TOKEN}`).toString("base64"));
    expect(env.GIT_CONFIG_COUNT).toBe("1");
    expect(env.GIT_CONFIG_KEY_0).toBe("http.https://github.com/.extraHeader");
    expect(env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`);
    expect(env.GIT_TERMINAL_PROMPT).toBe("0");
    const without = new GitMirror("/data/git").command(["fetch"]);
    expect(without.env.GIT_CONFIG_COUNT).toBeUndefined();
  });

  test("gitTokenScope: github.com for api.github.com, the server itself for GitHub Enterprise", () => {
    expect(gitTokenScope("https://api.github.com")).toBe("https://github.com/");
    expect(gitTokenScope("https://ghe.example.com/api/v3")).toBe("https://ghe.example.com/");
  });

  /** A local HTTP server that records each request's Authorization header and whether any process's argv held the token. */
  function recordingServer(status: number) {
    const seen: { path: string; authorization: string | null; tokenInSomeArgv: boolean }[] = [];
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        seen.push({ path: new URL(req.url).pathname, authorization: req.headers.get("authorization"), tokenInSomeArgv: tokenInAnyCmdline(TOKEN) });
        return new Response("unavailable", { status });
      },
    });
    return { server, seen, url: `http://127.0.0.1:${server.port}/acme/models.git` };
  }

  test("the token reaches the server as an Authorization header while no process's argv holds it; a 503 is transient", async () => {
    const { server, seen, url } = recordingServer(503);
    try {
      const m = newMirror({ token: TOKEN, tokenScope: `http://127.0.0.1:${server.port}/` });
      const err = await m.fetch(url, NAME, c1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).not.toContain(TOKEN);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]!.path).toBe("/acme/models.git/info/refs");
      expect(seen[0]!.authorization).toBe(`Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`);
      expect(seen.every((s) => !s.tokenInSomeArgv)).toBe(true);
    } finally {
      await server.stop(true);
    }
  });

  test("the token is not sent to a URL outside its scope; a 404 is permanent", async () => {
    const { server, seen, url } = recordingServer(404);
    try {
      const m = newMirror({ token: TOKEN });
      const err = await m.fetch(url, NAME, c1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GitCommandError);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((s) => s.authorization === null)).toBe(true);
    } finally {
      await server.stop(true);
    }
  });

  test("a server that never answers is cut off by the timeout, as a TransientError", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 0, fetch: () => new Promise<Response>(() => {}) });
    try {
      const m = newMirror({ timeoutMs: 700 });
      const started = Date.now();
      const err = await m.fetch(`http://127.0.0.1:${server.port}/a/b.git`, NAME, c1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as Error).message).toContain("longer than");
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await server.stop(true);
    }
  });
});

describe("notebooksToRun with a real commit", () => {
  test("changed notebooks matching the glob, removed files and checkpoints excluded", async () => {
    const m = newMirror();
    await m.fetch(upstream, NAME, c3);
    const all3 = await m.listFiles(NAME, c3);
    expect(notebooksToRun(await m.changedFiles(NAME, c1, c2), await m.listFiles(NAME, c2), "**/*.ipynb")).toEqual(["notebooks/iris.ipynb"]);
    // wine.ipynb was removed in c3: only the added notebook runs.
    expect(notebooksToRun(await m.changedFiles(NAME, c2, c3), all3, "**/*.ipynb")).toEqual(["experiments/new model.ipynb"]);
    expect(notebooksToRun(await m.changedFiles(NAME, c2, c3), all3, "notebooks/*.ipynb")).toEqual([]);
    expect(notebooksToRun(await m.changedFiles(NAME, "0".repeat(40), c3), all3, "**/*.ipynb")).toEqual(["experiments/new model.ipynb", "notebooks/iris.ipynb"]);
  });
});

/** Whether any process's command line (what `ps` shows to every user) contains `needle`. */
function tokenInAnyCmdline(needle: string): boolean {
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle)) return true;
    } catch {
      // the process ended
    }
  }
  return false;
}
