// The model pages: /models lists them, /models/{name} shows one with its actions (deploy, rollback, undeploy, transfer) as htmx POSTs.
import { zValidator } from "@hono/zod-validator";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import { ModelPage } from "../../views/model-page.tsx";
import { ModelSection } from "../../views/model-section.tsx";
import { ModelsPage } from "../../views/models-page.tsx";
import type { TryItProps } from "../../views/try-it.tsx";
import { modelGate } from "../models/model-gate.ts";
import { curlLine, tryItBody, tryItForm } from "../models/try-it-form.ts";
import { modelDetail as buildModelDetail, modelSummaries as buildModelSummaries } from "../models/model-view.ts";
import { repoFullName } from "../repos/repo-input.ts";
import type { PageDeps } from "./page-deps.ts";
import { onInvalid } from "./validation.ts";

/** Who the deployment history names for actions made on the pages (the API records "admin"). */
export const PAGE_ACTOR = "admin (page)";

const deployForm = z.object({ version: z.coerce.number().int().positive({ message: "must be a positive whole number" }) });
const ownerForm = z.object({ full_name: repoFullName });

/** Routes for the model pages; `guard` (the page session) runs first on each. */
export function modelPageRoutes(deps: PageDeps, guard: MiddlewareHandler) {
  // The section an action answers with: Try it inside it follows what the action made serve.
  const section = (name: string, c: Context) => {
    const model = modelDetail(deps, name);
    return <ModelSection model={model} gate={gateOf(deps, model)} tryIt={tryIt(deps, model, baseUrl(deps, c))} />;
  };
  return new Hono()
    .get("/models", guard, (c) => c.html(<ModelsPage version={deps.version} models={modelSummaries(deps)} />))
    .get("/models/:name", guard, (c) => {
      const model = modelDetail(deps, c.req.param("name"));
      return c.html(<ModelPage version={deps.version} model={model} gate={gateOf(deps, model)} tryIt={tryIt(deps, model, baseUrl(deps, c))} />);
    })
    .post("/models/:name/deploy", guard, zValidator("form", deployForm, onInvalid), async (c) => {
      const name = c.req.param("name");
      await deps.deployer.deploy(name, c.req.valid("form").version, { reason: "manual", actor: PAGE_ACTOR });
      return c.html(section(name, c));
    })
    .post("/models/:name/rollback", guard, async (c) => {
      const name = c.req.param("name");
      await deps.deployer.rollback(name, { actor: PAGE_ACTOR });
      return c.html(section(name, c));
    })
    .post("/models/:name/owner", guard, zValidator("form", ownerForm, onInvalid), (c) => {
      const name = c.req.param("name");
      modelDetail(deps, name); // 404 for an unknown model before writing anything
      deps.modelStore.owners.transfer(name, c.req.valid("form").full_name);
      return c.html(section(name, c));
    })
    .post("/models/:name/undeploy", guard, async (c) => {
      const name = c.req.param("name");
      modelDetail(deps, name); // 404 for an unknown model before acting
      await deps.deployer.undeploy(name, { actor: PAGE_ACTOR });
      return c.html(section(name, c));
    });
}

/** The model read models (src/models/model-view.ts) over the page's services. */
function views(deps: PageDeps) {
  return {
    store: deps.modelStore,
    servingVersion: (name: string) => deps.registry.version(name) ?? null,
    rollbackTarget: (name: string) => deps.deployer.rollbackTarget(name),
  };
}

function modelDetail(deps: PageDeps, name: string) {
  return buildModelDetail(views(deps), name);
}

function gateOf(deps: PageDeps, model: ReturnType<typeof modelDetail>) {
  return modelGate(model.versions, (id) => deps.repos.find(id), deps.config.minAccuracyThreshold);
}

/** The server's URL as the browser reaches it: PUBLIC_URL, else the request's origin. */
function baseUrl(deps: PageDeps, c: Context): string {
  return deps.config.publicUrl || new URL(c.req.url).origin;
}

/** The Try it form of the serving version; `base` is the server's URL as the browser reaches it. */
function tryIt(deps: PageDeps, model: ReturnType<typeof modelDetail>, base: string): TryItProps {
  const serving = model.versions.find((v) => v.version === model.serving_version);
  const form = serving ? tryItForm(serving.signature, serving.sample_rows) : null;
  const path = `/models/${encodeURIComponent(model.name)}/predict`;
  const withToken = Boolean(deps.config.predictToken);
  const body = form ? JSON.stringify(tryItBody(form)) : "";
  return {
    model: model.name,
    version: serving?.version ?? null,
    form,
    path,
    url: `${base}${path}`,
    withToken,
    body,
    curl: curlLine(`${base}${path}`, body, withToken),
  };
}

function modelSummaries(deps: PageDeps) {
  return buildModelSummaries(views(deps));
}
