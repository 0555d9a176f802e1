import { beforeAll, describe, expect, test } from "bun:test";
import { deployVersion, makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";
import { FOREIGN_SESSION, TEST_ADMIN_TOKEN, makeTestApp, SIGNED_IN } from "../testing/test-app.ts";
import { PAGE_REQUEST_HEADER, PAGE_REQUEST_VALUE } from "./predict-access.ts";

const PREDICT_TOKEN = "predict-token-0123456789abcdef";
let f: ServingFixtures;
let closed: ReturnType<typeof makeTestApp>;
let open: ReturnType<typeof makeTestApp>;
let proxied: ReturnType<typeof makeTestApp>;

beforeAll(async () => {
  f = await makeServingFixtures();
  closed = makeTestApp({ PREDICT_TOKEN });
  open = makeTestApp();
  proxied = makeTestApp({ PREDICT_TOKEN, PUBLIC_URL: "https://mlops.example.com" });
  for (const t of [closed, open, proxied]) await deployVersion(t.deps, "iris", f.iris.onnxPath);
}, 90_000);

const row = () => f.iris.expected.rows[0]!;
// Every serving route, each with a request that succeeds given access.
const guarded: [string, string, () => RequestInit | undefined][] = [
  ["native predict", "/models/iris/predict", () => ({ method: "POST", body: JSON.stringify({ inputs: [row()] }) })],
  ["pinned version predict", "/models/iris/versions/1/predict", () => ({ method: "POST", body: JSON.stringify({ inputs: [row()] }) })],
  [
    "MLflow invocations",
    "/models/iris/invocations",
    () => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs: [row()] }) }),
  ],
  ["OIP server metadata", "/v2", () => undefined],
  ["OIP model metadata", "/v2/models/iris", () => undefined],
  ["OIP version metadata", "/v2/models/iris/versions/1", () => undefined],
  ["OIP model ready", "/v2/models/iris/ready", () => undefined],
  [
    "OIP infer",
    "/v2/models/iris/infer",
    () => ({ method: "POST", body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: row() }] }) }),
  ],
  ["Prometheus metrics", "/metrics", () => undefined],
];
const probes = ["/health", "/v2/health/live", "/v2/health/ready"];

function call(t: ReturnType<typeof makeTestApp>, path: string, init: RequestInit | undefined, authorization?: string) {
  const headers = { ...((init?.headers as Record<string, string>) ?? {}), ...(authorization ? { Authorization: authorization } : {}) };
  return t.app.request(path, { ...init, headers });
}

describe("PREDICT_TOKEN set", () => {
  for (const [name, path, init] of guarded) {
    test(`${name} (${path}): 401 JSON without it or with a wrong one; 200 with it or with the admin token`, async () => {
      for (const auth of [undefined, "Bearer wrong-token-0123456789", `Basic ${PREDICT_TOKEN}`, `Bearer ${PREDICT_TOKEN.slice(0, -1)}`]) {
        const res = await call(closed, path, init(), auth);
        expect({ auth, status: res.status }).toEqual({ auth, status: 401 });
        expect(await res.json()).toEqual({ error: "unauthorized" });
      }
      for (const token of [PREDICT_TOKEN, TEST_ADMIN_TOKEN]) {
        const res = await call(closed, path, init(), `Bearer ${token}`);
        expect({ token, status: res.status }).toEqual({ token, status: 200 });
      }
    });
  }

  test("health probes stay open", async () => {
    for (const path of probes) expect((await closed.app.request(path)).status).toBe(200);
  });

  test("the predict token opens neither the JSON API nor the pages", async () => {
    expect((await call(closed, "/api/models", undefined, `Bearer ${PREDICT_TOKEN}`)).status).toBe(401);
    const page = await call(closed, "/models/iris", undefined, `Bearer ${PREDICT_TOKEN}`);
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toStartWith("/login");
  });

  test("the model's page still takes a page session, without the predict token", async () => {
    const res = await closed.app.request("/models/iris", { headers: SIGNED_IN });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("iris");
  });

  test("an unauthorized prediction is refused before its body is read", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
        if (pulled > 100) controller.close();
      },
    });
    const res = await closed.app.request("/models/iris/predict", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(401);
    expect(pulled).toBeLessThanOrEqual(2);
  });
});

describe("PREDICT_TOKEN set: the signed-in model page's Try it", () => {
  const page = { [PAGE_REQUEST_HEADER]: PAGE_REQUEST_VALUE };
  const predictAs = (headers: Record<string, string>, t = closed) =>
    t.app.request("/models/iris/predict", { method: "POST", headers, body: JSON.stringify({ inputs: [row()] }) });

  test("the session cookie with the page's header, from this server, predicts without a token", async () => {
    const extras: Record<string, string>[] = [{}, { Origin: "http://localhost" }, { "Sec-Fetch-Site": "same-origin", Origin: "http://localhost" }];
    for (const extra of extras) {
      const res = await predictAs({ ...SIGNED_IN, ...page, ...extra });
      expect({ extra, status: res.status }).toEqual({ extra, status: 200 });
      expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual([f.iris.expected.labels[0]]);
    }
    // Behind a proxy the browser names PUBLIC_URL's origin, not the Host the server sees.
    expect((await predictAs({ ...SIGNED_IN, ...page, Origin: "https://mlops.example.com" }, proxied)).status).toBe(200);
  });

  test("a cookie alone, a foreign origin or site, another admin token's session, or the header alone is 401", async () => {
    for (const [what, headers] of [
      ["cookie without the page header", { ...SIGNED_IN }],
      ["the header with another value", { ...SIGNED_IN, [PAGE_REQUEST_HEADER]: "1" }],
      ["a foreign Origin", { ...SIGNED_IN, ...page, Origin: "https://evil.example" }],
      ["an opaque Origin", { ...SIGNED_IN, ...page, Origin: "null" }],
      ["a cross-site request", { ...SIGNED_IN, ...page, "Sec-Fetch-Site": "cross-site" }],
      ["a same-site (other subdomain) request", { ...SIGNED_IN, ...page, "Sec-Fetch-Site": "same-site" }],
      ["a session of another admin token", { ...FOREIGN_SESSION, ...page }],
      ["the header without a session", { ...page }],
      ["neither cookie nor token", {}],
    ] as const) {
      const res = await predictAs(headers as Record<string, string>);
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expect(await res.json()).toEqual({ error: "unauthorized" });
    }
    // PUBLIC_URL's origin is good only where it is the server's.
    expect((await predictAs({ ...SIGNED_IN, ...page, Origin: "https://mlops.example.com" })).status).toBe(401);
  });
});

describe("PREDICT_TOKEN unset", () => {
  for (const [name, path, init] of guarded) {
    test(`${name} (${path}) is open`, async () => {
      expect((await call(open, path, init())).status).toBe(200);
    });
  }
  test("health probes are open", async () => {
    for (const path of probes) expect((await open.app.request(path)).status).toBe(200);
  });
});
