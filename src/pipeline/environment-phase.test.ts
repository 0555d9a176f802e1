// End to end through a real server: a repository's requirements.txt gives its notebook an environment of its own
// (built by uv from PyPI for real), in which the notebook runs and its model is converted; built once for
// pipelines that need it at the same time, reused by the next push, refused with the resolver's words.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { commit, exampleNotebook, makeRepo, sendPush, startTestServer, waitForPipelines, type TestServer } from "../testing/e2e.ts";
import { predict, registerRepo, ROWS } from "../testing/pipeline-fixtures.ts";
import { NO_REQUIREMENTS } from "./environment-phase.ts";

type Phase = { name: string; status: string; error: string | null; duration_ms: number | null };
type Detail = {
  id: number;
  status: string;
  error: string | null;
  notebook_path: string;
  phases: Phase[];
  failure: { phase: string; kind: string; message: string } | null;
  runner: unknown;
};

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

const detail = async (id: number) => (await (await server.api(`/api/pipelines/${id}`)).json()) as Detail;
const logOf = async (id: number) => (await server.api(`/api/pipelines/${id}/logs`)).text();
const phase = (p: Detail, name: string) => p.phases.find((ph) => ph.name === name)!;
const environments = () =>
  existsSync(join(server.dataDir, "environments")) ? readdirSync(join(server.dataDir, "environments")).filter((d) => /^[0-9a-f]{24}$/.test(d)) : [];

/** The example joblib notebook, named `model`, printing the scikit-learn it runs with. */
function joblibNotebook(model: string, version = "1.0.0"): string {
  const nb = JSON.parse(exampleNotebook("iris-joblib.ipynb")) as { cells: { metadata: { tags?: string[] }; source: string[] | string }[] };
  for (const cell of nb.cells) {
    const tags = cell.metadata.tags ?? [];
    const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    if (tags.includes("mlops:config")) cell.source = `MODEL_NAME = "${model}"\nVERSION = "${version}"\n`;
    if (tags.includes("mlops:training")) cell.source = `${source}\nimport sklearn\nprint("scikit-learn", sklearn.__version__)\n`;
  }
  return JSON.stringify(nb);
}

describe("environment phase", () => {
  test("a notebook with a requirements.txt runs and is converted in its own environment; the next push reuses it at once", async () => {
    // scikit-learn 1.7.2, where the bundled runtime has 1.8: the model must be pickled and read by the same library.
    const repo = makeRepo({ "models/requirements.txt": "scikit-learn==1.7.2\n", "models/iris-env.ipynb": joblibNotebook("iris-env") });
    const repoId = await registerRepo(server, "acme/env", repo.dir);
    expect((await sendPush(server.base, { fullName: "acme/env", cloneUrl: repo.dir, after: repo.sha, deliveryId: "env-1" })).status).toBe(202);
    const [first] = await waitForPipelines(server, `repo=${repoId}`, 1, 300_000);
    const log = await logOf(first!.id);
    expect({ status: first!.status, error: first!.error }).toEqual({ status: "succeeded", error: null });
    expect((first as unknown as Detail).phases.map((ph) => `${ph.name}:${ph.status}`)).toEqual([
      "download:succeeded",
      "validate:succeeded",
      "environment:succeeded",
      "execute:succeeded",
      "register:succeeded",
      "deploy:succeeded",
    ]);
    expect(log).toContain("requirements from models/requirements.txt");
    expect(log).toContain("cache miss");
    expect(log).toContain("+ scikit-learn==1.7.2");
    expect(log).toContain("scikit-learn 1.7.2");
    // Read back by the python that pickled it: no version-mismatch warning from the converter.
    expect(log).not.toContain("InconsistentVersionWarning");
    expect(log).toContain("converted to ONNX");
    const answer = await predict(server.base, "iris-env", ROWS);
    expect(answer.status).toBe(200);
    expect(answer.body.predictions).toHaveLength(ROWS.length);

    const sha = commit(repo.dir, { "models/iris-env.ipynb": joblibNotebook("iris-env", "1.0.1") }, "retrain");
    expect((await sendPush(server.base, { fullName: "acme/env", cloneUrl: repo.dir, after: sha, before: repo.sha, deliveryId: "env-2" })).status).toBe(202);
    const second = (await waitForPipelines(server, `repo=${repoId}`, 2, 300_000)).find((p) => p.id !== first!.id)! as unknown as Detail;
    expect(second.status).toBe("succeeded");
    const again = await logOf(second.id);
    expect(again).toContain("cache hit");
    expect(again).not.toContain("+ scikit-learn");
    const env = phase(second, "environment");
    expect(env.status).toBe("succeeded");
    console.log(`  environment phase: ${phase(first as unknown as Detail, "environment").duration_ms} ms cold, ${env.duration_ms} ms warm`);
    // A cache hit looks the environment up; a build installs packages for tens of seconds. Room for a loaded machine.
    expect(env.duration_ms!).toBeLessThan(5000);
    // Where it ran: this machine (RUNNER_BACKEND=local).
    expect((await detail(second.id)).runner).toEqual({ backend: "local", job_id: null, node_id: null, dashboard_url: null });
    expect(environments()).toHaveLength(1);
  }, 600_000);

  test("two pipelines that need the same new environment at the same time build it once", async () => {
    const repo = makeRepo({ "requirements.txt": "tabulate==0.8.10\n", "a.ipynb": joblibNotebook("twin-a"), "b.ipynb": joblibNotebook("twin-b") });
    const repoId = await registerRepo(server, "acme/twins", repo.dir);
    const before = new Set(environments());
    expect((await sendPush(server.base, { fullName: "acme/twins", cloneUrl: repo.dir, after: repo.sha, deliveryId: "twins-1" })).status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, 2, 300_000);
    expect(ended.map((p) => p.status)).toEqual(["succeeded", "succeeded"]);
    const logs = await Promise.all(ended.map((p) => logOf(p.id)));
    expect(logs.filter((l) => l.includes("cache miss"))).toHaveLength(1);
    expect(logs.filter((l) => l.includes("+ tabulate==0.8.10"))).toHaveLength(1);
    expect(environments().filter((e) => !before.has(e))).toHaveLength(1);
  }, 600_000);

  test("requirements that cannot be resolved or are not allowed fail the pipeline at environment with the reason; nothing runs or deploys", async () => {
    const repo = makeRepo({
      "conflict/requirements.txt": "skl2onnx==1.14.0\n",
      "conflict/nb.ipynb": joblibNotebook("env-conflict"),
      "outside/requirements.txt": "numpy\n-r ../../secrets.txt\n",
      "outside/nb.ipynb": joblibNotebook("env-outside"),
      "plain.ipynb": joblibNotebook("env-plain"),
    });
    const repoId = await registerRepo(server, "acme/env-bad", repo.dir);
    expect((await sendPush(server.base, { fullName: "acme/env-bad", cloneUrl: repo.dir, after: repo.sha, deliveryId: "env-bad-1" })).status).toBe(202);
    const ended = await waitForPipelines(server, `repo=${repoId}`, 3, 300_000);
    const byPath = Object.fromEntries(await Promise.all(ended.map(async (p) => [p.notebook_path, await detail(p.id)] as const)));

    for (const [path, words] of [
      [
        "conflict/nb.ipynb",
        /the environment from conflict\/requirements\.txt could not be built: .*No solution found when resolving dependencies: Because you require .*skl2onnx==1\.14\.0/,
      ],
      ["outside/nb.ipynb", /outside\/requirements\.txt line 2: option -r is not allowed/],
    ] as const) {
      const p = byPath[path]!;
      expect(p.status).toBe("failed");
      expect(p.error).toMatch(words);
      expect(p.error).not.toContain("Traceback");
      expect(p.failure).toMatchObject({ phase: "environment", kind: "environment" });
      expect(p.phases.map((ph) => `${ph.name}:${ph.status}`)).toEqual([
        "download:succeeded",
        "validate:succeeded",
        "environment:failed",
        "execute:skipped",
        "register:skipped",
        "deploy:skipped",
      ]);
      expect(await logOf(p.id)).not.toContain("[training]");
    }
    for (const model of ["env-conflict", "env-outside"]) expect((await predict(server.base, model, ROWS)).status).toBe(404);

    // Without a requirements.txt (and none at the root), the notebook runs in the bundled runtime, as before.
    const plain = byPath["plain.ipynb"]!;
    expect(plain.status).toBe("succeeded");
    expect(phase(plain, "environment")).toMatchObject({ status: "skipped", error: NO_REQUIREMENTS });
    expect(await logOf(plain.id)).toContain("scikit-learn 1.8.0");
  }, 600_000);
});
