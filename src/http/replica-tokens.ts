// /api/replica-tokens: make, list and revoke the tokens serving replicas use (admin only, like the rest of /api).
import { Hono } from "hono";
import { z } from "zod";
import { BadRequestError } from "../lib/errors.ts";
import type { ReplicaTokens } from "../replication/replica-tokens.ts";
import { idParam, onInvalid } from "./validation.ts";
import { zValidator } from "@hono/zod-validator";

const createBody = z.strictObject({ name: z.string().trim().max(100, { message: "must be at most 100 characters" }).optional() });

/** Routes under /api/replica-tokens. The token itself is in the POST's answer only. */
export function replicaTokenRoutes(deps: { replicaTokens: ReplicaTokens }) {
  const tokens = deps.replicaTokens;
  return new Hono()
    .post("/", async (c) => {
      // The name is optional, and so is the body that would carry it.
      const text = await c.req.text();
      let json: unknown = {};
      if (text.trim() !== "") {
        try {
          json = JSON.parse(text);
        } catch {
          throw new BadRequestError('the body must be JSON like {"name": "replica-1"} (or empty)');
        }
      }
      const body = createBody.safeParse(json);
      if (!body.success) onInvalid(body);
      return c.json(tokens.create(body.data?.name ?? ""), 201);
    })
    .get("/", (c) => c.json({ tokens: tokens.list() }))
    .delete("/:id", zValidator("param", idParam, onInvalid), (c) => {
      tokens.revoke(c.req.valid("param").id);
      return c.body(null, 204);
    });
}
