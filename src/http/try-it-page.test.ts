// The model page's Try it form (views/try-it.tsx, src/models/try-it-form.ts): what the page renders for models of
// each kind of signature, with and without the sample rows the converter kept, and that what it would send predicts.
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { AppDeps } from "../app.ts";
import { openModelSession, type ModelSignature } from "../serving/model-session.ts";
import { makeServingFixtures, postJson, type ServingFixtures } from "../testing/serving-test-support.ts";
import { makeTestApp, SIGNED_IN } from "../testing/test-app.ts";

let f: ServingFixtures;
const signatures: Record<string, ModelSignature> = {};
beforeAll(async () => {
  f = await makeServingFixtures();
  for (const [name, path] of [
    ["iris", f.iris.onnxPath],
    ["multi", f.multi.onnxPath],
  ] as const) {
    const session = await openModelSession(path);
    signatures[name] = session.signature;
    await session.release();
  }
}, 90_000);

const browser = { ...SIGNED_IN, Accept: "text/html" };

/** Store `onnxPath` as the next version of `name` as the register phase does (signature, sample rows) and deploy it. */
async function deployWith(deps: AppDeps, name: string, onnxPath: string, signature: ModelSignature | null, sampleRows?: unknown[]) {
  const row = deps.modelStore.register(
    {
      modelName: name,
      status: "registered",
      path: "",
      sha256: "test",
      format: "joblib",
      signature: signature && JSON.stringify(signature),
      sampleRows: sampleRows ? JSON.stringify(sampleRows) : null,
    },
    (version) => {
      const dir = join(deps.config.dataDir, "models", name, String(version));
      mkdirSync(dir, { recursive: true });
      copyFileSync(onnxPath, join(dir, "model.onnx"));
      return join(dir, "model.onnx");
    },
  );
  await deps.deployer.deploy(name, row.version, { reason: "manual", actor: "test" });
  return row.version;
}

type Config = { layout: string; columns: { name: string; type: string }[]; rows: string[][]; path: string; url: string; withToken: boolean };

/** The page, its Try it configuration (data-try-it), the curl line it shows first, and whether it loads Alpine. */
async function tryItOf(t: ReturnType<typeof makeTestApp>, name: string) {
  const res = await t.app.request(`/models/${encodeURIComponent(name)}`, { headers: browser });
  const html = await res.text();
  const attr = html.match(/<section id="try-it" class="try-it" x-data="tryIt" data-try-it="([^"]*)">/)?.[1];
  const unescape = (s: string) => s.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
  const curl = html.match(/<pre id="try-it-curl"[^>]*>([^<]*)<\/pre>/)?.[1];
  return {
    status: res.status,
    html,
    config: attr === undefined ? null : (JSON.parse(unescape(attr)) as Config),
    curl: curl === undefined ? null : unescape(curl),
    scripts: [...html.matchAll(/<script src="([^"]+)"[^>]*><\/script>/g)].map((m) => m[1]),
  };
}

/** The body a curl line sends. */
const bodyOf = (curl: string) => JSON.parse(curl.match(/ -d '(.*)'$/)![1]!.replaceAll(`'\\''`, "'"));

describe("Try it on the model page", () => {
  test("one input of four floats, no sample rows: one row of four zero fields; the curl line predicts as shown", async () => {
    const t = makeTestApp();
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!);
    const page = await tryItOf(t, "iris");
    expect(page.status).toBe(200);
    expect(page.config).toEqual({
      layout: "rows",
      columns: [0, 1, 2, 3].map((i) => ({ name: `input[${i}]`, type: "float32" })),
      rows: [["0", "0", "0", "0"]],
      path: "/models/iris/predict",
      url: "http://localhost/models/iris/predict",
      withToken: false,
    });
    expect(page.html).toContain("prefilled with zeros (no sample rows were kept for this version)");
    expect(page.curl).toBe(`curl -X POST 'http://localhost/models/iris/predict' -H 'Content-Type: application/json' -d '{"inputs":[[0,0,0,0]]}'`);
    // Alpine and the component load on this page only, the component first, deferred (so after htmx, which runs
    // while the page parses, at the end of the body); no inline script.
    expect(page.scripts).toEqual(["/static/try-it.js", "/static/alpine.min.js", "/static/htmx.min.js", "/static/hx-sse.min.js"]);
    expect(page.html).toMatch(/<script src="\/static\/try-it.js" defer(="")?><\/script><script src="\/static\/alpine.min.js" defer/);
    expect(page.html).not.toMatch(/<script(?![^>]*src=)[^>]*>/);
    const res = await t.app.request("/models/iris/predict", postJson(bodyOf(page.curl!)));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
    expect(await (await t.app.request("/models", { headers: browser })).text()).not.toContain("alpine.min.js");
  });

  test("the section a page action answers with carries Try it for what serves after it", async () => {
    const t = makeTestApp();
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!);
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!, f.iris.expected.rows.slice(0, 2));
    const htmx = { ...SIGNED_IN, "HX-Request": "true" };
    const rollback = await (await t.app.request("/models/iris/rollback", { method: "POST", headers: htmx })).text();
    expect(rollback).toStartWith('<section id="model-section"');
    expect(rollback).toContain("v1 · prefilled with zeros");
    const deploy = await (await t.app.request("/models/iris/deploy", { method: "POST", headers: htmx, body: new URLSearchParams({ version: "2" }) })).text();
    expect(deploy).toContain("v2 · prefilled with 2 rows it was checked on");
    expect(deploy).toContain(`curl -X POST &#39;http://localhost/models/iris/predict&#39;`);
    const undeploy = await (await t.app.request("/models/iris/undeploy", { method: "POST", headers: htmx })).text();
    expect(undeploy).toContain("Not serving: deploy a version to try it here.");
  });

  test("with sample rows: prefilled with the rows it was checked on, which predict", async () => {
    const t = makeTestApp();
    const rows = f.iris.expected.rows.slice(0, 3);
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!, rows);
    const page = await tryItOf(t, "iris");
    expect(page.config!.rows).toEqual(rows.map((r) => r.map(String)));
    expect(page.html).toContain("prefilled with 3 rows it was checked on");
    const res = await t.app.request("/models/iris/predict", postJson(bodyOf(page.curl!)));
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual(f.iris.expected.labels.slice(0, 3));
  });

  test("several inputs of mixed types: one field per input, records; zeros and empty strings without sample rows", async () => {
    const t = makeTestApp();
    await deployWith(t.deps, "multi", f.multi.onnxPath, signatures.multi!);
    const page = await tryItOf(t, "multi");
    expect(page.config).toMatchObject({
      layout: "records",
      columns: [
        { name: "age", type: "float32" },
        { name: "income", type: "float32" },
        { name: "city", type: "string" },
      ],
      rows: [["0", "0", ""]],
    });
    expect(bodyOf(page.curl!)).toEqual({ inputs: [{ age: 0, income: 0, city: "" }] });
    expect((await t.app.request("/models/multi/predict", postJson(bodyOf(page.curl!)))).status).toBe(200);

    const sampled = makeTestApp();
    const records = f.multi.rows.slice(0, 2).map(([age, income, city]) => ({ age, income, city }));
    await deployWith(sampled.deps, "multi", f.multi.onnxPath, signatures.multi!, records);
    const withRows = await tryItOf(sampled, "multi");
    expect(withRows.config!.rows).toEqual(f.multi.rows.slice(0, 2).map((r) => r.map(String)));
    const res = await sampled.app.request("/models/multi/predict", postJson(bodyOf(withRows.curl!)));
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual(f.multi.labels.slice(0, 2));
  });

  test("sample rows of another shape than the signature (a stale or odd row) fall back to zeros", async () => {
    const t = makeTestApp();
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!, [[1, 2, 3]]);
    expect((await tryItOf(t, "iris")).config!.rows).toEqual([["0", "0", "0", "0"]]);
  });

  test("with PREDICT_TOKEN the curl line sends $PREDICT_TOKEN, never the token; PUBLIC_URL is the URL shown", async () => {
    const token = "predict-token-that-must-not-show-0123";
    const t = makeTestApp({ PREDICT_TOKEN: token, PUBLIC_URL: "https://mlops.example.com/" });
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!);
    const page = await tryItOf(t, "iris");
    expect(page.curl).toBe(
      `curl -X POST 'https://mlops.example.com/models/iris/predict' -H 'Content-Type: application/json' -H "Authorization: Bearer $PREDICT_TOKEN" -d '{"inputs":[[0,0,0,0]]}'`,
    );
    expect(page.config!.withToken).toBe(true);
    expect(page.html).not.toContain(token);
  });

  test("not serving, or no signature to lay out: a sentence, no form; an unknown model is 404", async () => {
    const t = makeTestApp();
    await deployWith(t.deps, "iris", f.iris.onnxPath, signatures.iris!);
    await t.deps.deployer.undeploy("iris", { actor: "test" });
    const off = await tryItOf(t, "iris");
    expect(off.config).toBeNull();
    expect(off.html).toContain("Not serving: deploy a version to try it here.");
    // Alpine still loads: Deploy on this page swaps a form in.
    expect(off.scripts).toContain("/static/alpine.min.js");

    await deployWith(t.deps, "bare", f.iris.onnxPath, null);
    const bare = await tryItOf(t, "bare");
    expect(bare.config).toBeNull();
    expect(bare.html).toContain("inputs cannot be laid out as fields here");

    const unknown = await t.app.request("/models/nope", { headers: browser });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).not.toContain('id="try-it"');
  });

  test("Alpine and the component are served embedded, as JavaScript", async () => {
    const t = makeTestApp();
    for (const [file, marker] of [
      ["alpine.min.js", "Alpine"],
      ["try-it.js", 'Alpine.data("tryIt"'],
    ] as const) {
      const res = await t.app.request(`/static/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(await res.text()).toContain(marker);
    }
  });
});
