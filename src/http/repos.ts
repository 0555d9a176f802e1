// /api/repos: register, list, show, change and remove repositories; start a manual run.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { redactUrl } from "../lib/redact-url.ts";
import { newRepoSchema, repoPatchSchema } from "../repos/repo-input.ts";
import type { RepoStore } from "../repos/repo-store.ts";
import { runRepoHead, type RunRepo } from "../repos/run-repo.ts";
import { idParam, onInvalid, onInvalidWithin } from "./validation.ts";

export type { RunRepo };

/** A repository as answers and pages show it: credentials in its clone URL replaced by ***, kept only for git. */
export function shownRepo<R extends { clone_url: string }>(repo: R): R {
  return { ...repo, clone_url: redactUrl(repo.clone_url) };
}

/** The validator hook for a repository's fields: problems only in `runner_resources` are a 422, others a 400. */
export const badResources = onInvalidWithin("runner_resources");

/**
 * Routes under /api/repos. `runRepo` errors from git become 503 (transient) or 422 (bad URL/branch); a bad
 * `runner_resources` is a 422 naming the key (the other fields' problems are 400s, as before).
 */
export function repoRoutes(deps: { repos: RepoStore; runRepo: RunRepo }) {
  const { repos, runRepo } = deps;
  return new Hono()
    .get("/", (c) => c.json({ repos: repos.list().map(shownRepo) }))
    .post("/", zValidator("json", newRepoSchema, badResources), (c) => c.json(shownRepo(repos.create(c.req.valid("json"))), 201))
    .get("/:id", zValidator("param", idParam, onInvalid), (c) => c.json(shownRepo(repos.get(c.req.valid("param").id))))
    .patch("/:id", zValidator("param", idParam, onInvalid), zValidator("json", repoPatchSchema, badResources), (c) =>
      c.json(shownRepo(repos.update(c.req.valid("param").id, c.req.valid("json")))),
    )
    .delete("/:id", zValidator("param", idParam, onInvalid), (c) => {
      repos.delete(c.req.valid("param").id);
      return c.body(null, 204);
    })
    .post("/:id/run", zValidator("param", idParam, onInvalid), async (c) => {
      const result = await runRepoHead(runRepo, repos.get(c.req.valid("param").id));
      return c.json(result, 202);
    });
}
