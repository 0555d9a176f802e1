// The live log stream end to end: GET /api/pipelines/{id}/events while a real notebook prints, resumed with Last-Event-ID.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { makeRepo, sendPush, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { modelNotebook, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";
import { readEvents, type SseEvent } from "../testing/sse.ts";

const logSeqs = (events: SseEvent[]) => events.filter((e) => e.event === "log").map((e) => Number(e.id));
const TICKS = 10;

let server: TestServer;
let onnxB64: string;

beforeAll(async () => {
  [server, onnxB64] = await Promise.all([startTestServer(), tinyOnnxBase64()]);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe("live log over SSE", () => {
  test("lines stream with ids while the notebook runs, end with done, and resume after Last-Event-ID", async () => {
    const ticking = `for i in range(${TICKS}):\n    print(f"tick {i} at {time.time():.6f}", flush=True)\n    time.sleep(0.3)`;
    const repo = makeRepo({ "ticks.ipynb": modelNotebook("ticks", onnxB64, ticking) });
    const repoId = await registerRepo(server, "acme/ticks", repo.dir);
    await sendPush(server.base, { fullName: "acme/ticks", cloneUrl: repo.dir, after: repo.sha });
    const id = (await waitForCreated(server, repoId))[0]!.id;
    const events = (init?: RequestInit) => server.api(`/api/pipelines/${id}/events`, init);

    // Client A follows the whole run; client B drops after three ticks and resumes where it stopped.
    const resA = await events();
    expect(resA.status).toBe(200);
    expect(resA.headers.get("content-type")).toContain("text/event-stream");
    const followA = readEvents(resA);
    const firstB = await readEvents(await events(), (e, all) => all.filter((x) => x.event === "log" && x.data.includes("tick ")).length === 3);
    const lastB = firstB.filter((e) => e.id !== undefined).at(-1)!.id!;
    const resumedB = await readEvents(await events({ headers: { "Last-Event-ID": lastB } }));
    const a = await followA;

    // A: every line once, ids 1, 2, 3 … in order, the kernel's ticks among them, then done as the last event.
    const seqs = logSeqs(a);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const ticks = a.filter((e) => e.event === "log" && /tick \d+ at /.test(e.data));
    expect(ticks).toHaveLength(TICKS);
    expect(a.at(-1)).toMatchObject({ event: "done" });
    expect(JSON.parse(a.at(-1)!.data)).toEqual({ status: "succeeded" });
    expect(a.some((e) => e.event === "status")).toBe(true);
    // Live, not replayed at the end: the first tick arrived before the notebook printed its last one.
    const printedAt = (e: SseEvent) => Number(/tick \d+ at ([\d.]+)/.exec(JSON.parse(e.data).line)![1]) * 1000;
    expect(ticks[0]!.arrivedAt).toBeLessThan(printedAt(ticks.at(-1)!));

    // B: no gap and no duplicate across the reconnect.
    expect(logSeqs(resumedB)[0]).toBe(Number(lastB) + 1);
    expect([...logSeqs(firstB), ...logSeqs(resumedB)]).toEqual(seqs);
    expect(resumedB.at(-1)).toMatchObject({ event: "done" });

    // An ended pipeline: replay after n, then done at once.
    await waitForStatus(server, id, ["succeeded"]);
    const n = seqs[Math.floor(seqs.length / 2)]!;
    const t0 = Date.now();
    const replay = await readEvents(await events({ headers: { "Last-Event-ID": String(n) } }));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(logSeqs(replay)).toEqual(seqs.filter((s) => s > n));
    expect(replay.at(-1)).toMatchObject({ event: "done" });
    expect(replay.filter((e) => e.event === "done")).toHaveLength(1);
    const full = await readEvents(await events());
    expect(logSeqs(full)).toEqual(seqs);

    // Measured, not asserted (tests never assert on wall-clock speed): print → papermill → bus → SSE client.
    const latencies = ticks.map((e) => e.arrivedAt - printedAt(e)).sort((x, y) => x - y);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!.toFixed(1);
    console.log(`SSE latency, kernel print → client, ${latencies.length} lines: p50 ${pct(50)} ms, p95 ${pct(95)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
  }, 60_000);

  test("unknown pipeline: 404 JSON, not a stream", async () => {
    const res = await server.api("/api/pipelines/999999/events");
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain("999999");
  });
});
