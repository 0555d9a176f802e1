// The one call this server makes to GitHub's REST API: create a commit status.
import { TransientError } from "../lib/errors.ts";

/** Where and as whom to call GitHub: GITHUB_API_URL (no trailing slash) and GITHUB_TOKEN. */
export type GitHubApi = { url: string; token: string; timeoutMs?: number };

/** A commit status as GitHub takes it (POST /repos/{owner}/{repo}/statuses/{sha}). */
export type CommitStatus = {
  state: "pending" | "success" | "failure" | "error";
  target_url?: string;
  description: string;
  context: string;
};

/** GitHub refused the request for a reason retrying will not fix (bad token, repository not visible to it, bad input). */
export class GitHubRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "GitHubRequestError";
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Post `status` on commit `sha` of `owner/repo`. Throws TransientError for network errors, timeouts, 5xx, 429
 * and rate limiting; GitHubRequestError (with GitHub's message) for any other non-2xx answer.
 */
export async function postCommitStatus(api: GitHubApi, owner: string, repo: string, sha: string, status: CommitStatus): Promise<void> {
  const url = `${api.url}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${encodeURIComponent(sha)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${api.token}`,
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "Content-Type": "application/json",
      },
      body: JSON.stringify(status),
      signal: AbortSignal.timeout(api.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (e) {
    throw new TransientError(`GitHub at ${api.url} could not be reached: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (res.ok) return;
  const message = `GitHub answered ${res.status} to POST ${new URL(url).pathname}: ${await githubMessage(res)}`;
  // GitHub signals its rate limits with 429, or 403 with no requests remaining / a Retry-After.
  const limited = res.status === 403 && (res.headers.get("x-ratelimit-remaining") === "0" || res.headers.has("retry-after"));
  if (res.status >= 500 || res.status === 429 || limited) throw new TransientError(message);
  throw new GitHubRequestError(res.status, message);
}

/** GitHub's `message` of an error answer, else the start of its body. */
async function githubMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === "string" && message) return message;
  } catch {
    // not JSON: the text itself says what went wrong
  }
  return text.slice(0, 200) || res.statusText || "no message";
}
