// The primary's side of serving replicas over real HTTP: replica tokens (API), where they are good (only under
// /api/replication/), the deployments stream (full state per event, revisions, Last-Event-ID, pings, revocation,
// server stop) and the model files.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppDeps } from "../app.ts";
import type { DesiredState } from "../replication/desired-state.ts";
import { eventually } from "../testing/eventually.ts";
import { sseReader } from "../testing/sse.ts";
import { makeTestApp } from "../testing/test-app.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";

let model: TestModel;
let modelSha: string;
let t: ReturnType<typeof makeTestApp>;
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-replication-")));
  modelSha = createHash("sha256").update(readFileSync(model.onnxPath)).digest("hex");
  // Pings every 100 ms, so a test sees them without waiting out the real 10 s.
  t = makeTestApp({}, { replicationPingMs: 100 } as Partial<AppDeps>);
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
}, 60_000);
afterAll(() => server?.stop(true));

/** Store `onnxPath` as the next version of `name` with its real sha256, as the register phase does; returns the version. */
function storeVersion(name: string, onnxPath = model.onnxPath): number {
  const sha256 = createHash("sha256").update(readFileSync(onnxPath)).digest("hex");
  return t.deps.modelStore.register({ modelName: name, status: "registered", path: "", sha256, format: "onnx" }, (version) => {
    const dir = join(t.deps.config.dataDir, "models", name, String(version));
    mkdirSync(dir, { recursive: true });
    copyFileSync(onnxPath, join(dir, "model.onnx"));
    return join(dir, "model.onnx");
  }).version;
}

const admin = (path: string, init: RequestInit = {}) =>
  fetch(base + path, { ...init, headers: { ...t.auth, "Content-Type": "application/json", ...(init.headers as Record<string, string>) } });
const withToken = (token: string, path: string, init: RequestInit = {}) =>
  fetch(base + path, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

async function newToken(name?: string): Promise<{ id: number; name: string; token: string; created_at: string }> {
  const res = await admin("/api/replica-tokens", { method: "POST", body: JSON.stringify(name === undefined ? {} : { name }) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: number; name: string; token: string; created_at: string };
}

function openStream(token: string, lastEventId?: string) {
  const controller = new AbortController();
  const res = withToken(token, "/api/replication/deployments", { signal: controller.signal, headers: lastEventId ? { "Last-Event-ID": lastEventId } : {} });
  return { res, abort: () => controller.abort() };
}

const stateOf = (data: string) => JSON.parse(data) as DesiredState;
const currentRevision = () => t.deps.deploymentsFeed.current().revision;

describe("replica tokens API", () => {
  test("POST makes a token shown once; GET lists it without the token; DELETE revokes it (404 after)", async () => {
    const made = await newToken("replica-1");
    expect(made.name).toBe("replica-1");
    expect(made.token).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(made.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const listed = await (await admin("/api/replica-tokens")).text();
    expect(listed).not.toContain(made.token);
    const { tokens } = JSON.parse(listed) as { tokens: { id: number; name: string; created_at: string; last_used_at: string | null }[] };
    expect(tokens.find((x) => x.id === made.id)).toEqual({ id: made.id, name: "replica-1", created_at: made.created_at, last_used_at: null });
    // Only the hash is stored.
    const stored = t.db.$client.query<{ token_sha256: string }, [number]>("SELECT token_sha256 FROM replica_tokens WHERE id = ?").get(made.id)!;
    expect(stored.token_sha256).toBe(createHash("sha256").update(made.token).digest("hex"));
    expect(JSON.stringify(t.db.$client.query("SELECT * FROM replica_tokens").all())).not.toContain(made.token);

    // Using it sets last_used_at.
    expect((await withToken(made.token, "/api/replication/models/none/versions/1/model.onnx")).status).toBe(404);
    const used = ((await (await admin("/api/replica-tokens")).json()) as { tokens: { id: number; last_used_at: string | null }[] }).tokens.find(
      (x) => x.id === made.id,
    );
    expect(used?.last_used_at).toMatch(/^\d{4}-/);

    expect((await admin(`/api/replica-tokens/${made.id}`, { method: "DELETE" })).status).toBe(204);
    const after = (await (await admin("/api/replica-tokens")).json()) as { tokens: { id: number }[] };
    expect(after.tokens.some((x) => x.id === made.id)).toBe(false);
    const again = await admin(`/api/replica-tokens/${made.id}`, { method: "DELETE" });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toContain(`replica token ${made.id} does not exist`);
    // Revoked: refused at once.
    const refused = await withToken(made.token, "/api/replication/models/none/versions/1/model.onnx");
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: "unauthorized" });
  });

  test("the name is optional, with or without a body", async () => {
    const empty = await admin("/api/replica-tokens", { method: "POST" });
    expect(empty.status).toBe(201);
    expect(((await empty.json()) as { name: string }).name).toBe("");
    expect((await newToken()).name).toBe("");
  });

  test("bad bodies are 400 with a clear error and make no token", async () => {
    const before = t.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM replica_tokens").get()!.n;
    for (const [body, words] of [
      ["{not json", "must be JSON"],
      [JSON.stringify({ name: 3 }), "name"],
      [JSON.stringify({ name: "x".repeat(101) }), "at most 100"],
      [JSON.stringify({ name: "a", admin: true }), "admin"],
    ] as const) {
      const res = await admin("/api/replica-tokens", { method: "POST", body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toContain(words);
    }
    expect((await admin("/api/replica-tokens/abc", { method: "DELETE" })).status).toBe(400);
    expect(t.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM replica_tokens").get()!.n).toBe(before);
  });

  test("the token routes take the admin token only: not a replica token, not none", async () => {
    const { token } = await newToken("r");
    for (const headers of [{ Authorization: `Bearer ${token}` }, {}] as Record<string, string>[]) {
      expect((await fetch(`${base}/api/replica-tokens`, { headers })).status).toBe(401);
      expect((await fetch(`${base}/api/replica-tokens`, { method: "POST", headers, body: "{}" })).status).toBe(401);
      expect((await fetch(`${base}/api/replica-tokens/1`, { method: "DELETE", headers })).status).toBe(401);
    }
  });
});

describe("where a replica token is good", () => {
  test("refused on every other route family; accepted under /api/replication/", async () => {
    const { token } = await newToken("scoped");
    const version = storeVersion("scoped");
    await t.deps.deployer.deploy("scoped", version, { reason: "manual", actor: "test" });
    const refused: [string, string, string?][] = [
      ["GET", "/api/repos"],
      ["GET", "/api/pipelines"],
      ["GET", "/api/models"],
      ["GET", "/api/models/scoped"],
      ["POST", "/api/models/scoped/deploy", JSON.stringify({ version })],
      ["POST", "/api/models/scoped/rollback"],
      ["POST", "/api/models/scoped/undeploy"],
      ["GET", "/api/settings/webhook"],
      ["GET", "/api/deliveries"],
      ["GET", "/api/replica-tokens"],
      ["POST", "/api/replica-tokens", "{}"],
    ];
    for (const [method, path, body] of refused) {
      const res = await withToken(token, path, { method, body, headers: { "Content-Type": "application/json" } });
      expect(`${method} ${path} ${res.status}`).toBe(`${method} ${path} 401`);
    }
    // Pages: a bearer token is no session.
    for (const path of ["/", "/models", "/repos", "/pipelines"]) {
      const res = await withToken(token, path, { redirect: "manual", headers: { Accept: "text/html" } });
      expect(`${path} ${res.status}`).toBe(`${path} 303`);
      expect(res.headers.get("location")).toStartWith("/login");
    }
    // Nothing changed through the refused calls.
    expect(t.deps.modelStore.deployedVersion("scoped")).toBe(version);
    expect(t.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM deployments WHERE model_name = 'scoped'").get()!.n).toBe(1);

    expect((await withToken(token, `/api/replication/models/scoped/versions/${version}/model.onnx`)).status).toBe(200);
    const { res, abort } = openStream(token);
    expect((await res).status).toBe(200);
    abort();
  });

  test("with PREDICT_TOKEN set, a replica token does not predict", async () => {
    const p = makeTestApp({ PREDICT_TOKEN: "predict-token-0123456789" });
    const { token } = p.deps.replicaTokens.create("r");
    const res = await p.app.request("/models/any/predict", { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: "{}" });
    expect(res.status).toBe(401);
  });

  test("no token, a wrong token, another scheme: 401 JSON on both replication routes", async () => {
    const { token } = await newToken("w");
    for (const headers of [{}, { Authorization: "Bearer nope" }, { Authorization: `Basic ${token}` }, { Authorization: `Bearer ${token}x` }] as Record<
      string,
      string
    >[]) {
      for (const path of ["/api/replication/deployments", "/api/replication/models/scoped/versions/1/model.onnx"]) {
        const res = await fetch(base + path, { headers });
        expect(res.status).toBe(401);
        expect(res.headers.get("content-type")).toContain("application/json");
        expect(await res.json()).toEqual({ error: "unauthorized" });
      }
    }
  });

  test("the admin token is accepted under /api/replication/ too", async () => {
    const res = await admin("/api/replication/models/scoped/versions/1/model.onnx");
    expect(res.status).toBe(200);
  });
});

describe("GET /api/replication/deployments", () => {
  test("state on connect; a new event with a higher id after a deploy, a rollback and an undeploy", async () => {
    const { token } = await newToken("stream");
    const v1 = storeVersion("iris");
    const v2 = storeVersion("iris");
    await t.deps.deployer.deploy("iris", v1, { reason: "manual", actor: "test" });
    const { res, abort } = openStream(token);
    const response = await res;
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const events = sseReader(response);
    const first = (await events.next())!;
    expect(first.event).toBe("state");
    const state = stateOf(first.data);
    expect(first.id).toBe(String(state.revision));
    expect(state.revision).toBe(currentRevision());
    expect(state.models.iris).toEqual({ version: v1, sha256: modelSha, size: readFileSync(model.onnxPath).length });

    let last = state.revision;
    const expectNext = async (check: (s: DesiredState) => void) => {
      const e = (await events.next())!;
      const s = stateOf(e.data);
      expect(e.event).toBe("state");
      expect(Number(e.id)).toBe(s.revision);
      expect(s.revision).toBeGreaterThan(last);
      last = s.revision;
      check(s);
    };
    expect((await admin("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version: v2 }) })).status).toBe(200);
    await expectNext((s) => expect(s.models.iris?.version).toBe(v2));
    expect((await admin("/api/models/iris/rollback", { method: "POST" })).status).toBe(200);
    await expectNext((s) => expect(s.models.iris?.version).toBe(v1));
    expect((await admin("/api/models/iris/undeploy", { method: "POST" })).status).toBe(200);
    await expectNext((s) => expect(s.models.iris).toBeUndefined());
    // Every other deployed model is in each event: the full state.
    expect(stateOf(JSON.stringify(t.deps.deploymentsFeed.current())).models.scoped).toBeDefined();
    abort();
  });

  test("a failed deploy sends nothing: the next event is the next real change", async () => {
    const { token } = await newToken("failed");
    const broken = join(mkdtempSync(join(tmpdir(), "mlops-broken-")), "model.onnx");
    await Bun.write(broken, "not an onnx model");
    const bad = storeVersion("broken", broken);
    const { res, abort } = openStream(token, String(currentRevision()));
    const events = sseReader(await res);
    expect((await admin("/api/models/broken/deploy", { method: "POST", body: JSON.stringify({ version: bad }) })).status).not.toBe(200);
    const good = storeVersion("broken");
    const before = currentRevision();
    expect((await admin("/api/models/broken/deploy", { method: "POST", body: JSON.stringify({ version: good }) })).status).toBe(200);
    const e = (await events.next())!;
    expect(Number(e.id)).toBeGreaterThan(before);
    expect(stateOf(e.data).models.broken?.version).toBe(good);
    abort();
  });

  test("Last-Event-ID at the current revision gets nothing until the next change; an older one gets the state at once", async () => {
    const { token } = await newToken("resume");
    const v = storeVersion("resume");
    await t.deps.deployer.deploy("resume", v, { reason: "manual", actor: "test" });
    const current = currentRevision();

    const older = openStream(token, String(current - 1));
    const olderEvents = sseReader(await older.res);
    const got = (await olderEvents.next())!;
    expect(got.id).toBe(String(current));
    older.abort();

    const resumed = openStream(token, String(current));
    const events = sseReader(await resumed.res);
    // Reading on: only pings come (the stream is open and quiet) until the change below.
    const pending = events.next();
    await eventually(() => events.comments() >= 2 || undefined, { what: "pings of a resumed stream" });
    await t.deps.deployer.undeploy("resume", { actor: "test" });
    const next = (await pending)!;
    expect(Number(next.id)).toBe(current + 1);
    expect(stateOf(next.data).models.resume).toBeUndefined();
    resumed.abort();
  });

  test("a quiet stream sends `: ping` comments", async () => {
    const { token } = await newToken("quiet");
    const { res, abort } = openStream(token);
    const events = sseReader(await res);
    await events.next();
    const afterState = events.comments();
    // next() reads on past the pings; the probe looks at the count it keeps.
    const pending = events.next();
    await eventually(() => events.comments() >= afterState + 2 || undefined, { what: "two pings on a quiet stream" });
    abort();
    await pending.catch(() => undefined);
  });

  test("revoking the token closes its open stream at once; a token deleted elsewhere within 5 s", async () => {
    const a = await newToken("revoked-here");
    const b = await newToken("deleted-elsewhere");
    const other = await newToken("still-live");
    const streams = [a, b, other].map((x) => openStream(x.token));
    const readers = await Promise.all(streams.map(async (s) => sseReader(await s.res)));
    for (const r of readers) expect((await r.next())?.event).toBe("state");

    const revokedAt = performance.now();
    expect((await admin(`/api/replica-tokens/${a.id}`, { method: "DELETE" })).status).toBe(204);
    expect(await readers[0]!.next()).toBeUndefined();
    expect(performance.now() - revokedAt).toBeLessThan(5_000);

    // As another process would (e.g. an edit of the database): the stream notices within 5 s.
    const deletedAt = performance.now();
    t.db.$client.query("DELETE FROM replica_tokens WHERE id = ?").run(b.id);
    expect(await readers[1]!.next()).toBeUndefined();
    expect(performance.now() - deletedAt).toBeLessThan(5_000);

    // The other token's stream is still open and still follows.
    const v = storeVersion("after-revoke");
    await t.deps.deployer.deploy("after-revoke", v, { reason: "manual", actor: "test" });
    const e = (await readers[2]!.next())!;
    expect(stateOf(e.data).models["after-revoke"]?.version).toBe(v);
    streams[2]!.abort();
    expect((await withToken(a.token, "/api/replication/deployments")).status).toBe(401);
  });
});

describe("GET /api/replication/models/{name}/versions/{v}/model.onnx", () => {
  test("the stored file, streamed, whose bytes hash to X-Model-Sha256 and the stored sha256", async () => {
    const { token } = await newToken("files");
    const v = storeVersion("files");
    const res = await withToken(token, `/api/replication/models/files/versions/${v}/model.onnx`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
    const sha = createHash("sha256").update(bytes).digest("hex");
    expect(res.headers.get("x-model-sha256")).toBe(sha);
    expect(res.headers.get("etag")).toBe(`"${sha}"`);
    expect(t.deps.modelStore.get("files", v).sha256).toBe(sha);
    expect(sha).toBe(modelSha);
    // Any stored version, deployed or not; a cached copy answers 304.
    const again = await withToken(token, `/api/replication/models/files/versions/${v}/model.onnx`, { headers: { "If-None-Match": `"${sha}"` } });
    expect(again.status).toBe(304);
  });

  test("unknown model or version: 404 JSON; a bad version 400; a file gone from disk 404", async () => {
    const { token } = await newToken("missing");
    const v = storeVersion("gone");
    for (const [path, status, words] of [
      ["/api/replication/models/nope/versions/1/model.onnx", 404, 'model "nope" has no version 1'],
      [`/api/replication/models/gone/versions/${v + 5}/model.onnx`, 404, `has no version ${v + 5}`],
      ["/api/replication/models/gone/versions/abc/model.onnx", 400, "positive whole number"],
      ["/api/replication/models/gone/versions/0/model.onnx", 400, "positive whole number"],
    ] as const) {
      const res = await withToken(token, path);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toContain(words);
    }
    rmSync(t.deps.modelStore.get("gone", v).path);
    const res = await withToken(token, `/api/replication/models/gone/versions/${v}/model.onnx`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain("missing on this server");
  });
});
