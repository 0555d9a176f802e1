// What a repository registration or change may contain (docs/http.md), as zod schemas shared by the JSON API and the pages.
import { z } from "zod";
import { rayResourcesSchema } from "../runner/ray-resources.ts";

// GitHub: owner 1–39 letters/digits/hyphens (`_` too for Enterprise managed users), not starting with a
// hyphen; repository 1–100 letters/digits/`.`/`_`/`-`, but not `.` or `..`.
const FULL_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,38}\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

/** A repository's `owner/name` as GitHub allows it (trimmed). */
export const repoFullName = z.string().trim().regex(FULL_NAME, {
  message: "must be owner/name as on GitHub (owner: letters, digits, hyphens; name: letters, digits, '.', '_', '-')",
});
const fullName = repoFullName;

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
  // null clears it.
  runner_resources: rayResourcesSchema.nullable().optional(),
};

const unknownFields = {
  error: (issue: { code?: string; keys?: string[] }) =>
    issue.code === "unrecognized_keys" ? `unknown field ${issue.keys?.join(", ")}; allowed: ${Object.keys(fields).join(", ")}` : undefined,
};

/** A registration (POST /api/repos, the Repositories page's form): `full_name` required, the rest optional; unknown fields refused. */
export const newRepoSchema = z.strictObject(fields, unknownFields);

/** A change (PATCH /api/repos/{id}): every field optional; unknown fields refused. */
export const repoPatchSchema = z.strictObject({ ...fields, full_name: fullName.optional() }, unknownFields);
