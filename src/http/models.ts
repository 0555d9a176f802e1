// /api/models: versions, metrics, deployment history, owner; deploy, rollback, undeploy, transfer.
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { z } from "zod";
import type { Deployer } from "../models/deployer.ts";
import type { ModelStore } from "../models/model-store.ts";
import { modelDetail, modelSummaries } from "../models/model-view.ts";
import { repoFullName } from "../repos/repo-input.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import { onInvalid } from "./validation.ts";

const deployBody = z.object({ version: z.number().int().positive() }).strict();
const ownerBody = z.strictObject({ full_name: repoFullName });

/** Routes under /api/models. */
export function modelRoutes(deps: { modelStore: ModelStore; deployer: Deployer; registry: ModelRegistry }) {
  const { modelStore: store, deployer, registry } = deps;
  const views = { store, servingVersion: (name: string) => registry.version(name) ?? null, rollbackTarget: (name: string) => deployer.rollbackTarget(name) };
  const detail = (name: string) => modelDetail(views, name);
  return (
    new Hono()
      .get("/", (c) => c.json({ models: modelSummaries(views) }))
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
