// A manual run of a repository's branch head, shared by POST /api/repos/{id}/run and the Repositories page.
import { GitCommandError } from "../git/git-mirror.ts";
import { TransientError, UnavailableError, UnprocessableError } from "../lib/errors.ts";
import type { Repo } from "./repo-store.ts";

/** Starts pipelines for the head of a repository's branch; answers what it queued and what it skipped. */
export type RunRepo = (repo: Repo) => Promise<{ pipelines: { id: number; notebook_path: string }[]; skipped: { path: string; reason: string }[] }>;

/**
 * `runRepo(repo)`, with git failures as typed errors: TransientError becomes UnavailableError (503, try again),
 * GitCommandError (bad URL or branch) UnprocessableError (422); anything else is rethrown as it is.
 */
export function runRepoHead(runRepo: RunRepo, repo: Repo): ReturnType<RunRepo> {
  return runRepo(repo).catch((e: unknown) => {
    if (e instanceof TransientError) throw new UnavailableError(`could not reach ${repo.full_name}: ${e.message}; try again later`);
    if (e instanceof GitCommandError) throw new UnprocessableError(e.message, { repo: repo.full_name, branch: repo.branch });
    throw e;
  });
}
