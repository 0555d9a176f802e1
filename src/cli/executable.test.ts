// The compiled executable, copied alone into an empty directory, with an environment that points
// nowhere near node_modules: proves everything it needs is embedded.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { buildExecutable } from "../../scripts/build.ts";
import { migrate, openDatabase } from "../db/connection.ts";
import { ModelStore } from "../models/model-store.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { eventually, pace } from "../testing/eventually.ts";
import { exampleNotebook, makeRepo, sendPush, VENV_BIN, WEBHOOK_SECRET } from "../testing/e2e.ts";

let root: string;
let runDir: string;
let exe: string;
let fixture: TestModel;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "mlops-executable-"));
  // Built into the temp dir, not dist/, so a test run never replaces the developer's build.
  const built = await buildExecutable(join(root, "build", "mlops"));
  runDir = join(root, "run");
  mkdirSync(runDir);
  exe = join(runDir, "mlops");
  copyFileSync(built.outfile, exe);
  fixture = await makeTestModel(join(root, "model"));
}, 180_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// A fresh HOME: the first use extracts libonnxruntime into an empty cache, as on a new machine.
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/bin:/bin", HOME: join(root, "home"), ...extra };
}

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn([exe, ...args], { cwd: runDir, env: env(), stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

test("the executable sits alone in its directory", () => {
  expect(readdirSync(runDir)).toEqual(["mlops"]);
});

test("--version prints package.json's version", async () => {
  const { code, stdout } = await run(["--version"]);
  expect(code).toBe(0);
  expect(stdout.trim()).toBe(pkg.version);
}, 30_000);

test("check-model loads and runs an ONNX model with the embedded onnxruntime", async () => {
  const { code, stdout, stderr } = await run(["check-model", fixture.onnxPath]);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(stdout).toContain("input: float32 [?, 4]");
  expect(stdout).toContain('"predictions":[');
  expect(stdout).toContain('"probabilities":[[');
}, 60_000);

test("check-model on a missing file exits 1 with the reason", async () => {
  const { code, stderr } = await run(["check-model", join(root, "nope.onnx")]);
  expect(code).toBe(1);
  expect(stderr).toContain("could not load ONNX model: no file at");
}, 30_000);

test("serves /health and a deployed model (loaded in its worker thread) from an empty directory; exits 0 on SIGTERM", async () => {
  const port = freePort();
  const dataDir = join(root, "data");
  // One deployed model in the data dir: the executable must start its model worker from what it embeds.
  const db = openDatabase(join(dataDir, "mlops.db"));
  migrate(db);
  const store = new ModelStore(db);
  const v = store.register({ modelName: "iris", status: "registered", path: "", sha256: "x", format: "onnx" }, (version) => {
    const d = join(dataDir, "models", "iris", String(version));
    mkdirSync(d, { recursive: true });
    copyFileSync(fixture.onnxPath, join(d, "model.onnx"));
    return join(d, "model.onnx");
  });
  store.recordDeployment({ modelName: "iris", version: v.version, reason: "manual" });
  db.$client.close();
  const started = performance.now();
  const proc = Bun.spawn([exe], {
    cwd: runDir,
    env: env({ DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", ADMIN_TOKEN: "executable-test-admin-token", LOG_LEVEL: "warn" }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  try {
    const health = await pollHealth(`http://127.0.0.1:${port}/health`, proc, 15_000);
    console.log(`executable: start to /health 200 in ${Math.round(performance.now() - started)} ms`);
    expect(health).toMatchObject({ status: "ok", version: pkg.version, database: "ok", models_serving: 1 });
    const answer = await fetch(`http://127.0.0.1:${port}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: fixture.expected.rows }) });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { predictions: unknown[] }).predictions).toEqual(fixture.expected.labels);
    expect(health.queue_depth).toBeNumber();
    // public/ is embedded: the stylesheet comes out of the executable, not the (absent) repository
    const css = await fetch(`http://127.0.0.1:${port}/static/app.css`);
    expect(css.status).toBe(200);
    expect(await css.text()).toBe(await Bun.file(join(import.meta.dir, "..", "..", "public", "app.css")).text());
  } catch (e) {
    proc.kill("SIGKILL");
    const [stdout, stderr] = await output;
    throw new Error(`${e instanceof Error ? e.message : String(e)}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  proc.kill("SIGTERM");
  const code = await Promise.race([proc.exited, pace(10_000).then(() => "still running after SIGTERM")]);
  if (code !== 0) proc.kill("SIGKILL");
  expect(code).toBe(0);
}, 60_000);

test("runs a pushed notebook with a requirements.txt in an environment it builds, and converts its joblib model, with only what it embeds", async () => {
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const token = "executable-test-admin-token";
  const proc = Bun.spawn([exe], {
    cwd: runDir,
    env: env({
      DATA_DIR: join(root, "data-env"),
      PORT: String(port),
      HOST: "127.0.0.1",
      ADMIN_TOKEN: token,
      GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOG_LEVEL: "warn",
      PYTHON: join(VENV_BIN, "python"),
      PAPERMILL: join(VENV_BIN, "papermill"),
      UV: join(VENV_BIN, "uv"),
      SHUTDOWN_GRACE_SECONDS: "0",
      ...Object.fromEntries(["SSL_CERT_FILE", "SSL_CERT_DIR"].filter((k) => process.env[k]).map((k) => [k, process.env[k]!])),
    }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(base + path, { ...init, headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } });
  try {
    await pollHealth(`${base}/health`, proc, 15_000);
    const repo = makeRepo({ "requirements.txt": "tabulate==0.9.0\n", "iris-joblib.ipynb": exampleNotebook("iris-joblib.ipynb") });
    expect((await api("/api/repos", { method: "POST", body: JSON.stringify({ full_name: "acme/exe", clone_url: repo.dir }) })).status).toBe(201);
    expect((await sendPush(base, { fullName: "acme/exe", cloneUrl: repo.dir, after: repo.sha })).status).toBe(202);
    const ended = await eventually(
      async () => {
        const list = ((await (await api("/api/pipelines")).json()) as { pipelines: { id: number; status: string }[] }).pipelines;
        return list.length === 1 && !["queued", "running"].includes(list[0]!.status) && list[0]!;
      },
      { what: "the pipeline to end", timeoutMs: 300_000, everyMs: 200 },
    );
    const log = await (await api(`/api/pipelines/${ended.id}/logs`)).text();
    expect({ status: ended.status, log: ended.status === "succeeded" ? "" : log }).toEqual({ status: "succeeded", log: "" });
    expect(log).toContain("cache miss");
    expect(log).toContain("+ tabulate==0.9.0");
    expect(log).toContain("converted to ONNX");
    expect((await fetch(`${base}/models/iris-joblib/predict`, { method: "POST", body: JSON.stringify({ inputs: fixture.expected.rows }) })).status).toBe(200);
    // The notebook page: marked and sanitize-html compiled in, rendering the executed notebook's markdown and outputs.
    const login = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ token, next: "/" }), redirect: "manual" });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const notebookPage = await fetch(`${base}/pipelines/${ended.id}/notebook`, { headers: { Cookie: cookie } });
    expect(notebookPage.status).toBe(200);
    expect(notebookPage.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await notebookPage.text();
    expect(html).toContain("<h1>");
    expect(html).toContain('<span class="badge">mlops:training</span>');
  } catch (e) {
    proc.kill("SIGKILL");
    const [stdout, stderr] = await output;
    throw new Error(`${e instanceof Error ? e.message : String(e)}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}, 400_000);

async function pollHealth(url: string, proc: Bun.Subprocess, timeoutMs: number): Promise<Record<string, unknown>> {
  let last = "no answer";
  return eventually(
    async () => {
      if (proc.exitCode !== null) throw new Error(`the server exited with code ${proc.exitCode} before /health answered`);
      const res = await fetch(url);
      if (res.status === 200) return (await res.json()) as Record<string, unknown>;
      last = `${res.status} ${await res.text()}`;
      return undefined;
    },
    { what: `GET ${url} to answer 200`, timeoutMs, everyMs: 20 },
  ).catch((e: Error) => {
    throw new Error(`${e.message} (last: ${last})`);
  });
}
