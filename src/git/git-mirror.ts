// Bare git mirrors, one per repository, driven through the `git` command (never a shell).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { TransientError } from "../lib/errors.ts";
import { redactUrl } from "../lib/redact-url.ts";

export type GitMirrorOptions = {
  /** Token for private repositories, sent as an HTTP Authorization header (never in argv or URLs). */
  token?: string;
  /** URL prefix the token is sent to (git's `http.<url>.extraHeader` matching); default `https://github.com/`. See `gitTokenScope`. */
  tokenScope?: string;
  /** Limit for one git command; default 10 minutes. A command killed by it fails with TransientError. */
  timeoutMs?: number;
  /** The git executable; default `git` from PATH. */
  git?: string;
};

/** A git command that failed for a reason retrying will not fix (missing commit or branch, bad URL, auth). */
export class GitCommandError extends Error {
  constructor(
    message: string,
    readonly stderr = "",
  ) {
    super(message);
    this.name = "GitCommandError";
  }
}

// Variables that would point git at another repository, index or configuration (e.g. when started from a git hook).
const INHERITED_GIT_VARS = /^GIT_(CONFIG|DIR$|WORK_TREE$|INDEX_FILE$|OBJECT_DIRECTORY$|ALTERNATE_OBJECT_DIRECTORIES$|NAMESPACE$|COMMON_DIR$)/;
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO_SHA = /^0+$/;
const FULL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*\/[A-Za-z0-9._-]+$/;

// Messages of failures that are worth retrying: network, timeouts, server-side 5xx and rate limits.
const TRANSIENT =
  /could not resolve host|temporary failure in name resolution|connection (refused|reset|timed out)|failed to connect|operation timed out|timed out|returned error: (5\d\d|429)|early eof|remote end hung up|rpc failed|ssl_error|gnutls|unable to access .*: (recv|send) failure|network is unreachable|no route to host|index-pack failed/i;

/** The URL prefix a GitHub token belongs to, from GITHUB_API_URL: `https://github.com/` for api.github.com, the server's origin for GitHub Enterprise. */
export function gitTokenScope(githubApiUrl: string): string {
  const url = new URL(githubApiUrl);
  return url.hostname === "api.github.com" ? "https://github.com/" : `${url.origin}/`;
}

/**
 * Bare mirrors under `root` (`<root>/<owner>/<name>.git`). Fetched commits are kept under
 * `refs/mlops/commits/<sha>` so git's garbage collection never drops them.
 * Commands for one mirror that write to it (init, fetch) run one at a time.
 */
export class GitMirror {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly timeoutMs: number;

  constructor(
    readonly root: string,
    private readonly opts: GitMirrorOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  }

  /** The bare repository's path for `owner/name` (lower-cased: GitHub names are case-insensitive). Throws on a malformed name. */
  mirrorPath(fullName: string): string {
    if (!FULL_NAME.test(fullName)) throw new GitCommandError(`not a repository name: ${JSON.stringify(fullName)}`);
    const [owner, name] = fullName.toLowerCase().split("/") as [string, string];
    return join(this.root, owner, `${name}.git`);
  }

  /**
   * Make commit `sha` of `cloneUrl` (with its history) available in the mirror, creating the mirror on
   * first use. Idempotent: no network when the commit is already there. Throws TransientError for
   * network/timeout/5xx failures, GitCommandError (naming sha and URL) otherwise.
   */
  async fetch(cloneUrl: string, fullName: string, sha: string): Promise<void> {
    checkSha(sha);
    const dir = this.mirrorPath(fullName);
    await this.locked(dir, async () => {
      if (await this.hasCommit(fullName, sha)) return;
      await this.init(dir);
      const r = await this.fetchRefspec(dir, cloneUrl, `+${sha}:refs/mlops/commits/${sha}`);
      if (r.ok) return;
      throw this.failure(r, `could not fetch commit ${sha} from ${redactUrl(cloneUrl)}`);
    });
  }

  /** The commit sha at the head of `branch` on `cloneUrl` (git ls-remote; the mirror is not touched). Throws GitCommandError when the branch does not exist, TransientError on network failures. */
  async resolve(cloneUrl: string, fullName: string, branch: string): Promise<string> {
    this.mirrorPath(fullName);
    const ref = `refs/heads/${branch}`;
    const r = await this.run(["ls-remote", "--", cloneUrl, ref], this.root);
    if (!r.ok) throw this.failure(r, `could not read branch ${branch} of ${redactUrl(cloneUrl)}`);
    for (const line of r.text.split("\n")) {
      const [sha, name] = line.split("\t");
      if (name === ref && sha && SHA.test(sha)) return sha;
    }
    throw new GitCommandError(`branch ${branch} does not exist in ${redactUrl(cloneUrl)}`);
  }

  /**
   * Fetch the head of `branch` from `cloneUrl` (with its history) into the mirror, creating it on first use, and
   * return the head's sha. The commit is kept under `refs/mlops/commits/<sha>` like a fetched one. Always asks the
   * remote (the head moves). Throws GitCommandError when the branch does not exist or the URL is not a repository,
   * TransientError for network/timeout/5xx failures.
   */
  async fetchBranchHead(cloneUrl: string, fullName: string, branch: string): Promise<string> {
    const dir = this.mirrorPath(fullName);
    const tracking = `refs/mlops/heads/${branch}`;
    return this.locked(dir, async () => {
      await this.init(dir);
      const r = await this.fetchRefspec(dir, cloneUrl, `+refs/heads/${branch}:${tracking}`);
      if (!r.ok) {
        if (/couldn't find remote ref/i.test(r.stderr))
          throw new GitCommandError(`branch ${branch} does not exist in ${redactUrl(cloneUrl)}`, redactUrl(r.stderr));
        throw this.failure(r, `could not fetch branch ${branch} from ${redactUrl(cloneUrl)}`);
      }
      const head = (await this.git(fullName, ["rev-parse", "--verify", "--quiet", `${tracking}^{commit}`])).text.trim();
      if (!SHA.test(head)) throw new GitCommandError(`branch ${branch} of ${redactUrl(cloneUrl)} does not point at a commit`);
      await this.git(fullName, ["update-ref", `refs/mlops/commits/${head}`, head]);
      return head;
    });
  }

  /** One `git fetch` of `refspec` from `cloneUrl` into the mirror at `dir`: no tags, no FETCH_HEAD, quiet. */
  private fetchRefspec(dir: string, cloneUrl: string, refspec: string) {
    return this.run(["--git-dir", dir, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--", cloneUrl, refspec]);
  }

  /** Whether commit `ancestor` is `descendant` or one of its ancestors (`git merge-base --is-ancestor`); false when `ancestor` is not in the mirror. `descendant` must be there. */
  async isAncestor(fullName: string, ancestor: string, descendant: string): Promise<boolean> {
    checkSha(descendant);
    if (!(await this.hasCommit(fullName, ancestor))) return false;
    const r = await this.run(["--git-dir", this.mirrorPath(fullName), "merge-base", "--is-ancestor", ancestor, descendant]);
    if (r.exitCode === 0 || r.exitCode === 1) return r.exitCode === 0;
    throw new GitCommandError(`git merge-base failed in the mirror of ${fullName}: ${lastLine(r.stderr)}`, r.stderr);
  }

  /** Whether the mirror exists and has commit `sha`. Never throws for a missing mirror. */
  async hasCommit(fullName: string, sha: string): Promise<boolean> {
    if (!SHA.test(sha) || ZERO_SHA.test(sha)) return false;
    const dir = this.mirrorPath(fullName);
    if (!(await Bun.file(join(dir, "HEAD")).exists())) return false;
    return (await this.run(["--git-dir", dir, "cat-file", "-e", `${sha}^{commit}`])).ok;
  }

  /**
   * Paths that differ between `before` and `after` (added, modified and removed; renames as remove + add),
   * or "all" when `before` is all zeros (new branch) or not in the mirror (e.g. after a force push).
   * `after` must have been fetched.
   */
  async changedFiles(fullName: string, before: string, after: string): Promise<string[] | "all"> {
    checkSha(after);
    if (!(await this.hasCommit(fullName, before))) return "all";
    const r = await this.git(fullName, ["diff", "--name-only", "--no-renames", "-z", before, after, "--"]);
    return splitZ(r.text);
  }

  /** Every file path (blobs, including symlinks; not submodules) in the commit's tree. Throws GitCommandError when the commit is not in the mirror. */
  async listFiles(fullName: string, sha: string): Promise<string[]> {
    checkSha(sha);
    const r = await this.git(fullName, ["ls-tree", "-r", "-z", "--full-tree", sha]);
    return splitZ(r.text)
      .map((entry) => /^\d+ (\w+) \w+\t(.*)$/s.exec(entry))
      .filter((m): m is RegExpExecArray => m?.[1] === "blob")
      .map((m) => m[2]!);
  }

  /** The bytes of `path` in commit `sha`. Throws GitCommandError when the path or commit is missing. */
  async readFile(fullName: string, sha: string, path: string): Promise<Uint8Array> {
    checkSha(sha);
    const r = await this.run(["--git-dir", this.mirrorPath(fullName), "cat-file", "blob", `${sha}:${path}`]);
    if (!r.ok) throw new GitCommandError(`${path} is not a file in commit ${sha.slice(0, 12)} of ${fullName}`, r.stderr);
    return r.stdout;
  }

  /** Write `path` of commit `sha` to the file `dest` (directories created). Throws like `readFile`. */
  async exportFile(fullName: string, sha: string, path: string, dest: string): Promise<void> {
    const bytes = await this.readFile(fullName, sha, path);
    mkdirSync(dirname(dest), { recursive: true });
    await Bun.write(dest, bytes);
  }

  /** Check out the whole tree of commit `sha` into `destDir` (created if needed), so a notebook finds its sibling files. Throws GitCommandError when the commit is not in the mirror. */
  async exportTree(fullName: string, sha: string, destDir: string): Promise<void> {
    checkSha(sha);
    const dir = this.mirrorPath(fullName);
    mkdirSync(destDir, { recursive: true });
    // A private index file: the mirror has none, and concurrent exports must not share one.
    const tmp = mkdtempSync(join(tmpdir(), "mlops-index-"));
    try {
      const r = await this.run(["--git-dir", dir, "--work-tree", destDir, "checkout", "--force", sha, "--", "."], undefined, {
        GIT_INDEX_FILE: join(tmp, "index"),
      });
      if (!r.ok) throw new GitCommandError(`could not check out commit ${sha.slice(0, 12)} of ${fullName}: ${lastLine(r.stderr)}`, r.stderr);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * The exact argv and environment used to run `git args` — exposed so tests can check what `ps`
   * would show. The token travels only in the environment (GIT_CONFIG_*), never in argv.
   */
  command(args: string[], extraEnv: Record<string, string> = {}): { argv: string[]; env: Record<string, string> } {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !INHERITED_GIT_VARS.test(k)) env[k] = v;
    Object.assign(env, {
      GIT_TERMINAL_PROMPT: "0",
      GCM_INTERACTIVE: "never",
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
      // Messages in English, so transient failures can be recognised.
      LC_ALL: "C",
      LANGUAGE: "C",
      ...extraEnv,
    });
    if (this.opts.token) {
      const scope = this.opts.tokenScope ?? "https://github.com/";
      const basic = Buffer.from(`x-access-token:${this.opts.token}`).toString("base64");
      env.GIT_CONFIG_COUNT = "1";
      env.GIT_CONFIG_KEY_0 = `http.${scope}.extraHeader`;
      env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
    }
    return { argv: [this.opts.git ?? "git", "-c", "gc.auto=0", ...args], env };
  }

  private async init(dir: string): Promise<void> {
    if (await Bun.file(join(dir, "HEAD")).exists()) return;
    mkdirSync(dir, { recursive: true });
    const r = await this.run(["init", "--bare", "--quiet", dir]);
    if (!r.ok) throw new GitCommandError(`could not create the mirror ${dir}: ${lastLine(r.stderr)}`, r.stderr);
  }

  private async git(fullName: string, args: string[]): Promise<RunResult> {
    const r = await this.run(["--git-dir", this.mirrorPath(fullName), ...args]);
    if (!r.ok) throw new GitCommandError(`git ${args[0]} failed in the mirror of ${fullName}: ${lastLine(r.stderr)}`, r.stderr);
    return r;
  }

  private failure(r: RunResult, what: string): Error {
    if (r.timedOut) return new TransientError(`${what}: git took longer than ${Math.round(this.timeoutMs / 1000)} s`);
    // git may echo the URL it was given, credentials and all.
    const stderr = redactUrl(r.stderr);
    const detail = lastLine(stderr) || `git exited with ${r.exitCode}`;
    return TRANSIENT.test(stderr) ? new TransientError(`${what}: ${detail}`) : new GitCommandError(`${what}: ${detail}`, stderr);
  }

  private async run(args: string[], cwd?: string, extraEnv?: Record<string, string>): Promise<RunResult> {
    const { argv, env } = this.command(args, extraEnv);
    if (cwd) mkdirSync(cwd, { recursive: true });
    // Its own process group, so a timeout also kills the helpers git starts (git-remote-https keeps the pipes open).
    const proc = Bun.spawn(argv, { cwd: cwd ?? this.rootDir(), env, stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, this.timeoutMs);
    let exitCode: number;
    let stdout: Uint8Array;
    let stderr: string;
    try {
      [stdout, stderr] = await Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text()]);
      exitCode = await proc.exited;
    } finally {
      clearTimeout(timer);
    }
    return {
      ok: exitCode === 0,
      exitCode,
      stdout,
      get text() {
        return new TextDecoder().decode(stdout);
      },
      stderr,
      timedOut,
    };
  }

  private rootDir(): string {
    mkdirSync(this.root, { recursive: true });
    return this.root;
  }

  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(fn);
    this.locks.set(key, current);
    try {
      return await current;
    } finally {
      if (this.locks.get(key) === current) this.locks.delete(key);
    }
  }
}

type RunResult = { ok: boolean; exitCode: number; stdout: Uint8Array; readonly text: string; stderr: string; timedOut: boolean };

function checkSha(sha: string): void {
  if (!SHA.test(sha) || ZERO_SHA.test(sha)) throw new GitCommandError(`not a commit sha: ${JSON.stringify(sha)}`);
}

function splitZ(text: string): string[] {
  return text.split("\0").filter((s) => s.length > 0);
}

function lastLine(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.findLast((l) => /^(fatal|error):/.test(l)) ?? lines.at(-1) ?? "").slice(0, 500);
}
