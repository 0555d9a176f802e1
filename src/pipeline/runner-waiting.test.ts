// A pipeline whose runner cannot take it (RUNNER_BACKEND=ray with nothing answering at RAY_ADDRESS) waits in the
// queue, saying why in its API answer, its page and its log, and can still be cancelled. That it runs once the
// cluster answers is in src/runner/ray-faults.raytest.ts (a real cluster needs its own network namespace).
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { exampleNotebook, makeRepo, sendPush, signIn, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { registerRepo } from "../testing/pipeline-fixtures.ts";
import { freePort } from "../testing/server-process.ts";
import { runnerRetryDelayMs } from "./run-pipeline.ts";

type Detail = { id: number; status: string; waiting: { reason: string; since: string } | null; phases: { status: string }[]; error: string | null };

let server: TestServer;
// Nothing listens there: connections are refused at once.
const rayAddress = `http://127.0.0.1:${freePort()}`;

beforeAll(async () => {
  const port = freePort();
  server = await startTestServer({ RUNNER_BACKEND: "ray", RAY_ADDRESS: rayAddress, PUBLIC_URL: `http://127.0.0.1:${port}`, PORT: String(port) });
});

afterAll(async () => {
  await server?.stop();
});

describe("a runner that cannot take pipelines", () => {
  test("a pushed pipeline stays queued with the reason, tried again with backoff, and a cancel still ends it", async () => {
    const repo = makeRepo({ "iris.ipynb": exampleNotebook("iris-onnx.ipynb") });
    const repoId = await registerRepo(server, "acme/waiting", repo.dir);
    expect((await sendPush(server.base, { fullName: "acme/waiting", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const first = await eventually(
      async () => {
        const list = ((await (await server.api(`/api/pipelines?repo=${repoId}`)).json()) as { pipelines: { id: number }[] }).pipelines;
        const p = list[0] && ((await (await server.api(`/api/pipelines/${list[0].id}`)).json()) as Detail);
        return p?.waiting ? p : undefined;
      },
      { what: "the pipeline to say it waits for Ray", timeoutMs: 30_000 },
    );
    expect(first.status).toBe("queued");
    expect(first.waiting!.reason).toStartWith(`waiting for Ray at ${rayAddress}: `);
    expect(first.phases.every((ph) => ph.status === "pending")).toBe(true);

    // Tried again (the first retry comes after 2 s; each try puts the job back with a later run_at): still waiting
    // since the first try, and said once in the log.
    const db = new Database(join(server.dataDir, "mlops.db"), { readonly: true });
    const dueAt = () => db.query<{ run_at: number }, []>("SELECT run_at FROM jobs WHERE kind = 'pipeline' AND state = 'queued'").get()?.run_at;
    const firstDue = await eventually(async () => dueAt(), { what: "the pipeline's job back in the queue", timeoutMs: 10_000 });
    await eventually(async () => (dueAt() ?? 0) > firstDue, { what: "a second try", timeoutMs: 30_000 });
    db.close();
    const log = async () => (await server.api(`/api/pipelines/${first.id}/logs`)).text();
    const again = (await (await server.api(`/api/pipelines/${first.id}`)).json()) as Detail;
    expect(again.waiting).toEqual(first.waiting);
    expect((await log()).split("\n").filter((l) => l.startsWith("waiting for Ray at"))).toHaveLength(1);

    const page = await (await fetch(`${server.base}/pipelines/${first.id}`, { headers: { Cookie: await signIn(server.base) } })).text();
    expect(page).toContain('id="waiting"');
    expect(page).toContain(`waiting for Ray at ${rayAddress}`);

    expect((await server.api(`/api/pipelines/${first.id}/cancel`, { method: "POST" })).status).toBe(200);
    const ended = await waitForStatus(server, first.id, ["cancelled"], 10_000);
    expect(ended.status).toBe("cancelled");
    expect(((await (await server.api(`/api/pipelines/${first.id}`)).json()) as Detail).waiting).toBeNull();
  }, 90_000);

  test("the wait between tries grows with the time waited, from 2 s to at most a minute", () => {
    expect([0, 1_000, 4_000, 10_000, 60_000, 600_000].map(runnerRetryDelayMs)).toEqual([2_000, 2_000, 2_000, 5_000, 30_000, 60_000]);
  });
});
