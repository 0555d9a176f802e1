// The parts of a GitHub `push` payload the platform uses, and the decision whether a push runs pipelines.
import { z } from "zod";

const sha = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, { message: "must be a commit sha" });
const paths = z.array(z.string()).default([]);

const commit = z.object({
  id: sha,
  message: z.string().default(""),
  timestamp: z.string().optional(),
  url: z.string().optional(),
  author: z.object({ name: z.string().optional(), email: z.string().nullish(), username: z.string().optional() }).optional(),
  added: paths,
  modified: paths,
  removed: paths,
});

/** The fields of a push delivery we read; other fields are dropped (the raw text is kept separately). */
export const pushPayloadSchema = z.object({
  ref: z.string().min(1),
  before: sha,
  after: sha,
  created: z.boolean().default(false),
  deleted: z.boolean().default(false),
  forced: z.boolean().default(false),
  repository: z.object({ full_name: z.string().min(1), clone_url: z.string().min(1) }),
  head_commit: commit.nullable().default(null),
  commits: z.array(commit).default([]),
  pusher: z.object({ name: z.string().optional() }).optional(),
});

export type PushPayload = z.infer<typeof pushPayloadSchema>;

/** What to do with a push: run the registered branch's pipelines, or ignore it with a reason shown to GitHub and operators. */
export type PushDecision = { action: "run"; branch: string } | { action: "ignore"; reason: string };

const ZERO = /^0+$/;

/**
 * Decide a push against the repository registered under its full name (undefined when none):
 * ignored for an unregistered repository, a tag, a ref that is not a branch, another branch than the
 * registered one, or a deletion of the registered branch. Pure.
 */
export function classifyPush(payload: PushPayload, repo: { full_name: string; branch: string } | undefined): PushDecision {
  const { ref } = payload;
  if (!repo) return { action: "ignore", reason: `repository ${payload.repository.full_name} is not registered` };
  if (ref.startsWith("refs/tags/")) {
    const tag = ref.slice("refs/tags/".length);
    return { action: "ignore", reason: `tag push (${tag}${payload.deleted ? " deleted" : ""}): only pushes to branch ${repo.branch} run pipelines` };
  }
  if (!ref.startsWith("refs/heads/")) return { action: "ignore", reason: `${ref} is not a branch: only pushes to branch ${repo.branch} run pipelines` };
  const branch = ref.slice("refs/heads/".length);
  if (branch !== repo.branch) return { action: "ignore", reason: `push to branch ${branch}: the registered branch is ${repo.branch}` };
  if (payload.deleted || ZERO.test(payload.after)) return { action: "ignore", reason: `branch deletion: branch ${branch} was deleted` };
  return { action: "run", branch };
}
