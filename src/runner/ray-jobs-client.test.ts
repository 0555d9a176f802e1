// The Jobs API client facing answers a real Ray never gives on cue (an endless body, a wrong shape, a proxy's 502, a
// server that never answers): a stand-in on loopback that records what it was sent. What a real cluster does is
// in ray-jobs-client.raytest.ts.
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { RayApiError, RayJobsClient, RayUnreachableError } from "./ray-jobs-client.ts";

type Seen = { method: string; path: string; headers: Headers; body: string };
const seen: Seen[] = [];
let answer: (req: Request, path: string) => Response | Promise<Response> = () => new Response("{}");

// What the stand-in does with a log tail WebSocket once it is open.
let tail: (ws: Bun.ServerWebSocket<unknown>) => void = (ws) => ws.close(1000);

const standIn = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(req, server) {
    const path = new URL(req.url).pathname;
    seen.push({ method: req.method, path, headers: req.headers, body: await req.text() });
    if (path.endsWith("/logs/tail") && server.upgrade(req)) return undefined;
    return answer(req, path);
  },
  websocket: {
    open: (ws) => tail(ws),
    message() {},
  },
});
afterAll(() => standIn.stop(true));
const address = `http://127.0.0.1:${standIn.port}`;

function client(extra: Partial<ConstructorParameters<typeof RayJobsClient>[0]> = {}) {
  seen.length = 0;
  return new RayJobsClient({ address, headers: { authorization: "Bearer proxy-token", "x-team": "ml" }, ...extra });
}

const job = (over: Record<string, unknown> = {}) =>
  Response.json({ submission_id: "j1", status: "RUNNING", message: "Job is currently running.", entrypoint: "python x.py", driver_node_id: "n1", ...over });

test("every request carries the extra headers; submit sends Ray's field names and leaves out what was not given", async () => {
  const ray = client();
  answer = () => Response.json({ job_id: null, submission_id: "mlops-3-1" });
  const id = await ray.submit({
    submissionId: "mlops-3-1",
    entrypoint: "python run.py",
    runtimeEnv: { working_dir: "gcs://_ray_pkg_abc.zip" },
    entrypointNumCpus: 1,
    entrypointMemoryBytes: 2048 * 1024 * 1024,
    entrypointResources: { trainer: 1 },
  });
  expect(id).toBe("mlops-3-1");
  expect(seen[0]!.method).toBe("POST");
  expect(seen[0]!.path).toBe("/api/jobs/");
  expect(seen[0]!.headers.get("authorization")).toBe("Bearer proxy-token");
  expect(seen[0]!.headers.get("x-team")).toBe("ml");
  expect(seen[0]!.headers.get("content-type")).toBe("application/json");
  expect(JSON.parse(seen[0]!.body)).toEqual({
    entrypoint: "python run.py",
    submission_id: "mlops-3-1",
    runtime_env: { working_dir: "gcs://_ray_pkg_abc.zip" },
    entrypoint_num_cpus: 1,
    entrypoint_memory: 2147483648,
    entrypoint_resources: { trainer: 1 },
  });

  answer = () => job();
  await ray.status("a/b?c");
  // An id cannot reach another route.
  expect(seen[1]!.path).toBe("/api/jobs/a%2Fb%3Fc");
  expect(seen[1]!.headers.get("x-team")).toBe("ml");
});

test("a package is named after the SHA-1 of its bytes, as Ray's SDK names it, and PUT only when Ray does not have it", async () => {
  const ray = client();
  const zip = new TextEncoder().encode("PK fake zip bytes");
  const sha1 = Bun.spawnSync(["python3", "-c", "import hashlib,sys; print(hashlib.sha1(sys.stdin.buffer.read()).hexdigest())"], { stdin: zip })
    .stdout.toString()
    .trim();
  expect(sha1).toBe(createHash("sha1").update(zip).digest("hex"));
  answer = (req) => (req.method === "GET" ? new Response("Package does not exist", { status: 404 }) : new Response(""));
  expect(await ray.uploadPackage(zip)).toEqual({ uri: `gcs://_ray_pkg_${sha1}.zip`, uploaded: true });
  expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([`GET /api/packages/gcs/_ray_pkg_${sha1}.zip`, `PUT /api/packages/gcs/_ray_pkg_${sha1}.zip`]);
  expect(seen[1]!.body).toBe("PK fake zip bytes");

  seen.length = 0;
  answer = () => new Response("");
  expect(await ray.uploadPackage(zip)).toEqual({ uri: `gcs://_ray_pkg_${sha1}.zip`, uploaded: false });
  expect(seen.map((s) => s.method)).toEqual(["GET"]);
});

test("a package larger than allowed is refused before anything is sent", async () => {
  const ray = client({ maxPackageBytes: 10 });
  const err = await ray.uploadPackage(new Uint8Array(11)).catch((e) => e);
  expect(err).toBeInstanceOf(RayApiError);
  expect(err.status).toBe(413);
  expect(err.message).toContain("11 bytes, more than the 10 allowed");
  expect(seen).toEqual([]);
});

test("an endless answer is cut at the limit and refused", async () => {
  const ray = client({ maxLogBytes: 64 * 1024 });
  // The stream has no end: reading it all would never return.
  answer = () =>
    new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(16 * 1024).fill(120));
        },
      }),
    );
  const err = await ray.logs("j1").catch((e) => e);
  expect(err).toBeInstanceOf(RayApiError);
  expect(err.rayMessage).toBe("the answer is more than the 65536 bytes read");

  answer = () => new Response("x".repeat(2000), { headers: { "content-length": "2000" } });
  const declared = await client({ maxResponseBytes: 1000 })
    .status("j1")
    .catch((e) => e);
  expect(declared).toBeInstanceOf(RayApiError);
  expect(declared.rayMessage).toBe("the answer is 2000 bytes, more than the 1000 read");
});

test("answers that are not what Ray's API returns are RayApiErrors, not crashes", async () => {
  const ray = client();
  answer = () => new Response("<html>login</html>");
  expect(await ray.status("j1").catch((e) => e)).toMatchObject({ name: "RayApiError", status: 200, rayMessage: "the answer is not JSON: <html>login</html>" });
  answer = () => job({ status: "EXPLODED" });
  const bad = await ray.status("j1").catch((e) => e);
  expect(bad).toBeInstanceOf(RayApiError);
  expect(bad.rayMessage).toMatch(/^the answer is not what Ray's Jobs API returns \(status: /);
  answer = () => Response.json({ stopped: "yes" });
  expect(await ray.stop("j1").catch((e) => e)).toBeInstanceOf(RayApiError);
  answer = () => Response.json([1, 2]);
  expect(await ray.logs("j1").catch((e) => e)).toBeInstanceOf(RayApiError);
  // A redirect is not followed to wherever it points.
  answer = () => new Response(null, { status: 302, headers: { location: "http://198.51.100.1/" } });
  expect(await ray.status("j1").catch((e) => e)).toMatchObject({ name: "RayApiError", status: 302 });
  expect(seen.every((s) => s.path.startsWith("/api/"))).toBe(true);
});

test("Ray's traceback comes out as its last error line; a status message keeps its lines but loses control characters and length", async () => {
  const ray = client();
  answer = () =>
    new Response(
      [
        "Traceback (most recent call last):",
        '  File "job_head.py", line 419, in submit_job',
        "RuntimeError: Request failed with status code 400: Traceback (most recent call last):",
        '  File "job_manager.py", line 553, in submit_job',
        "ValueError: Job with submission_id j1 already exists. Please use a different submission_id.",
        ".",
      ].join("\n"),
      { status: 500 },
    );
  const dup = await ray.submit({ submissionId: "j1", entrypoint: "x" }).catch((e) => e);
  expect(dup).toBeInstanceOf(RayApiError);
  expect(dup).toMatchObject({
    status: 500,
    duplicateSubmission: true,
    rayMessage: "Job with submission_id j1 already exists. Please use a different submission_id.",
    request: "POST /api/jobs/",
  });

  answer = () => new Response(`denied\u001b[31m by\r\n proxy ${"!".repeat(5000)}`, { status: 401 });
  const denied = await ray.status("j1").catch((e) => e);
  expect(denied).toMatchObject({ name: "RayApiError", status: 401, duplicateSubmission: false });
  expect(denied.rayMessage.startsWith("proxy !!!")).toBe(true);
  expect(denied.rayMessage.length).toBe(500);

  answer = () => job({ status: "FAILED", message: `Job failed.\nlast lines:\n\u0007bell\u001b[0m\n${"x".repeat(10_000)}` });
  const failed = await ray.status("j1");
  expect(failed!.message.startsWith("Job failed.\nlast lines:\n bell [0m\nxxx")).toBe(true);
  expect(failed!.message.length).toBe(4000);
});

test("a proxy's 502/503/504 and a server that never answers are RayUnreachableErrors; the caller's own abort stays an abort", async () => {
  for (const status of [502, 503, 504]) {
    answer = () => new Response("upstream connect error", { status });
    const err = await client()
      .status("j1")
      .catch((e) => e);
    expect(err).toBeInstanceOf(RayUnreachableError);
    expect(err.message).toBe(`Ray at ${address} did not answer: GET /api/jobs/j1 answered ${status}: upstream connect error`);
  }

  let release = () => {};
  const held = new Promise<void>((r) => {
    release = r;
  });
  answer = async () => {
    await held;
    return job();
  };
  const slow = await client({ timeoutMs: 200 })
    .status("j1")
    .catch((e) => e);
  expect(slow).toBeInstanceOf(RayUnreachableError);
  expect(slow.message).toBe(`Ray at ${address} did not answer: no answer to GET /api/jobs/j1 within 200 ms`);

  const abort = new AbortController();
  const pending = client({ timeoutMs: 60_000 })
    .status("j1", abort.signal)
    .catch((e) => e);
  abort.abort(new Error("pipeline cancelled"));
  const aborted = await pending;
  expect(aborted).not.toBeInstanceOf(RayUnreachableError);
  expect(aborted.message).toBe("pipeline cancelled");
  release();
});

test("an address that is not an http(s) URL is refused when the client is made", () => {
  expect(() => new RayJobsClient({ address: "ray://head:10001" })).toThrow(TypeError);
  expect(() => new RayJobsClient({ address: "not a url" })).toThrow(TypeError);
  expect(new RayJobsClient({ address: "http://head:8265/" }).address).toBe("http://head:8265");
  expect(new RayJobsClient({ address: "http://head:8265/" }).dashboardUrl("mlops-1-1")).toBe("http://head:8265/#/jobs/mlops-1-1");
});

test("followLogs sends the extra headers, passes what follows the offset, and ends incomplete on an abort or a dropped connection", async () => {
  const ray = client();
  answer = () => job();
  tail = (ws) => {
    ws.send("one\ntwo\n");
    ws.send("three\n");
    ws.close(1000);
  };
  let text = "";
  expect(await ray.followLogs("j1", (t) => (text += t), { offset: 5 })).toEqual({ offset: 14, complete: true });
  expect(text).toBe("wo\nthree\n");
  const upgrade = seen.find((s) => s.path === "/api/jobs/j1/logs/tail")!;
  expect(upgrade.headers.get("authorization")).toBe("Bearer proxy-token");
  expect(upgrade.headers.get("x-team")).toBe("ml");

  // Dropped without a normal close: incomplete, with the offset reached.
  tail = (ws) => {
    ws.send("partial\n");
    ws.terminate();
  };
  expect(await ray.followLogs("j1", () => {})).toEqual({ offset: 8, complete: false });

  // The caller stops following: incomplete.
  const abort = new AbortController();
  tail = (ws) => ws.send("first\n");
  const followed = ray.followLogs("j1", () => abort.abort(), { signal: abort.signal });
  expect(await followed).toEqual({ offset: 6, complete: false });

  // One message over the limit is refused.
  tail = (ws) => ws.send("x".repeat(2000));
  const big = await client({ maxResponseBytes: 1000 })
    .followLogs("j1", () => {})
    .catch((e) => e);
  expect(big).toBeInstanceOf(RayApiError);
  expect(big.rayMessage).toBe("a log message of 2000 characters, more than the 1000 read");

  // Unknown job: a 404 from the status asked first.
  answer = () => new Response("Job j9 does not exist", { status: 404 });
  expect(await ray.followLogs("j9", () => {}).catch((e) => e)).toMatchObject({ name: "RayApiError", status: 404 });
});
