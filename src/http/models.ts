// /api/models: versions, metrics, deployment history, owner; deploy, rollback, undeploy, transfer.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import { NotFoundError } from "../lib/errors.ts";
import type { Deployer } from "../models/deployer.ts";
import type { ModelStore } from "../models/model-store.ts";
import { deploymentJson, versionJson } from "../models/model-view.ts";
import { repoFullName } from "../repos/repo-input.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import { onInvalid } from "./validation.ts";

const deployBody = z.object({ version: z.number().int().positive() }).strict();
const ownerBody = z.strictObject({ full_name: repoFullName });

/** Routes under /api/models. */
export function modelRoutes(deps: { modelStore: ModelStore; deployer: Deployer; registry: ModelRegistry }) {
  const { modelStore: store, deployer, registry } = deps;
  const detail = (name: string) => {
    const versions = store.versions(name);
    if (!versions.length) throw new NotFoundError(`model "${name}" does not exist`);
    const serving = registry.version(name) ?? null;
    return {
      name,
      owner: store.owners.ownerOf(name),
      serving_version: serving,
      deployed_version: store.deployedVersion(name),
      versions: versions.map((v) => versionJson(v, serving)),
      deployments: store.history(name).map(deploymentJson),
    };
  };
  return (
    new Hono()
      .get("/", (c) =>
        c.json({
          models: store.modelNames().map((name) => {
            const versions = store.versions(name);
            return { name, serving_version: registry.version(name) ?? null, latest_version: versions[0]?.version ?? null, versions: versions.length };
          }),
        }),
      )
      .get("/:name", (c) => c.json(detail(c.req.param("name"))))
      .post("/:name/deploy", zValidator("json", deployBody, onInvalid), async (c) => {
        const name = c.req.param("name");
        await deployer.deploy(name, c.req.valid("json").version, { reason: "manual", actor: "admin" });
        return c.json(detail(name));
      })
      .post("/:name/rollback", async (c) => {
        const name = c.req.param("name");
        await deployer.rollback(name, { actor: "admin" });
        return c.json(detail(name));
      })
      // An admin moves a model to another repository (registered or not: ownership goes by full name).
      .post("/:name/owner", zValidator("json", ownerBody, onInvalid), (c) => {
        const name = c.req.param("name");
        detail(name); // 404 for an unknown model before writing anything
        store.owners.transfer(name, c.req.valid("json").full_name);
        return c.json(detail(name));
      })
      .post("/:name/undeploy", async (c) => {
        const name = c.req.param("name");
        detail(name);
        await deployer.undeploy(name, { actor: "admin" });
        return c.json(detail(name));
      })
  );
}
