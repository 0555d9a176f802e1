import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RepoStore } from "../repos/repo-store.ts";
import { DEFAULT_MAX_BODY_BYTES } from "./body-limit.ts";
import { deployVersion, makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";
import { TEST_ADMIN_TOKEN, makeTestApp, SIGNED_IN } from "../testing/test-app.ts";

// Each route family that reads a body, with the cap it must keep: over a real socket, a declared Content-Length over the
// cap is refused before the body is read, and a chunked body is refused once it passes the cap (the sender is cut off).
const PREDICT_MAX = 64 * 1024;
let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  f = await makeServingFixtures();
  t = makeTestApp({ MAX_REQUEST_BYTES: String(PREDICT_MAX) });
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch, maxRequestBodySize: 1024 ** 3 });
  base = `http://127.0.0.1:${server.port}`;
}, 90_000);
afterAll(() => server?.stop(true));

const admin = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const page = { ...SIGNED_IN, "HX-Request": "true" };
const form = { "Content-Type": "application/x-www-form-urlencoded" };
const json = { "Content-Type": "application/json" };

type Family = { name: string; path: string; headers: Record<string, string>; max: number; small: () => string };
const families: Family[] = [
  {
    name: "JSON API",
    path: "/api/repos",
    headers: { ...admin, ...json },
    max: DEFAULT_MAX_BODY_BYTES,
    small: () => JSON.stringify({ full_name: "acme/small" }),
  },
  { name: "login form", path: "/login", headers: form, max: DEFAULT_MAX_BODY_BYTES, small: () => "token=nope" },
  { name: "page form", path: "/repos", headers: { ...page, ...form }, max: DEFAULT_MAX_BODY_BYTES, small: () => "full_name=acme%2Fpage" },
  { name: "native predict", path: "/models/iris/predict", headers: json, max: PREDICT_MAX, small: () => JSON.stringify({ inputs: f.iris.expected.rows }) },
  {
    name: "MLflow invocations",
    path: "/models/iris/invocations",
    headers: json,
    max: PREDICT_MAX,
    small: () => JSON.stringify({ inputs: f.iris.expected.rows }),
  },
  {
    name: "OIP infer",
    path: "/v2/models/iris/infer",
    headers: json,
    max: PREDICT_MAX,
    small: () => JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: f.iris.expected.rows[0] }] }),
  },
];

/** A body of `total` bytes (JSON-ish spaces) streamed in 64 KB chunks; `sent()` says how much the server pulled. */
function spaces(total: number) {
  const chunk = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  return { body, sent: () => sent };
}

/** Send `head` over a fresh socket and collect what comes back until the first response's headers and some body arrive. */
async function rawExchange(head: string): Promise<string> {
  let text = "";
  const { promise, resolve } = Promise.withResolvers<string>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: server.port!,
    socket: {
      data(_s, chunk) {
        text += new TextDecoder().decode(chunk);
        if (text.includes("larger than")) resolve(text);
      },
      close() {
        resolve(text);
      },
    },
  });
  socket.write(head);
  const answer = await promise;
  socket.end();
  return answer;
}

describe("every body is capped before it is read", () => {
  for (const fam of families) {
    test(`${fam.name}: a declared Content-Length over ${fam.max} bytes → 413 from the header, before any of the body is sent`, async () => {
      const before = new RepoStore(t.db).count();
      // The request declares a body it never sends: an answer can only come from the header.
      const head = [
        `POST ${fam.path} HTTP/1.1`,
        `Host: 127.0.0.1`,
        ...Object.entries(fam.headers).map(([k, v]) => `${k}: ${v}`),
        `Content-Length: ${fam.max + 1}`,
        "",
        "",
      ].join("\r\n");
      const answer = await rawExchange(head);
      expect(answer).toStartWith("HTTP/1.1 413");
      expect(answer).toContain(`larger than ${fam.max} bytes`);
      expect(new RepoStore(t.db).count()).toBe(before);
    });

    test(`${fam.name}: a chunked body is refused once it passes ${fam.max} bytes, not read to its end`, async () => {
      const before = new RepoStore(t.db).count();
      // Far more than socket buffers hold (a few MB on loopback), so a server reading to the end would be seen.
      const total = Math.max(fam.max * 40, 64 * 1024 * 1024);
      const stream = spaces(total);
      const res = await fetch(base + fam.path, {
        method: "POST",
        headers: { ...fam.headers, Accept: "application/json" },
        body: stream.body,
        duplex: "half",
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.text()).toContain(`larger than ${fam.max} bytes`);
      expect(stream.sent()).toBeLessThan(total);
      expect(new RepoStore(t.db).count()).toBe(before);
    });

    test(`${fam.name}: a chunked body within the cap is read as usual`, async () => {
      const text = new TextEncoder().encode(fam.small());
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(text.subarray(0, 5));
          controller.enqueue(text.subarray(5));
          controller.close();
        },
      });
      const res = await fetch(base + fam.path, {
        method: "POST",
        headers: { ...fam.headers, Accept: "application/json" },
        body,
        duplex: "half",
      } as RequestInit);
      expect(res.status).not.toBe(413);
      expect(res.status).toBeLessThan(500);
      if (fam.name === "login form") expect(res.status).toBe(401);
      else expect(res.status).toBeLessThan(300);
    });
  }
});
