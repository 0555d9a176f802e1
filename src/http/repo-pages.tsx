// The Repositories page: /repos lists them with Run now, Remove and their runner resources, registers new ones, and
// shows the webhook setup.
import { zValidator } from "@hono/zod-validator";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { NothingToRun, RepoSection, type RepoDefaults, type RepoSummary } from "../../views/repo-section.tsx";
import { ReposPage } from "../../views/repos-page.tsx";
import { parseNumberText } from "../lib/number-text.ts";
import { newRepoSchema } from "../repos/repo-input.ts";
import { DEFAULT_BRANCH, DEFAULT_DEPLOY_METRIC, DEFAULT_NOTEBOOK_GLOB } from "../repos/repo-store.ts";
import { runRepoHead } from "../repos/run-repo.ts";
import { RAY_RESOURCES_EXAMPLE, rayResourcesSchema } from "../runner/ray-resources.ts";
import type { PageDeps } from "./page-deps.ts";
import { badResources, shownRepo } from "./repos.ts";
import { idParam, onInvalid } from "./validation.ts";

// The form sends every field, empty for "use the default", the threshold as text and the runner resources as
// JSON text: turned into what the API's JSON would carry, then checked by the API's own schema. Text that is not
// a number (or not JSON) stays text, so the schema refuses it with its message. An empty full_name stays, to be
// refused as a malformed name.
function formAsInput(form: unknown): unknown {
  if (typeof form !== "object" || form === null) return form;
  const fields = Object.entries(form).flatMap(([key, value]): [string, unknown][] => {
    if (typeof value !== "string") return [[key, value]];
    if (value.trim() === "" && key !== "full_name") return [];
    if (key === "runner_resources") return [[key, jsonOrText(value)]];
    const number = key === "deploy_threshold" ? parseNumberText(value.trim()) : null;
    if (number !== null) return [[key, number]];
    return [[key, value]];
  });
  return Object.fromEntries(fields);
}
const registerForm = z.preprocess(formAsInput, newRepoSchema);

function jsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// A repository's runner resources form: one textarea of JSON text, where empty clears the value.
const resourcesForm = z.preprocess(
  (form) => {
    const text = (form as Record<string, unknown> | null)?.runner_resources;
    if (typeof text !== "string") return form;
    return { ...(form as object), runner_resources: text.trim() === "" ? null : jsonOrText(text) };
  },
  z.strictObject({ runner_resources: rayResourcesSchema.nullable() }),
);

/** Routes for /repos and its actions; `guard` (the page session) runs first on each. */
export function repoPageRoutes(deps: PageDeps, guard: MiddlewareHandler) {
  const defaults: RepoDefaults = {
    branch: DEFAULT_BRANCH,
    notebookGlob: DEFAULT_NOTEBOOK_GLOB,
    deployMetric: DEFAULT_DEPLOY_METRIC,
    threshold: deps.config.minAccuracyThreshold,
    autoDeploy: deps.config.autoDeployOnSuccess,
    resourcesExample: RAY_RESOURCES_EXAMPLE,
  };
  const section = () => <RepoSection repos={repoSummaries(deps)} defaults={defaults} />;
  return new Hono()
    .get("/repos", guard, (c) => {
      const publicUrl = deps.config.publicUrl;
      const webhook = { url: `${publicUrl || new URL(c.req.url).origin}/webhook/github`, secret: deps.webhookSecret, fromRequest: !publicUrl };
      return c.html(<ReposPage version={deps.version} repos={repoSummaries(deps)} defaults={defaults} webhook={webhook} />);
    })
    .post("/repos", guard, zValidator("form", registerForm, badResources), (c) => {
      deps.repos.create(c.req.valid("form"));
      return c.html(section());
    })
    .post("/repos/:id/resources", guard, zValidator("param", idParam, onInvalid), zValidator("form", resourcesForm, badResources), (c) => {
      deps.repos.update(c.req.valid("param").id, c.req.valid("form"));
      return c.html(section());
    })
    .post("/repos/:id/run", guard, zValidator("param", idParam, onInvalid), async (c) => {
      const repo = deps.repos.get(c.req.valid("param").id);
      const result = await runRepoHead(deps.runRepo, repo);
      if (!result.pipelines.length) return c.html(<NothingToRun repo={repo} untagged={result.skipped.length} />);
      const [only, ...more] = result.pipelines;
      c.header("HX-Redirect", only && !more.length ? `/pipelines/${only.id}` : "/pipelines");
      return c.body(null, 204);
    })
    .post("/repos/:id/delete", guard, zValidator("param", idParam, onInvalid), (c) => {
      deps.repos.delete(c.req.valid("param").id);
      return c.html(section());
    });
}

/** Every repository, oldest registration first, with the threshold in force and its newest pipeline. */
function repoSummaries(deps: PageDeps): RepoSummary[] {
  const newestOf = deps.pipelineStore.newestPerRepo();
  return deps.repos
    .list()
    .map(shownRepo)
    .map((r) => {
      const newest = newestOf.get(r.id);
      return {
        ...r,
        threshold: r.deploy_threshold ?? deps.config.minAccuracyThreshold,
        thresholdIsDefault: r.deploy_threshold === null,
        newest: newest ? { id: newest.id, status: newest.status, created_at: newest.createdAt } : null,
      };
    });
}
