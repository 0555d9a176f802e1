// /api/replication: what a serving replica reads from its primary. The deployments stream (every event the full
// desired state, its id the revision) and the model files. Both take a replica token or the admin token; a replica
// token is good here and nowhere else.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { ModelStore } from "../models/model-store.ts";
import type { DeploymentsFeed } from "../replication/deployments-feed.ts";
import { modelFile } from "../replication/model-files.ts";
import type { ReplicaTokens } from "../replication/replica-tokens.ts";
import { requireAdminOr } from "./auth.ts";
import { BadRequestError } from "../lib/errors.ts";

/** What the replication routes use; main.ts builds it beside the deployer. */
export type ReplicationDeps = {
  replicaTokens: ReplicaTokens;
  deploymentsFeed: DeploymentsFeed;
  /** How often a quiet stream sends `: ping` (default 10 s, under the 15 s the contract promises); tests shorten it. */
  replicationPingMs?: number;
};

const PING_MS = 10_000;
/** How often an open stream of a replica token checks the token is still live (a revoke here also ends it at once). */
const REVOKE_CHECK_MS = 2_000;

const versionParam = z.coerce.number().int().positive();

/** Routes under /api/replication, each behind the admin token or a live replica token. */
export function replicationRoutes(deps: ReplicationDeps & { modelStore: ModelStore; adminTokenSha256: string }) {
  const { replicaTokens: tokens, deploymentsFeed: feed, modelStore } = deps;
  const pingMs = deps.replicationPingMs ?? PING_MS;
  return new Hono<{ Variables: { tokenId?: number } }>()
    .use(
      "*",
      requireAdminOr(deps.adminTokenSha256, (token) => tokens.check(token)),
    )
    .get("/deployments", (c) => {
      const tokenId = c.get("tokenId");
      const lastEventId = c.req.header("last-event-id")?.trim();
      // Bun closes idle connections after its idleTimeout; this stream is quiet between deployments.
      (c.env as { timeout?: (r: Request, s: number) => void } | undefined)?.timeout?.(c.req.raw, 0);
      return streamSSE(c, async (stream) => {
        let dirty = false;
        let revoked = false;
        let wake: (() => void) | undefined;
        const unsubscribe = feed.subscribe(() => {
          dirty = true;
          wake?.();
        });
        const unwatch = tokens.onRevoke((id) => {
          if (id !== tokenId) return;
          revoked = true;
          wake?.();
        });
        stream.onAbort(() => wake?.());
        const ended = () => stream.aborted || feed.closed || revoked || (tokenId !== undefined && !tokens.isLive(tokenId));
        try {
          let sent = lastEventId;
          let lastWrite = performance.now();
          const sendIfNew = async (): Promise<boolean> => {
            const state = feed.current();
            if (String(state.revision) === sent) return false;
            sent = String(state.revision);
            await stream.writeSSE({ id: sent, event: "state", data: JSON.stringify(state) });
            lastWrite = performance.now();
            return true;
          };
          // A client that resumed at the current revision gets nothing yet; a comment still tells it the stream is open.
          if (!(await sendIfNew())) await stream.write(": ping\n\n");
          while (!ended()) {
            if (!dirty) {
              const timer = setTimeout(() => wake?.(), Math.min(pingMs, REVOKE_CHECK_MS));
              await new Promise<void>((r) => (wake = r));
              clearTimeout(timer);
              wake = undefined;
              if (ended()) break;
            }
            if (dirty) {
              dirty = false;
              await sendIfNew();
            }
            if (performance.now() - lastWrite >= pingMs) {
              await stream.write(": ping\n\n");
              lastWrite = performance.now();
            }
          }
        } finally {
          unsubscribe();
          unwatch();
        }
      });
    })
    .get("/models/:name/versions/:version/model.onnx", (c) => {
      const name = c.req.param("name");
      const version = versionParam.safeParse(c.req.param("version"));
      if (!version.success) throw new BadRequestError(`version must be a positive whole number, not "${c.req.param("version")}"`);
      const file = modelFile(modelStore, name, version.data);
      const etag = `"${file.sha256}"`;
      const headers = { "X-Model-Sha256": file.sha256, ETag: etag };
      if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
      return new Response(Bun.file(file.path), {
        headers: { ...headers, "Content-Type": "application/octet-stream", "Content-Length": String(file.size) },
      });
    });
}
