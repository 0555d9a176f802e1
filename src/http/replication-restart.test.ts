// The deployments stream on a real server: it ends when the server stops, and the revision it carries survives a
// restart on the same data dir (a replica that resumes with Last-Event-ID gets nothing new until a real change).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../db/connection.ts";
import { ModelStore } from "../models/model-store.ts";
import type { DesiredState } from "../replication/desired-state.ts";
import { ReplicaTokens } from "../replication/replica-tokens.ts";
import { startTestServer, type TestServer } from "../testing/e2e.ts";
import { sseReader } from "../testing/sse.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";

let model: TestModel;
let sha: string;
const dataDir = mkdtempSync(join(tmpdir(), "mlops-replication-restart-"));
let server: TestServer | undefined;

beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-replication-model-")));
  sha = createHash("sha256").update(readFileSync(model.onnxPath)).digest("hex");
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** Store the test model as the next version of `name` through a second connection, as a pipeline's register phase would. */
function storeVersion(name: string): number {
  const db = openDatabase(join(dataDir, "mlops.db"));
  try {
    return new ModelStore(db).register({ modelName: name, status: "registered", path: "", sha256: sha, format: "onnx" }, (version) => {
      const dir = join(dataDir, "models", name, String(version));
      mkdirSync(dir, { recursive: true });
      copyFileSync(model.onnxPath, join(dir, "model.onnx"));
      return join(dir, "model.onnx");
    }).version;
  } finally {
    db.$client.close();
  }
}

function makeToken(): string {
  const db = openDatabase(join(dataDir, "mlops.db"));
  try {
    return new ReplicaTokens(db).create("restart").token;
  } finally {
    db.$client.close();
  }
}

const stream = (s: TestServer, token: string, lastEventId?: string) =>
  fetch(`${s.base}/api/replication/deployments`, {
    headers: { Authorization: `Bearer ${token}`, ...(lastEventId && { "Last-Event-ID": lastEventId }) },
  });

describe("deployments stream on a real server", () => {
  test("ends when the server stops; the revision survives a restart on the same data dir", async () => {
    server = await startTestServer({}, dataDir);
    const token = makeToken();
    const v1 = storeVersion("iris");
    const v2 = storeVersion("iris");
    expect((await server.api("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version: v1 }) })).status).toBe(200);
    expect((await server.api("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version: v2 }) })).status).toBe(200);

    const events = sseReader(await stream(server, token));
    const before = JSON.parse((await events.next())!.data) as DesiredState;
    expect(before.models.iris?.version).toBe(v2);
    expect(before.revision).toBe(2);

    // Stopping the server ends the open stream (a replica then reconnects to the next server).
    // Before the HTTP drain's 5 s run out: the stream ends itself rather than being cut.
    const stoppingAt = performance.now();
    const stopped = server.stop();
    expect(await events.next()).toBeUndefined();
    expect(performance.now() - stoppingAt).toBeLessThan(4_000);
    await stopped;

    server = await startTestServer({}, dataDir);
    const after = sseReader(await stream(server, token));
    const restarted = (await after.next())!;
    expect(JSON.parse(restarted.data)).toEqual(before);
    expect(restarted.id).toBe(String(before.revision));
    await after.close();

    // Resumed at the current revision: the first event is the next change, with a higher revision.
    const resumed = sseReader(await stream(server, token, String(before.revision)));
    const pending = resumed.next();
    expect((await server.api("/api/models/iris/rollback", { method: "POST" })).status).toBe(200);
    const next = (await pending)!;
    expect(Number(next.id)).toBe(before.revision + 1);
    expect((JSON.parse(next.data) as DesiredState).models.iris?.version).toBe(v1);
    await resumed.close();
  }, 120_000);
});
