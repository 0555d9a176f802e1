// Request bodies are capped before they are read: a declared Content-Length over the cap is refused from the header
// alone, and a chunked body (or one without a length) is read only until it passes the cap. Every route family uses
// this one middleware with its own cap: the API and pages (including POST /login) the default below, predictions
// MAX_REQUEST_BYTES, the webhook 25 MB.
import type { MiddlewareHandler } from "hono";
import { PayloadTooLargeError } from "../lib/errors.ts";

/** The cap on bodies sent to the JSON API (/api) and the pages' forms: they carry a few short fields. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const NO_BODY = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Middleware: refuse a body over `max` bytes with PayloadTooLargeError (413, `{"error": message, "max_bytes": max}`) before
 * reading it, or as soon as a streamed body passes `max`; a body within the cap is buffered so handlers read it as usual.
 * `skip(path)`: paths whose routes cap their bodies themselves with a cap of their own.
 */
export function limitBody(max: number, message: string, skip?: (path: string) => boolean): MiddlewareHandler {
  const tooLarge = () => new PayloadTooLargeError(message, { max_bytes: max });
  return async (c, next) => {
    if (NO_BODY.has(c.req.method) || skip?.(c.req.path)) return next();
    const raw = c.req.raw;
    // The common case, a declared length, is checked from the header alone: touching `req.body` makes Bun
    // build a stream and costs a measurable share of a small predict request.
    const length = raw.headers.get("content-length");
    if (length !== null && !raw.headers.has("transfer-encoding")) {
      if (Number(length) > max) throw tooLarge();
      return next();
    }
    if (!raw.body) return next();
    const reader = raw.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        // Stop the sender: nothing more of this body is read.
        await reader.cancel().catch(() => undefined);
        throw tooLarge();
      }
      chunks.push(value);
    }
    c.req.raw = new Request(raw, { body: concat(chunks, size) });
    return next();
  };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0] as Uint8Array<ArrayBuffer>;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
