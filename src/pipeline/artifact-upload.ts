// Receiving a pipeline's results over HTTP (POST /api/pipelines/{id}/artifacts), sent by a notebook that ran elsewhere
// (a Ray job's runner script). The only credential is the pipeline's upload token (upload-tokens.ts), checked before a
// byte of the body is read. The multipart body streams to temp files beside where the notebook would have written
// (notebook-outputs.ts), under MAX_ARTIFACT_BYTES; only once the whole body has arrived, well formed, and the token is
// still good are the files renamed into place, all of them. Anything else leaves nothing behind.
import { randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BadRequestError, ConflictError, PayloadTooLargeError, UnauthorizedError } from "../lib/errors.ts";
import { cappedChunks, multipartBoundary, readMultipart, type PartSink } from "../lib/multipart-stream.ts";
import { notebookOutputs } from "./notebook-outputs.ts";
import { pipelineDir } from "./run-pipeline.ts";

/** The parts an upload may carry, and which of the pipeline's outputs each becomes. */
export const ARTIFACT_PARTS = { model: "model", metrics: "metrics", notebook: "executed" } as const;
export type ArtifactPart = keyof typeof ARTIFACT_PARTS;

/** The one answer to every refused credential: it does not tell a wrong token from an ended or unknown pipeline. */
export const UPLOAD_REFUSED =
  "an artifact upload needs its pipeline's upload token (Authorization: Bearer <token>), and only while that pipeline runs; this token is missing, wrong or no longer valid";

/** An upload as it arrived: the route hands over the request's parts untouched. */
export type ArtifactUpload = {
  pipelineId: number;
  /** The bearer token, or null when the request had none. */
  token: string | null;
  contentType: string | undefined;
  /** The Content-Length header, when the body's length was declared. */
  contentLength: string | undefined;
  body: ReadableStream<Uint8Array> | null;
};

/** Bytes received per part that came. */
export type ArtifactsReceived = Partial<Record<ArtifactPart, number>>;

type Staged = { part: ArtifactPart; temp: string; target: string; bytes: number; file?: FileHandle };

export class ArtifactUploads {
  constructor(
    private readonly deps: {
      /** Whether `token` is pipeline `pipelineId`'s upload token and the pipeline runs (UploadTokens). */
      tokens: { check(pipelineId: number, token: string): boolean };
      dataDir: string;
      /** MAX_ARTIFACT_BYTES: the whole body's cap. */
      maxBytes: number;
    },
  ) {}

  /**
   * Check the token, then stream the body's parts into the pipeline's outputs, replacing what was there; returns the
   * bytes of each part stored. Throws, storing nothing: UnauthorizedError (UPLOAD_REFUSED) for a missing or refused
   * token, also when the pipeline ended during the upload; AppError 415 for a body that is not multipart/form-data;
   * BadRequestError for a malformed body, a part other than model, metrics or notebook, or one sent twice;
   * PayloadTooLargeError over MAX_ARTIFACT_BYTES, declared or as it streams.
   */
  async receive(upload: ArtifactUpload): Promise<ArtifactsReceived> {
    const { pipelineId, token } = upload;
    const authorized = () => token !== null && this.deps.tokens.check(pipelineId, token);
    if (!authorized()) throw new UnauthorizedError(UPLOAD_REFUSED);
    const boundary = multipartBoundary(upload.contentType);
    const tooLarge = `the upload is larger than ${this.deps.maxBytes} bytes (MAX_ARTIFACT_BYTES); nothing was kept`;
    if (upload.contentLength !== undefined && Number(upload.contentLength) > this.deps.maxBytes)
      throw new PayloadTooLargeError(tooLarge, { max_bytes: this.deps.maxBytes });
    if (!upload.body) throw new BadRequestError("malformed multipart body: the request has no body");

    const workDir = pipelineDir(this.deps.dataDir, pipelineId);
    const outputs = notebookOutputs(workDir);
    const staged: Staged[] = [];
    try {
      await readMultipart(
        cappedChunks(upload.body, this.deps.maxBytes, tooLarge),
        boundary,
        async ({ name }) => {
          if (!Object.hasOwn(ARTIFACT_PARTS, name))
            throw new BadRequestError(`unknown part ${JSON.stringify(name.slice(0, 100))}: an upload's parts are ${Object.keys(ARTIFACT_PARTS).join(", ")}`);
          const part = name as ArtifactPart;
          if (staged.some((s) => s.part === part)) throw new BadRequestError(`the part "${part}" came twice`);
          const target = outputs[ARTIFACT_PARTS[part]];
          plainDirectory(dirname(target), workDir);
          // Beside its target, so the rename stays on one filesystem and is atomic; a name no notebook output has.
          const temp = join(dirname(target), `.${basename(target)}.upload-${randomBytes(8).toString("hex")}`);
          const entry: Staged = { part, temp, target, bytes: 0 };
          staged.push(entry);
          entry.file = await open(temp, "wx", 0o600);
          return stagedSink(entry);
        },
        { maxParts: Object.keys(ARTIFACT_PARTS).length },
      );
      // The pipeline may have ended (cancelled, timed out) while the body came: its token is gone then.
      if (!authorized()) throw new UnauthorizedError(UPLOAD_REFUSED);
      for (const s of staged) renameSync(s.temp, s.target);
      return Object.fromEntries(staged.map((s) => [s.part, s.bytes]));
    } finally {
      for (const s of staged) {
        await s.file?.close().catch(() => undefined);
        rmSync(s.temp, { force: true });
      }
    }
  }
}

// Writes each chunk before more of the body is read; at the end the bytes are flushed to disk, so a file renamed into
// place after a crash is whole.
function stagedSink(entry: Staged): PartSink {
  return {
    async write(chunk) {
      for (let done = 0; done < chunk.byteLength; ) done += (await entry.file!.write(chunk, done)).bytesWritten;
      entry.bytes += chunk.byteLength;
    },
    async end() {
      const file = entry.file!;
      entry.file = undefined;
      await file.datasync();
      await file.close();
    },
  };
}

// Make `dir` (the work dir or its output dir) if missing; refuse one that is something else, e.g. a symlink a
// notebook run on this machine left in its work dir, which would send the upload elsewhere.
function plainDirectory(dir: string, workDir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const d of new Set([workDir, dir]))
    if (!lstatSync(d).isDirectory()) throw new ConflictError(`the pipeline's ${d === workDir ? "work" : "output"} directory is not a plain directory`);
}
