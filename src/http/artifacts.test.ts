// POST /api/pipelines/{id}/artifacts against real servers on real SQLite files: a running pipeline's upload token
// stores the model, metrics and executed notebook where register reads them; every other credential, an ended or
// queued pipeline, a malformed or oversized body is refused with nothing written (no temp file either) and what was
// stored before left as it was; a body far bigger than memory would allow streams to disk.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { hashToken } from "../lib/tokens.ts";
import { UPLOAD_REFUSED } from "../pipeline/artifact-upload.ts";
import { notebookOutputs } from "../pipeline/notebook-outputs.ts";
import { modelFormat, readMetrics } from "../pipeline/register-phase.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";
import { openWorkerSession } from "../serving/worker-session.ts";
import { ADMIN_TOKEN, signIn, startTestServer, type TestServer } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { tinyOnnxBase64 } from "../testing/pipeline-fixtures.ts";

const SMALL_CAP = 1024 * 1024;
const MB = 1024 * 1024;
let server: TestServer;
let small: TestServer;
let model: Buffer;
const metrics = Buffer.from(JSON.stringify({ accuracy: 0.93, f1: 0.9 }));
const executed = Buffer.from(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] }));

beforeAll(async () => {
  model = Buffer.from(await tinyOnnxBase64(), "base64");
  server = await startTestServer();
  small = await startTestServer({ MAX_ARTIFACT_BYTES: String(SMALL_CAP) });
});
afterAll(async () => {
  await server?.stop();
  await small?.stop();
});

/** Every upload token this file was given, to look for in the database files at the end. */
const issued: string[] = [];

/** A pipeline row in `status` (no job: nothing runs it) with an upload token. */
function pipeline(s: TestServer, status: "running" | "queued" = "running"): { id: number; token: string; dir: string } {
  const p = s.pipelineStore.create({ repoId: null, trigger: "push", ref: "refs/heads/main", commitSha: "c".repeat(40), notebookPath: "train.ipynb" });
  if (status === "running") s.pipelineStore.markRunning(p.id);
  const token = s.uploadTokens.issue(p.id);
  issued.push(token);
  return { id: p.id, token, dir: pipelineDir(s.dataDir, p.id) };
}

function form(parts: Record<string, Uint8Array | Blob>): FormData {
  const f = new FormData();
  for (const [name, bytes] of Object.entries(parts))
    f.append(name, bytes instanceof Blob ? bytes : new Blob([bytes as Uint8Array<ArrayBuffer>]), `${name}.bin`);
  return f;
}

function upload(s: TestServer, id: number | string, body: BodyInit, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${s.base}/api/pipelines/${id}/artifacts`, { method: "POST", body, headers, signal, duplex: "half" } as RequestInit);
}
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/** Every file under `dir` (relative paths), temp files included; [] when it does not exist. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => relative(dir, join(dir, f)))
    .sort();
}

/** A multipart body streamed in chunks (no Content-Length): `parts` are [name, total bytes, chunk byte]. */
function streamedForm(parts: [string, number][], boundary: string, onChunk?: (sent: number) => Promise<void> | void): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MB).fill(42);
  const plan: (Uint8Array | number)[] = [];
  for (const [name, size] of parts) {
    plan.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.bin"\r\n\r\n`));
    plan.push(size);
    plan.push(Buffer.from("\r\n"));
  }
  plan.push(Buffer.from(`--${boundary}--\r\n`));
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = plan[0];
      if (next === undefined) return c.close();
      if (typeof next === "number") {
        const n = Math.min(next, chunk.length);
        c.enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
        sent += n;
        if (next - n > 0) plan[0] = next - n;
        else plan.shift();
        await onChunk?.(sent);
      } else c.enqueue(plan.shift() as Uint8Array);
    },
  });
}
const multipart = (boundary: string) => ({ "Content-Type": `multipart/form-data; boundary=${boundary}` });

describe("POST /api/pipelines/{id}/artifacts", () => {
  test("a running pipeline's token stores all three parts byte-identical where register reads them, and register can read them", async () => {
    const p = pipeline(server);
    const res = await upload(server, p.id, form({ model, metrics, notebook: executed }), bearer(p.token));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: { model: model.length, metrics: metrics.length, notebook: executed.length } });

    const out = notebookOutputs(p.dir);
    expect(readFileSync(out.model).equals(model)).toBe(true);
    expect(readFileSync(out.metrics).equals(metrics)).toBe(true);
    expect(readFileSync(out.executed).equals(executed)).toBe(true);
    // Only the three files: no temp file is left beside them.
    expect(filesUnder(p.dir)).toEqual(["executed.ipynb", "output/metrics.json", "output/model"]);

    // What register does with them.
    const logged: string[] = [];
    expect(readMetrics(out.metrics, (l) => logged.push(l), p.dir)).toEqual({ accuracy: 0.93, f1: 0.9 });
    expect(logged).toEqual([]);
    expect(modelFormat(out.model)).toBe("onnx");
    const session = await openWorkerSession(out.model);
    expect(session.signature.inputs.length).toBeGreaterThan(0);
    await session.release();
  });

  test("a later upload replaces what an earlier one stored, part by part", async () => {
    const p = pipeline(server);
    expect((await upload(server, p.id, form({ model, metrics }), bearer(p.token))).status).toBe(200);
    const newer = Buffer.from(JSON.stringify({ accuracy: 0.97 }));
    const res = await upload(server, p.id, form({ metrics: newer }), bearer(p.token));
    expect(await res.json()).toEqual({ received: { metrics: newer.length } });
    const out = notebookOutputs(p.dir);
    expect(readFileSync(out.metrics).equals(newer)).toBe(true);
    expect(readFileSync(out.model).equals(model)).toBe(true);
    expect(filesUnder(p.dir)).toEqual(["output/metrics.json", "output/model"]);
  });

  describe("refused credentials: 401 with the same words, nothing written", () => {
    const cases: [string, (s: TestServer) => Promise<{ id: number | string; dir: string; headers: Record<string, string> }>][] = [
      ["no Authorization header", async (s) => ({ ...pipeline(s), headers: {} })],
      ["a wrong token", async (s) => ({ ...pipeline(s), headers: bearer("x".repeat(43)) })],
      [
        "another running pipeline's token",
        async (s) => {
          const other = pipeline(s);
          return { ...pipeline(s), headers: bearer(other.token) };
        },
      ],
      ["the admin token", async (s) => ({ ...pipeline(s), headers: bearer(ADMIN_TOKEN) })],
      ["a signed-in page session", async (s) => ({ ...pipeline(s), headers: { Cookie: await signIn(s.base) } })],
      ["a page session and the admin token together", async (s) => ({ ...pipeline(s), headers: { Cookie: await signIn(s.base), ...bearer(ADMIN_TOKEN) } })],
      [
        "its token after the pipeline ended (cancelled through the API)",
        async (s) => {
          const p = pipeline(s);
          const cancel = await s.api(`/api/pipelines/${p.id}/cancel`, { method: "POST" });
          expect(cancel.status).toBe(200);
          expect(s.pipelineStore.get(p.id).status).toBe("cancelled");
          return { ...p, headers: bearer(p.token) };
        },
      ],
      [
        "its token after revoke",
        async (s) => {
          const p = pipeline(s);
          s.uploadTokens.revoke(p.id);
          return { ...p, headers: bearer(p.token) };
        },
      ],
      [
        "its previous token after a new one was issued",
        async (s) => {
          const p = pipeline(s);
          s.uploadTokens.issue(p.id);
          return { ...p, headers: bearer(p.token) };
        },
      ],
      ["a queued pipeline's token", async (s) => withToken(pipeline(s, "queued"))],
      ["a pipeline id that does not exist", async (s) => ({ id: 987654, dir: pipelineDir(s.dataDir, 987654), headers: bearer(pipeline(s).token) })],
      ["an id that is not a number", async (s) => ({ id: "latest", dir: pipelineDir(s.dataDir, 0), headers: bearer(pipeline(s).token) })],
    ];
    for (const [what, make] of cases)
      test(what, async () => {
        const c = await make(server);
        const res = await upload(server, c.id, form({ model, metrics, notebook: executed }), c.headers);
        expect(res.status).toBe(401);
        expect(await res.json()).toEqual({ error: UPLOAD_REFUSED });
        expect(filesUnder(c.dir)).toEqual([]);
      });
  });

  test("a pipeline that ends while its upload streams: 401 once the body is in, nothing kept", async () => {
    const p = pipeline(server);
    const boundary = "endsMidway";
    let cancelled = false;
    const body = streamedForm([["model", 8 * MB]], boundary, async (sent) => {
      if (sent === 4 * MB && !cancelled) {
        cancelled = true;
        const res = await server.api(`/api/pipelines/${p.id}/cancel`, { method: "POST" });
        expect(res.status).toBe(200);
      }
    });
    const res = await upload(server, p.id, body, { ...bearer(p.token), ...multipart(boundary) });
    expect(cancelled).toBe(true);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: UPLOAD_REFUSED });
    expect(filesUnder(p.dir)).toEqual([]);
  });

  test("an uploader that disconnects mid-part leaves no file behind (its temp file is removed)", async () => {
    const p = pipeline(server);
    const boundary = "dropsOut";
    const aborter = new AbortController();
    const stalled = Promise.withResolvers<void>();
    // 4 MB of the model part, then the sender stalls and never finishes.
    const body = streamedForm([["model", 64 * MB]], boundary, (sent) => (sent >= 4 * MB ? stalled.promise : undefined));
    const sending = upload(server, p.id, body, { ...bearer(p.token), ...multipart(boundary) }, aborter.signal).catch((e: unknown) => e);
    const partial = await eventually(() => filesUnder(p.dir).find((f) => f.startsWith("output/.model.upload-")), { what: "the model's temp file" });
    expect(statSync(join(p.dir, partial)).size).toBeGreaterThan(0);
    aborter.abort();
    expect(await sending).toBeInstanceOf(Error);
    await eventually(() => filesUnder(p.dir).length === 0, { what: "the temp file to be removed after the uploader left" });
    stalled.resolve();
  });

  describe("bodies over MAX_ARTIFACT_BYTES: 413, nothing kept, what was stored before unchanged", () => {
    const stored = (s: TestServer) => {
      const p = pipeline(s);
      return { ...p, before: async () => expect((await upload(s, p.id, form({ metrics }), bearer(p.token))).status).toBe(200) };
    };

    test("50 MB declared by Content-Length is refused from the header", async () => {
      const p = stored(small);
      await p.before();
      const res = await upload(small, p.id, form({ model: new Blob([new Uint8Array(50 * MB)]) }), bearer(p.token));
      expect(res.status).toBe(413);
      const body = (await res.json()) as { error: string; max_bytes: number };
      expect(body.error).toContain("MAX_ARTIFACT_BYTES");
      expect(body.max_bytes).toBe(SMALL_CAP);
      expect(filesUnder(p.dir)).toEqual(["output/metrics.json"]);
      expect(readFileSync(notebookOutputs(p.dir).metrics).equals(metrics)).toBe(true);
    });

    test("50 MB chunked is cut off once it passes the cap; the part already complete and the partial one leave no file", async () => {
      const p = stored(small);
      await p.before();
      const boundary = "chunkedOverCap";
      const body = streamedForm(
        [
          ["model", 1000],
          ["notebook", 50 * MB],
        ],
        boundary,
      );
      const res = await upload(small, p.id, body, { ...bearer(p.token), ...multipart(boundary) }).catch((e: unknown) => e);
      // The server answers as soon as the cap is passed; the rest of the body is never read.
      expect(res).toBeInstanceOf(Response);
      const r = res as Response;
      expect(r.status).toBe(413);
      expect(((await r.json()) as { error: string }).error).toContain("MAX_ARTIFACT_BYTES");
      expect(filesUnder(p.dir)).toEqual(["output/metrics.json"]);
      expect(readFileSync(notebookOutputs(p.dir).metrics).equals(metrics)).toBe(true);
      // The token still works: the pipeline runs on.
      expect((await upload(small, p.id, form({ model }), bearer(p.token))).status).toBe(200);
    });
  });

  test("a 1 GB upload within the cap streams to disk: memory grows far less than the body", async () => {
    const p = pipeline(server);
    const size = 1024 * MB;
    const boundary = "bigButWithinCap";
    Bun.gc(true);
    const before = process.memoryUsage.rss();
    let peak = before;
    const body = streamedForm([["model", size]], boundary, () => {
      peak = Math.max(peak, process.memoryUsage.rss());
    });
    const res = await upload(server, p.id, body, { ...bearer(p.token), ...multipart(boundary) });
    peak = Math.max(peak, process.memoryUsage.rss());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: { model: size } });
    expect(statSync(notebookOutputs(p.dir).model).size).toBe(size);
    // Held in memory it would be 1 GB or more; streamed, what grows is the garbage of the chunks in flight (measured
    // here: under 100 MB, whatever the size).
    expect(peak - before).toBeLessThan(size / 4);
    // A gigabyte is not kept on disk for the rest of the suite.
    rmSync(notebookOutputs(p.dir).model);
  }, 120_000);

  describe("malformed bodies: 400 (415 for another media type), nothing kept, what was stored before unchanged", () => {
    const raw = (text: string) => new TextEncoder().encode(text);
    const cases: [string, () => { body: BodyInit; headers: Record<string, string> }, number, string][] = [
      ["a part name other than model, metrics, notebook", () => ({ body: form({ model, weights: metrics }), headers: {} }), 400, 'unknown part "weights"'],
      [
        "the same part twice",
        () => {
          const f = form({ model });
          f.append("model", new Blob([new Uint8Array(model)]), "again.onnx");
          return { body: f, headers: {} };
        },
        400,
        'the part "model" came twice',
      ],
      [
        "a body cut off before its closing boundary",
        () => ({ body: raw('--cut\r\nContent-Disposition: form-data; name="model"\r\n\r\nabc'), headers: multipart("cut") }),
        400,
        "malformed multipart body",
      ],
      [
        "a part without a name",
        () => ({ body: raw("--nn\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--nn--\r\n"), headers: multipart("nn") }),
        400,
        "has no name",
      ],
      ["multipart without a boundary", () => ({ body: raw("--x--"), headers: { "Content-Type": "multipart/form-data" } }), 400, "no boundary"],
      [
        "JSON instead of multipart",
        () => ({ body: JSON.stringify({ model: "x" }), headers: { "Content-Type": "application/json" } }),
        415,
        "multipart/form-data",
      ],
    ];
    for (const [what, make, status, words] of cases)
      test(what, async () => {
        const p = pipeline(server);
        expect((await upload(server, p.id, form({ metrics }), bearer(p.token))).status).toBe(200);
        const { body, headers } = make();
        const res = await upload(server, p.id, body, { ...bearer(p.token), ...headers });
        expect(res.status).toBe(status);
        expect(((await res.json()) as { error: string }).error).toContain(words);
        expect(filesUnder(p.dir)).toEqual(["output/metrics.json"]);
        expect(readFileSync(notebookOutputs(p.dir).metrics).equals(metrics)).toBe(true);
      });
  });
});

test("no upload token issued above appears in the servers' database files (only their SHA-256 is stored)", () => {
  expect(issued.length).toBeGreaterThan(20);
  const files = [server, small].flatMap((s) => ["mlops.db", "mlops.db-wal"].map((f) => join(s.dataDir, f))).filter(existsSync);
  const text = files.map((f) => readFileSync(f).toString("latin1")).join("");
  expect(text).toContain(hashToken(issued.at(-1)!));
  for (const token of issued) expect(text.includes(token)).toBe(false);
});

function withToken(p: { id: number; token: string; dir: string }) {
  return { ...p, headers: bearer(p.token) };
}
