// A streaming reader of multipart/form-data bodies (RFC 7578): each part's bytes are handed to a sink as they arrive,
// so a body of gigabytes never sits in memory (Hono's parseBody and Request.formData() hold the whole body). The body
// is hostile input: it is searched with Buffer.indexOf only (no pattern that can backtrack), part headers are bounded,
// and the caller bounds the whole body (cappedChunks) and the number of parts.
import { AppError, BadRequestError, errorLine, PayloadTooLargeError } from "./errors.ts";

/** What a part's headers say: its field name, and the file name and content type when given. */
export type PartInfo = { name: string; filename?: string; contentType?: string };

/** Where one part's bytes go. `write` is awaited before more of the body is read (backpressure); `end` once, after its last byte. */
export type PartSink = { write(chunk: Uint8Array): Promise<void> | void; end(): Promise<void> | void };

/** Largest part header block read (all the part's header lines together). */
export const MAX_PART_HEADER_BYTES = 16 * 1024;
const CRLF_CRLF = Buffer.from("\r\n\r\n");
const MAX_BOUNDARY_CHARS = 70;
const MAX_PADDING = 64;

const malformed = (why: string) => new BadRequestError(`malformed multipart body: ${why}`);

/**
 * The boundary of a `multipart/form-data; boundary=…` Content-Type. Throws AppError 415 for any other media type
 * (or none), BadRequestError when the boundary is missing or longer than RFC 2046's 70 characters.
 */
export function multipartBoundary(contentType: string | undefined): string {
  const [type, ...params] = splitParams(contentType ?? "");
  if (type?.key.toLowerCase() !== "multipart/form-data")
    throw new AppError(415, `the body must be multipart/form-data, got ${contentType ? JSON.stringify(contentType.slice(0, 100)) : "no Content-Type"}`);
  const boundary = params.find((p) => p.key === "boundary")?.value;
  if (!boundary) throw malformed("the Content-Type has no boundary parameter");
  if (boundary.length > MAX_BOUNDARY_CHARS) throw malformed(`the boundary is longer than ${MAX_BOUNDARY_CHARS} characters`);
  return boundary;
}

/**
 * The chunks of `body`, throwing PayloadTooLargeError(`message`, {max_bytes}) as soon as they pass `maxBytes` in all;
 * the body is cancelled then, and whenever the consumer stops early, so nothing more of it is read. A body that
 * cannot be read to its end (the sender went away) throws BadRequestError.
 */
export async function* cappedChunks(body: ReadableStream<Uint8Array>, maxBytes: number, message: string): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let size = 0;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((e: unknown) => {
        // Not the server's fault, so not a logged 500: the sender closed the connection or broke the stream.
        throw new BadRequestError(`the request body could not be read to its end (${errorLine(e)})`);
      });
      if (done) {
        finished = true;
        return;
      }
      size += value.byteLength;
      if (size > maxBytes) throw new PayloadTooLargeError(message, { max_bytes: maxBytes });
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/**
 * Read a multipart body from `chunks`, calling `onPart` at each part's start for the sink its bytes go to, in order.
 * Resolves once the closing boundary is read (an epilogue after it is not read). Throws BadRequestError for a
 * malformed body (no closing boundary, a part without a form-data name, part headers over MAX_PART_HEADER_BYTES,
 * more than `maxParts` parts); whatever `onPart` or a sink throws propagates. On a throw, the sink of the part being
 * read has not been ended: the caller discards what it wrote.
 */
export async function readMultipart(
  chunks: AsyncIterable<Uint8Array>,
  boundary: string,
  onPart: (part: PartInfo) => Promise<PartSink> | PartSink,
  { maxParts }: { maxParts: number },
): Promise<void> {
  // Each boundary line is CRLF "--" boundary; a body starting with its first boundary has no CRLF before it, so one is
  // put in front of the body.
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.from("\r\n");
  let state: "preamble" | "boundaryLine" | "headers" | "body" | "closed" = "preamble";
  let sink: PartSink | undefined;
  let parts = 0;
  for await (const chunk of chunks) {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (buf.length === 0) buf = bytes;
    else if ((state === "body" || state === "preamble") && buf.length < delimiter.length && bytes.length >= delimiter.length) {
      // buf is the tail kept from the last chunk. Unless a delimiter starts in it, it is data: hand it on and search
      // the new chunk where it lies, rather than copying every chunk of a big part into a new buffer.
      const at = Buffer.concat([buf, bytes.subarray(0, delimiter.length - 1)]).indexOf(delimiter);
      if (at >= 0 && at < buf.length) buf = Buffer.concat([buf, bytes]);
      else {
        if (state === "body") await sink!.write(buf);
        buf = bytes;
      }
    } else buf = Buffer.concat([buf, bytes]);
    for (;;) {
      if (state === "preamble" || state === "body") {
        const at = buf.indexOf(delimiter);
        if (at < 0) {
          // The end of buf may be the start of a delimiter: keep that much for the next chunk.
          const keep = Math.min(buf.length, delimiter.length - 1);
          if (state === "body" && buf.length > keep) await sink!.write(buf.subarray(0, buf.length - keep));
          buf = buf.subarray(buf.length - keep);
          break;
        }
        if (state === "body") {
          if (at > 0) await sink!.write(buf.subarray(0, at));
          await sink!.end();
          sink = undefined;
        }
        buf = buf.subarray(at + delimiter.length);
        state = "boundaryLine";
      } else if (state === "boundaryLine") {
        // After the boundary: "--" closes the body; otherwise optional padding (spaces, tabs), then CRLF.
        if (buf.length < 2) break;
        if (buf[0] === 0x2d && buf[1] === 0x2d) {
          state = "closed";
          break;
        }
        let i = 0;
        while (i < buf.length && i <= MAX_PADDING && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
        if (i > MAX_PADDING) throw malformed("a boundary line does not end");
        if (buf.length < i + 2) break;
        if (buf[i] !== 0x0d || buf[i + 1] !== 0x0a) throw malformed("a boundary line does not end with CRLF");
        buf = buf.subarray(i + 2);
        state = "headers";
      } else if (state === "headers") {
        if (buf.length < 2) break;
        if (buf[0] === 0x0d && buf[1] === 0x0a) throw malformed("a part has no headers (it needs Content-Disposition: form-data; name=...)");
        const end = buf.indexOf(CRLF_CRLF);
        if ((end < 0 ? buf.length : end) > MAX_PART_HEADER_BYTES) throw malformed(`a part's headers are longer than ${MAX_PART_HEADER_BYTES} bytes`);
        if (end < 0) break;
        if (++parts > maxParts) throw malformed(`more than ${maxParts} parts`);
        const info = partInfo(buf.subarray(0, end).toString("utf8"));
        buf = buf.subarray(end + CRLF_CRLF.length);
        sink = await onPart(info);
        state = "body";
      } else break;
    }
    if (state === "closed") return;
  }
  throw malformed(state === "body" ? "the body ended inside a part, before the closing boundary" : "the body ended before the closing boundary");
}

// The part's name, file name and type from its header lines; Content-Disposition must be form-data with a name.
function partInfo(block: string): PartInfo {
  let disposition: { key: string; value: string }[] | undefined;
  let contentType: string | undefined;
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformed(`a part header line is not "Name: value": ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") disposition = splitParams(value);
    else if (name === "content-type") contentType = value;
  }
  const [kind, ...params] = disposition ?? [];
  if (kind?.key.toLowerCase() !== "form-data") throw malformed("a part has no Content-Disposition: form-data header");
  const name = params.find((p) => p.key === "name")?.value;
  if (!name) throw malformed("a part's Content-Disposition has no name");
  const filename = params.find((p) => p.key === "filename")?.value;
  return { name, ...(filename !== undefined && { filename }), ...(contentType !== undefined && { contentType }) };
}

/**
 * `type; key=value; key="quoted \" value"` → [{key: type, value: ""}, {key, value}, …], keys lower-cased, in one pass
 * (header values are request input: no pattern runs over them). A bare first item is the media type or disposition.
 */
function splitParams(header: string): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  while (i < n) {
    skipSpace();
    let key = "";
    while (i < n && header[i] !== "=" && header[i] !== ";") key += header[i++];
    let value = "";
    if (header[i] === "=") {
      i++;
      skipSpace();
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i++];
        }
        i++; // the closing quote
        while (i < n && header[i] !== ";") i++;
      } else {
        while (i < n && header[i] !== ";") value += header[i++];
        value = value.trim();
      }
    }
    out.push({ key: out.length === 0 ? key.trim() : key.trim().toLowerCase(), value });
    i++; // the ";"
  }
  return out;
}
