import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeTestModel, type TestModel } from "../serving/test-models.ts";
import { deployVersion } from "./serving-test-support.ts";
import { makeTestApp } from "./test-app.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-pages-")));
}, 60_000);

describe("pages", () => {
  test("the home page says nothing serves yet, then lists a deployed model with its version", async () => {
    const { app, deps } = makeTestApp();
    const empty = await app.request("/");
    expect(empty.status).toBe(200);
    expect(empty.headers.get("content-type")).toContain("text/html");
    expect(await empty.text()).toContain("No model serves yet");
    await deployVersion(deps, "iris", model.onnxPath);
    const html = await (await app.request("http://mlops.test/")).text();
    expect(html).toContain("<code>POST /models/iris/predict</code>");
    expect(html).toContain("curl -s -X POST http://mlops.test/models/iris/predict");
    expect(html).not.toContain("No model serves yet");
  });

  test("the stylesheet is served from the embedded public/ file", async () => {
    const { app } = makeTestApp();
    const res = await app.request("/static/app.css");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(await res.text()).toBe(readFileSync(join(import.meta.dir, "..", "..", "public", "app.css"), "utf8"));
  });
});
