// /api/repos: register, list, show, change and remove repositories; start a manual run.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import { GitCommandError } from "../git/git-mirror.ts";
import { TransientError, UnavailableError, UnprocessableError } from "../lib/errors.ts";
import type { Repo, RepoStore } from "../repos/repo-store.ts";
import { idParam, onInvalid } from "./validation.ts";

/** Starts pipelines for the head of a repository's branch; answers what it queued and what it skipped. */
export type RunRepo = (repo: Repo) => Promise<{ pipelines: unknown[]; skipped: unknown[] }>;

// GitHub: owner 1–39 letters/digits/hyphens (`_` too for Enterprise managed users), not starting with a
// hyphen; repository 1–100 letters/digits/`.`/`_`/`-`, but not `.` or `..`.
const FULL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

const fullName = z.string().trim().regex(FULL_NAME, {
  message: "must be owner/name as on GitHub (owner: letters, digits, hyphens; name: letters, digits, '.', '_', '-')",
});

const cloneUrl = z
  .string()
  .trim()
  .min(1, { message: "must be a URL or path git can fetch" })
  .max(2000)
  // A leading "-" would be read by git as an option.
  .refine((v) => !v.startsWith("-") && !/[\s\0-\x1f]/.test(v), { message: "must be a URL or path git can fetch (no spaces, not starting with '-')" })
  .refine((v) => !URL.canParse(v) || new URL(v).password === "", {
    message: "must not contain a password or token; set GITHUB_TOKEN instead",
  });

// git check-ref-format, the rules that matter for a branch name given by a person.
const branch = z
  .string()
  .trim()
  .min(1)
  .max(250)
  .refine((v) => !/[\s~^:?*[\\\0-\x1f\x7f]|\.\.|@\{|\/\/|^[-/.]|[/.]$|\.lock$|\/\./.test(v), {
    message: "must be a git branch name such as main (no spaces, '..', '~^:?*[\\', leading '-')",
  });

const notebookGlob = z.string().trim().min(1, { message: "must be a glob such as **/*.ipynb" }).max(500);

// MLflow's rule for metric names.
const deployMetric = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.\-/ ]{1,250}$/, { message: "must be a metric name (letters, digits, '_', '-', '.', '/', spaces)" });

const deployThreshold = z.number({ message: "must be a number from 0 to 1, or null" }).min(0).max(1).nullable();

const fields = {
  full_name: fullName,
  clone_url: cloneUrl.optional(),
  branch: branch.optional(),
  notebook_glob: notebookGlob.optional(),
  deploy_metric: deployMetric.optional(),
  deploy_threshold: deployThreshold.optional(),
};

const unknownFields = {
  error: (issue: { code?: string; keys?: string[] }) =>
    issue.code === "unrecognized_keys" ? `unknown field ${issue.keys?.join(", ")}; allowed: ${Object.keys(fields).join(", ")}` : undefined,
};

const createBody = z.strictObject(fields, unknownFields);

const patchBody = z.strictObject({ ...fields, full_name: fullName.optional() }, unknownFields);

/** Routes under /api/repos. `runRepo` errors from git become 503 (transient) or 422 (bad URL/branch). */
export function repoRoutes(deps: { repos: RepoStore; runRepo: RunRepo }) {
  const { repos, runRepo } = deps;
  return new Hono()
    .get("/", (c) => c.json({ repos: repos.list() }))
    .post("/", zValidator("json", createBody, onInvalid), (c) => c.json(repos.create(c.req.valid("json")), 201))
    .get("/:id", zValidator("param", idParam, onInvalid), (c) => c.json(repos.get(c.req.valid("param").id)))
    .patch("/:id", zValidator("param", idParam, onInvalid), zValidator("json", patchBody, onInvalid), (c) =>
      c.json(repos.update(c.req.valid("param").id, c.req.valid("json"))),
    )
    .delete("/:id", zValidator("param", idParam, onInvalid), (c) => {
      repos.delete(c.req.valid("param").id);
      return c.body(null, 204);
    })
    .post("/:id/run", zValidator("param", idParam, onInvalid), async (c) => {
      const repo = repos.get(c.req.valid("param").id);
      const result = await runRepo(repo).catch((e: unknown) => {
        if (e instanceof TransientError) throw new UnavailableError(`could not reach ${repo.full_name}: ${e.message}; try again later`);
        if (e instanceof GitCommandError) throw new UnprocessableError(e.message, { repo: repo.full_name, branch: repo.branch });
        throw e;
      });
      return c.json(result, 202);
    });
}
