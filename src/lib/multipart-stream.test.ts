// The streaming multipart reader against bodies made by Bun's own FormData encoder (and by hand for the malformed
// ones), fed in chunks of every awkward size so boundaries fall across chunk edges.
import { describe, expect, test } from "bun:test";
import { AppError, BadRequestError, PayloadTooLargeError } from "./errors.ts";
import { cappedChunks, MAX_PART_HEADER_BYTES, multipartBoundary, readMultipart, type PartInfo } from "./multipart-stream.ts";

type Received = PartInfo & { bytes: Buffer; ended: boolean };

async function* inChunks(body: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < body.length; i += size) yield body.subarray(i, Math.min(body.length, i + size));
}

async function read(body: Uint8Array, boundary: string, chunkSize = body.length || 1, maxParts = 8): Promise<Received[]> {
  const parts: Received[] = [];
  await readMultipart(
    inChunks(body, chunkSize),
    boundary,
    (info) => {
      const part: Received = { ...info, bytes: Buffer.alloc(0), ended: false };
      parts.push(part);
      return {
        write: (c) => void (part.bytes = Buffer.concat([part.bytes, c])),
        end: () => void (part.ended = true),
      };
    },
    { maxParts },
  );
  return parts;
}

async function encoded(form: FormData): Promise<{ body: Uint8Array; boundary: string }> {
  const res = new Response(form);
  const boundary = multipartBoundary(res.headers.get("content-type") ?? undefined);
  return { body: new Uint8Array(await res.arrayBuffer()), boundary };
}

// Bytes that look like the start of a boundary line, to tempt the reader.
const tricky = Buffer.concat([Buffer.from("\r\n--\r\n-"), Buffer.alloc(3000, 7), Buffer.from("\r\n--"), Buffer.from([0, 255, 13, 10, 45, 45])]);

describe("readMultipart", () => {
  test("parts arrive byte-identical with their names, file names and types, however the body is chunked", async () => {
    const form = new FormData();
    form.append("model", new Blob([tricky], { type: "application/octet-stream" }), "model.onnx");
    form.append("metrics", new Blob(['{"accuracy": 0.9}'], { type: "application/json" }), "metrics.json");
    form.append("empty", new Blob([]), "empty.bin");
    form.append("note", "plain field");
    const { body, boundary } = await encoded(form);
    for (const size of [1, 2, 3, 7, 64, 1000, body.length]) {
      const parts = await read(body, boundary, size);
      expect(parts.map((p) => [p.name, p.filename, p.bytes.length, p.ended])).toEqual([
        ["model", "model.onnx", tricky.length, true],
        ["metrics", "metrics.json", 17, true],
        ["empty", "empty.bin", 0, true],
        ["note", undefined, 11, true],
      ]);
      expect(parts[0]!.bytes.equals(tricky)).toBe(true);
      expect(parts[0]!.contentType).toBe("application/octet-stream");
      expect(parts[1]!.bytes.toString()).toBe('{"accuracy": 0.9}');
      expect(parts[3]!.bytes.toString()).toBe("plain field");
    }
  });

  test("a preamble, transport padding after a boundary, quoted names with escapes, and an epilogue are read as RFC 2046 allows", async () => {
    const body = Buffer.from(
      'preamble text\r\n--XyZ  \t\r\ncontent-disposition: form-data; name="a\\"b"; filename=plain.txt\r\nX-Other: y\r\n\r\nhello\r\n--XyZ--\r\nepilogue',
    );
    const parts = await read(body, "XyZ", 5);
    expect(parts).toEqual([{ name: 'a"b', filename: "plain.txt", bytes: Buffer.from("hello"), ended: true }]);
  });

  test("an empty body with only the closing boundary has no parts", async () => {
    expect(await read(Buffer.from("--b--\r\n"), "b")).toEqual([]);
  });

  const bad: [string, string, string][] = [
    ["no closing boundary", '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nabc', "ended inside a part"],
    ["no boundary at all", "just some bytes", "ended before the closing boundary"],
    ["a part without headers", "--b\r\n\r\nabc\r\n--b--", "has no headers"],
    ["a part without a name", "--b\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--b--", "has no name"],
    ["a part that is not form-data", '--b\r\nContent-Disposition: attachment; name="x"\r\n\r\nabc\r\n--b--', "no Content-Disposition: form-data"],
    ["a header line without a colon", '--b\r\nContent-Disposition: form-data; name="x"\r\nnonsense\r\n\r\nabc\r\n--b--', 'not "Name: value"'],
    ["a boundary followed by junk", '--bjunk\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n--b--', "does not end with CRLF"],
    ["headers that never end", `--b\r\nContent-Disposition: form-data; name="x"\r\nX: ${"a".repeat(MAX_PART_HEADER_BYTES)}`, "headers are longer"],
  ];
  for (const [what, text, words] of bad)
    test(`malformed: ${what} → BadRequestError`, async () => {
      for (const size of [1, 4096]) {
        const err = await read(Buffer.from(text), "b", size).catch((e) => e);
        expect(err).toBeInstanceOf(BadRequestError);
        expect(err.message).toContain("malformed multipart body");
        expect(err.message).toContain(words);
      }
    });

  test("more parts than allowed → BadRequestError before the extra part's sink is asked for", async () => {
    const form = new FormData();
    for (let i = 0; i < 4; i++) form.append(`p${i}`, "x");
    const { body, boundary } = await encoded(form);
    const err = await read(body, boundary, 10, 3).catch((e) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain("more than 3 parts");
  });

  test("a sink's error stops the read and propagates", async () => {
    const form = new FormData();
    form.append("a", "x".repeat(1000));
    const { body, boundary } = await encoded(form);
    const boom = new Error("disk full");
    const err = await readMultipart(
      inChunks(body, 100),
      boundary,
      () => ({
        write: () => Promise.reject(boom),
        end: () => undefined,
      }),
      { maxParts: 4 },
    ).catch((e) => e);
    expect(err).toBe(boom);
  });
});

describe("multipartBoundary", () => {
  test("reads a plain or quoted boundary, with the type in any case", () => {
    expect(multipartBoundary("multipart/form-data; boundary=abc123")).toBe("abc123");
    expect(multipartBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b;c"')).toBe("a b;c");
  });
  test("another media type (or none) → 415; no or an overlong boundary → 400", () => {
    for (const ct of [undefined, "", "application/json", "multipart/mixed; boundary=x", "text/plain"]) {
      const err = (() => {
        try {
          multipartBoundary(ct);
        } catch (e) {
          return e;
        }
      })() as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.status).toBe(415);
    }
    expect(() => multipartBoundary("multipart/form-data")).toThrow(BadRequestError);
    expect(() => multipartBoundary("multipart/form-data; boundary=")).toThrow(BadRequestError);
    expect(() => multipartBoundary(`multipart/form-data; boundary=${"x".repeat(71)}`)).toThrow(BadRequestError);
  });
});

describe("cappedChunks", () => {
  const stream = (sizes: number[], cancelled: { n: number }) => {
    let i = 0;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < sizes.length) c.enqueue(new Uint8Array(sizes[i++]!));
        else c.close();
      },
      cancel() {
        cancelled.n++;
      },
    });
  };

  test("passes every chunk of a body within the cap", async () => {
    const cancelled = { n: 0 };
    let total = 0;
    for await (const c of cappedChunks(stream([10, 20, 30], cancelled), 60, "too big")) total += c.byteLength;
    expect(total).toBe(60);
    expect(cancelled.n).toBe(0);
  });

  test("throws PayloadTooLargeError as soon as the body passes the cap, and cancels the rest", async () => {
    const cancelled = { n: 0 };
    const seen: number[] = [];
    const err = await (async () => {
      for await (const c of cappedChunks(stream([10, 20, 30, 40], cancelled), 59, "over MAX_X")) seen.push(c.byteLength);
    })().catch((e) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err.message).toBe("over MAX_X");
    expect(err.details).toEqual({ max_bytes: 59 });
    expect(seen).toEqual([10, 20]);
    expect(cancelled.n).toBe(1);
  });

  test("a body that breaks off (the sender went away) → BadRequestError, not an unexplained failure", async () => {
    let sent = false;
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          c.enqueue(new Uint8Array(5));
        } else c.error(new DOMException("The connection was closed.", "AbortError"));
      },
    });
    const err = await (async () => {
      for await (const _ of cappedChunks(broken, 100, "x"));
    })().catch((e) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toBe("the request body could not be read to its end (The connection was closed.)");
  });

  test("a consumer that stops early cancels the body", async () => {
    const cancelled = { n: 0 };
    for await (const _ of cappedChunks(stream([1, 1, 1], cancelled), 100, "x")) break;
    expect(cancelled.n).toBe(1);
  });
});
