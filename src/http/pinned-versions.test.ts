import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { addVersion, deployVersion, makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp } from "../testing/test-app.ts";

// /versions/{v}: anyone may pin a version that was deployed at some time; any other stored version (rejected by the
// gate, or never deployed) answers exactly as a version that does not exist, and is not loaded. The admin token pins any.
let f: ServingFixtures;
let t: ReturnType<typeof makeTestApp>;

beforeAll(async () => {
  f = await makeServingFixtures();
  t = makeTestApp();
  await deployVersion(t.deps, "iris", f.iris.onnxPath); // 1: deployed, then replaced
  await deployVersion(t.deps, "iris", f.iris.onnxPath); // 2: serving
  const rejected = addVersion(t.deps, "iris", f.iris.onnxPath); // 3: rejected by the gate
  t.deps.modelStore.setStatus("iris", rejected, "rejected", "accuracy 0.5 below 0.7");
  addVersion(t.deps, "iris", f.iris.onnxPath); // 4: stored, never deployed
  await deployVersion(t.deps, "gone", f.iris.onnxPath); // deployed once, then undeployed
  await t.deps.deployer.undeploy("gone");
  addVersion(t.deps, "secret", f.iris.onnxPath); // a model never deployed at all
}, 90_000);

const rows = () => f.iris.expected.rows;
const routes: [string, (name: string, v: string) => string, () => RequestInit | undefined][] = [
  ["native predict", (n, v) => `/models/${n}/versions/${v}/predict`, () => postJson({ inputs: rows() })],
  ["OIP metadata", (n, v) => `/v2/models/${n}/versions/${v}`, () => undefined],
  ["OIP ready", (n, v) => `/v2/models/${n}/versions/${v}/ready`, () => undefined],
  [
    "OIP infer",
    (n, v) => `/v2/models/${n}/versions/${v}/infer`,
    () => postJson({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 4], data: rows()[0] }] }),
  ],
];

function withAuth(init: RequestInit | undefined, auth: Record<string, string>): RequestInit {
  return { ...init, headers: { ...((init?.headers as Record<string, string>) ?? {}), ...auth } };
}

async function answer(path: string, init: RequestInit | undefined) {
  const res = await t.app.request(path, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("/versions/{v} without the admin token", () => {
  for (const [name, path, init] of routes) {
    test(`${name}: versions deployed at some time serve`, async () => {
      for (const [model, v] of [
        ["iris", "1"],
        ["iris", "2"],
        ["gone", "1"],
      ] as const) {
        expect({ model, v, status: (await t.app.request(path(model, v), init())).status }).toEqual({ model, v, status: 200 });
      }
    });

    test(`${name}: a rejected or never-deployed version answers as an unknown one, and is not loaded`, async () => {
      const pinnedBefore = t.deps.registry.pinnedCount();
      const unknown = await answer(path("iris", "9"), init());
      expect(unknown.status).toBe(404);
      for (const [model, v] of [
        ["iris", "3"],
        ["iris", "4"],
        ["secret", "1"],
      ] as const) {
        const got = await answer(path(model, v), init());
        const like = await answer(path(model, "9"), init());
        // Word for word what a version that does not exist gets, but for the number.
        expect({ model, v, ...got, body: JSON.parse(JSON.stringify(got.body).replaceAll(`version ${v}`, "version 9")) }).toEqual({ model, v, ...like });
        expect(got.status).toBe(404);
      }
      expect(t.deps.registry.pinnedCount()).toBe(pinnedBefore);
    });
  }

  test("a rejected version's file is never opened: a broken file would answer 422, and it answers 404", async () => {
    const broken = addVersion(t.deps, "iris", f.iris.onnxPath);
    t.deps.modelStore.setStatus("iris", broken, "rejected", "test");
    writeFileSync(t.deps.modelStore.get("iris", broken).path, "not an onnx file");
    expect((await t.app.request(`/models/iris/versions/${broken}/predict`, postJson({ inputs: rows() }))).status).toBe(404);
    expect((await t.app.request(`/models/iris/versions/${broken}/predict`, postJson({ inputs: rows() }, t.auth))).status).toBe(422);
  });

  test("the serving-model 404 names only versions deployed before", async () => {
    const gone = await answer("/models/gone/predict", postJson({ inputs: rows() }));
    expect(gone).toMatchObject({ status: 404, body: { versions: [1] } });
    const secret = await answer("/models/secret/predict", postJson({ inputs: rows() }));
    expect(secret.status).toBe(404);
    expect(secret.body.error).toContain('no model named "secret"');
    expect(JSON.stringify(secret.body)).not.toContain("versions");
  });
});

describe("/versions/{v} with the admin token", () => {
  for (const [name, path, init] of routes) {
    test(`${name}: any stored version serves, rejected or never deployed`, async () => {
      for (const [model, v] of [
        ["iris", "3"],
        ["iris", "4"],
        ["secret", "1"],
        ["iris", "1"],
      ] as const) {
        expect({ model, v, status: (await t.app.request(path(model, v), withAuth(init(), t.auth))).status }).toEqual({ model, v, status: 200 });
      }
      expect((await t.app.request(path("iris", "9"), withAuth(init(), t.auth))).status).toBe(404);
    });
  }

  test("a wrong token is anonymous", async () => {
    expect((await t.app.request("/models/iris/versions/3/predict", postJson({ inputs: rows() }, { Authorization: "Bearer not-the-admin-token" }))).status).toBe(
      404,
    );
  });
});
