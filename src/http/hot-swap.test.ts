// Deploy and rollback under load over real HTTP: every request in flight across a swap must succeed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { addVersion } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pace } from "../testing/eventually.ts";

let model: TestModel;
let t: ReturnType<typeof makeTestApp>;
let server: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-hotswap-")));
  t = makeTestApp();
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: t.app.fetch });
  base = `http://127.0.0.1:${server.port}`;
}, 60_000);
afterAll(() => server?.stop(true));

const api = (path: string, body?: unknown) =>
  fetch(base + path, {
    method: "POST",
    headers: { ...t.auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

describe("hot swap under load", () => {
  for (let round = 1; round <= 3; round++) {
    test(`round ${round}: deploys and rollbacks while 16 clients predict; zero failed requests`, async () => {
      const versions = [addVersion(t.deps, "iris", model.onnxPath), addVersion(t.deps, "iris", model.onnxPath)];
      expect((await api("/api/models/iris/deploy", { version: versions[0] })).status).toBe(200);
      const seen = new Map<string, number>();
      const failures: string[] = [];
      let running = true;
      const client = async () => {
        while (running) {
          const res = await fetch(`${base}/models/iris/predict`, { method: "POST", body: JSON.stringify({ inputs: model.expected.rows }) });
          const body = (await res.json()) as { predictions?: number[]; version?: number };
          if (res.status !== 200 || JSON.stringify(body.predictions) !== JSON.stringify(model.expected.labels))
            failures.push(`${res.status} ${JSON.stringify(body)}`);
          const v = res.headers.get("x-model-version") ?? "none";
          if (String(body.version) !== v) failures.push(`header ${v} != body ${body.version}`);
          seen.set(v, (seen.get(v) ?? 0) + 1);
        }
      };
      const clients = Array.from({ length: 16 }, client);
      for (let i = 0; i < 4; i++) {
        // Paced so that every swap happens under the clients' load.
        await pace(30);
        const deployed = await api("/api/models/iris/deploy", { version: versions[1] });
        expect(deployed.status).toBe(200);
        await pace(30);
        const rolledBack = await api("/api/models/iris/rollback");
        expect(rolledBack.status).toBe(200);
      }
      running = false;
      await Promise.all(clients);
      expect(failures).toEqual([]);
      expect(seen.get(String(versions[0]))).toBeGreaterThan(0);
      expect(seen.get(String(versions[1]))).toBeGreaterThan(0);
      const detail = (await (await fetch(`${base}/api/models/iris`, { headers: t.auth })).json()) as {
        serving_version: number;
        deployments: { version: number; reason: string }[];
      };
      expect(detail.serving_version).toBe(versions[0]!);
      expect(detail.deployments.slice(0, 2).map((d) => d.reason)).toEqual(["rollback", "manual"]);
    }, 60_000);
  }
});
