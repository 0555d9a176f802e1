// A primary that stops answering without closing its connection (SIGSTOP: the socket stays open, no byte comes) is
// counted dead once the stream has been silent longer than the primary's ping interval; the replica keeps serving
// and follows again when it wakes, the next change included.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "../testing/eventually.ts";
import { startTestReplica, storeOnPrimary, type TestReplica } from "../testing/replica-support.ts";
import { type ServerProcess, spawnServerProcess } from "../testing/server-process.ts";
import { makeTestModel } from "../testing/test-models.ts";

let primary: ServerProcess | undefined;
let replica: TestReplica | undefined;
afterAll(async () => {
  await replica?.stop();
  await primary?.kill();
});

// Above the primary's 10 s ping, as the default 30 s is above it: a quiet stream is not a dead one.
const IDLE_MS = 12_000;

test("a silent primary is counted dead after the idle time; serving goes on; the replica follows again when it wakes", async () => {
  const model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-silent-model-")));
  const dir = mkdtempSync(join(tmpdir(), "mlops-silent-primary-"));
  primary = await spawnServerProcess(dir);
  const made = await primary.api("/api/replica-tokens", { method: "POST", body: "{}" });
  const { token } = (await made.json()) as { token: string };
  const v = await storeOnPrimary(dir, "iris", model.onnxPath);
  expect((await primary.api("/api/models/iris/deploy", { method: "POST", body: JSON.stringify({ version: v }) })).status).toBe(200);
  replica = await startTestReplica(primary.base, token, { client: { idleMs: IDLE_MS, backoffMs: { first: 100, max: 500 } } });
  const r = replica;
  const health = async () => (await (await fetch(`${r.base}/health`)).json()) as { status: string; primary: { reachable: boolean; error?: string } };
  expect((await health()).primary.reachable).toBe(true);

  primary.proc.kill("SIGSTOP");
  try {
    const down = await eventually(async () => ((await health()).primary.reachable ? undefined : await health()), {
      what: "the replica to count the silent primary dead",
      timeoutMs: IDLE_MS + 10_000,
      everyMs: 200,
    });
    expect(down.primary.error).toBe(`no byte from the primary for ${IDLE_MS / 1000} s`);
    expect(down.status).toBe("ok");
    const res = await fetch(`${r.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: model.expected.rows }) });
    expect(((await res.json()) as { predictions: unknown }).predictions).toEqual(model.expected.labels);
  } finally {
    primary.proc.kill("SIGCONT");
  }
  await eventually(async () => (await health()).primary.reachable, { what: "the replica to follow the woken primary", timeoutMs: 20_000 });
  // The reconnect brought the state it already served (nothing to do); the next change is followed all the same.
  expect((await primary.api("/api/models/iris/undeploy", { method: "POST" })).status).toBe(200);
  await eventually(
    async () => (await fetch(`${r.base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: model.expected.rows }) })).status === 404,
    {
      what: "the replica to follow the undeploy after the reconnect",
      timeoutMs: 20_000,
    },
  );
}, 90_000);
