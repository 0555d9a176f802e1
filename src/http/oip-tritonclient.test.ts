// The Open Inference Protocol routes driven over a real socket by tritonclient's HTTP client (.venv-test).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { deployVersion, makeServingFixtures, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv-test", "bin", "python");

let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;
let server: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  // Idempotent and quick when .venv-test is up to date (scripts/setup.sh --test runs it too).
  const setup = Bun.spawnSync(["bash", join(ROOT, "scripts", "setup-test-python.sh")], { stdout: "pipe", stderr: "pipe" });
  if (setup.exitCode !== 0) throw new Error(`scripts/setup-test-python.sh failed:\n${setup.stderr.toString()}${setup.stdout.toString()}`);
  f = await makeServingFixtures();
  t = makeTestApp({ MAX_REQUEST_BYTES: "4096" });
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "iris", f.iris.onnxPath);
  await deployVersion(t.deps, "multi", f.multi.onnxPath);
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
}, 180_000);

afterAll(() => server?.stop(true));

type ClientReport = {
  live: boolean;
  ready: boolean;
  model_ready: boolean;
  unknown_model_ready: boolean;
  server: { name: string; extensions: string[] };
  metadata: { name: string; versions: string[]; platform: string; inputs: unknown[]; outputs: unknown[] };
  metadata_v1: { name: string };
  binary: { labels: number[]; probabilities: number[][]; id: string; model_version: string };
  json: { labels: number[]; outputs: string[]; model_version: string };
  multi_labels: string[];
  bad: string;
  after_bad: number[];
};

describe("tritonclient.http against a running server", () => {
  test("health, metadata and inference (binary and JSON tensors) answer as scikit-learn did", async () => {
    const request = join(t.dir, "tritonclient-request.json");
    writeFileSync(request, JSON.stringify({ iris_rows: f.iris.expected.rows, multi_rows: f.multi.rows }));
    const proc = Bun.spawn([PYTHON, join(import.meta.dir, "oip-tritonclient.fixture.py"), `127.0.0.1:${server.port}`, request], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    if (code !== 0) throw new Error(`the tritonclient script exited ${code}:\n${err}`);
    const r = JSON.parse(out) as ClientReport;

    expect([r.live, r.ready, r.model_ready, r.unknown_model_ready]).toEqual([true, true, true, false]);
    expect(r.server).toMatchObject({ name: "mlops", extensions: ["binary_tensor_data"] });
    expect(r.metadata).toMatchObject({
      name: "iris",
      versions: ["2", "1"],
      platform: "onnxruntime",
      inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
    });
    expect(r.metadata_v1.name).toBe("iris");

    expect(r.binary.labels).toEqual(f.iris.expected.labels as number[]);
    expect(r.binary).toMatchObject({ id: "req-7", model_version: "2" });
    r.binary.probabilities.forEach((row, i) => row.forEach((p, j) => expect(Math.abs(p - f.iris.expected.probabilities[i]![j]!)).toBeLessThan(1e-5)));
    expect(r.json).toEqual({ labels: f.iris.expected.labels as number[], outputs: ["label"], model_version: "1" });
    expect(r.multi_labels).toEqual(f.multi.labels);
    expect(r.bad).toContain("3 features per row; the model expects 4");
    expect(r.after_bad).toEqual(f.iris.expected.labels as number[]);
  }, 60_000);

  test("over a socket, a body over MAX_REQUEST_BYTES is refused from its Content-Length with 413", async () => {
    const big = JSON.stringify({ inputs: Array.from({ length: 400 }, () => [5.1, 3.5, 1.4, 0.2]) });
    const res = await fetch(`http://127.0.0.1:${server.port}/models/iris/predict`, {
      method: "POST",
      body: big,
      headers: { "Content-Type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toContain("larger than 4096 bytes");
    const ok = await fetch(`http://127.0.0.1:${server.port}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: f.iris.expected.rows }) });
    expect(((await ok.json()) as { predictions: unknown }).predictions).toEqual(f.iris.expected.labels);
  });
});
