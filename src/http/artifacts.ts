// POST /api/pipelines/{id}/artifacts: a notebook run elsewhere (a Ray job) sends its model, metrics and executed
// notebook back. Mounted ahead of /api's admin check: its only credential is the pipeline's upload token, and the
// body (capped by MAX_ARTIFACT_BYTES, not /api's 1 MB) streams to disk in ArtifactUploads.
import { Hono } from "hono";
import { UnauthorizedError } from "../lib/errors.ts";
import { UPLOAD_REFUSED, type ArtifactUploads } from "../pipeline/artifact-upload.ts";
import { bearerToken } from "./auth.ts";
import { idParam } from "./validation.ts";

/** Whether `path` is the artifact upload route (it caps its own body; see app.ts). */
export function isArtifactUploadPath(path: string): boolean {
  const parts = path.split("/");
  return parts.length === 5 && parts[1] === "api" && parts[2] === "pipelines" && parts[4] === "artifacts";
}

/** The route, to mount at /api/pipelines before the /api routes. */
export function artifactRoutes(deps: { artifactUploads: ArtifactUploads }) {
  return new Hono().post("/:id/artifacts", async (c) => {
    // An id that is no pipeline's is refused with the same words as a wrong token: the route tells a caller nothing.
    const id = idParam.safeParse({ id: c.req.param("id") });
    if (!id.success) throw new UnauthorizedError(UPLOAD_REFUSED);
    const received = await deps.artifactUploads.receive({
      pipelineId: id.data.id,
      token: bearerToken(c.req.header("authorization")),
      contentType: c.req.header("content-type"),
      contentLength: c.req.header("content-length"),
      body: c.req.raw.body,
    });
    return c.json({ received });
  });
}
