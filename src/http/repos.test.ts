import { describe, expect, test } from "bun:test";
import { GitCommandError } from "../git/git-mirror.ts";
import { TransientError } from "../lib/errors.ts";
import type { Repo } from "../repos/repo-store.ts";
import type { RunRepo } from "../repos/run-repo.ts";
import { makeTestApp } from "../testing/test-app.ts";
import { pace } from "../testing/eventually.ts";

type Scenario = {
  name: string;
  method: string;
  url: string;
  body?: unknown;
  /** Raw body text, for malformed JSON. */
  raw?: string;
  noAuth?: boolean;
  status: number;
  contains?: string[];
  notContains?: string[];
  /** Repositories in the database afterwards (two are registered before each scenario). */
  rows: number;
};

const seeded = [
  { full_name: "acme/models", branch: "main", deploy_threshold: 0.8 },
  { full_name: "acme/other", clone_url: "/srv/git/other", notebook_glob: "notebooks/*.ipynb" },
];

const scenarios: Scenario[] = [
  { name: "list", method: "GET", url: "/api/repos", status: 200, contains: ['"full_name":"acme/models"', '"full_name":"acme/other"'], rows: 2 },
  { name: "list needs the token", method: "GET", url: "/api/repos", noAuth: true, status: 401, notContains: ["acme"], rows: 2 },
  {
    name: "create with defaults",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "Octo-Cat/hello.world_2" },
    status: 201,
    contains: [
      '"full_name":"Octo-Cat/hello.world_2"',
      '"clone_url":"https://github.com/Octo-Cat/hello.world_2.git"',
      '"branch":"main"',
      '"notebook_glob":"**/*.ipynb"',
      '"deploy_metric":"accuracy"',
      '"deploy_threshold":null',
      '"created_at"',
      '"updated_at"',
    ],
    rows: 3,
  },
  {
    name: "create with everything",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", clone_url: "file:///tmp/r", branch: "release/v1", notebook_glob: "ml/**/*.ipynb", deploy_metric: "f1", deploy_threshold: 0 },
    status: 201,
    contains: ['"clone_url":"file:///tmp/r"', '"branch":"release/v1"', '"notebook_glob":"ml/**/*.ipynb"', '"deploy_metric":"f1"', '"deploy_threshold":0'],
    rows: 3,
  },
  { name: "duplicate name", method: "POST", url: "/api/repos", body: { full_name: "acme/models" }, status: 409, contains: ["already registered"], rows: 2 },
  {
    name: "duplicate name, other case",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "ACME/Models" },
    status: 409,
    contains: ["already registered"],
    rows: 2,
  },
  {
    name: "create with runner_resources",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: { num_cpus: 2, num_gpus: 1, memory_mb: 4096, resources: { trainer: 1 } } },
    status: 201,
    contains: ['"runner_resources":{"num_cpus":2,"num_gpus":1,"memory_mb":4096,"resources":{"trainer":1}}'],
    rows: 3,
  },
  {
    name: "create with runner_resources null",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: null },
    status: 201,
    contains: ['"runner_resources":null'],
    rows: 3,
  },
  {
    name: "create with negative num_gpus",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: { num_gpus: -1 } },
    status: 422,
    contains: ["runner_resources.num_gpus"],
    rows: 2,
  },
  {
    name: "create with an unknown resources key",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: { gpus: 1 } },
    status: 422,
    contains: ["runner_resources", "unknown key gpus", "num_cpus, num_gpus, memory_mb, resources"],
    rows: 2,
  },
  {
    name: "create with runner_resources as text",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: '{"num_cpus": 1}' },
    status: 422,
    contains: ["runner_resources", "must be a JSON object such as"],
    rows: 2,
  },
  {
    name: "create with a custom resource that is not a number",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: { resources: { trainer: "one" } } },
    status: 422,
    contains: ["runner_resources.resources.trainer"],
    rows: 2,
  },
  {
    name: "create with fractional memory_mb",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "o/r", runner_resources: { memory_mb: 1.5 } },
    status: 422,
    contains: ["runner_resources.memory_mb"],
    rows: 2,
  },
  {
    name: "bad runner_resources and a bad other field: the 400 names both",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b/c", runner_resources: { num_cpus: -1 } },
    status: 400,
    contains: ["full_name", "runner_resources.num_cpus"],
    rows: 2,
  },
  { name: "missing full_name", method: "POST", url: "/api/repos", body: {}, status: 400, contains: ["full_name"], rows: 2 },
  {
    name: "full_name without owner",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "models" },
    status: 400,
    contains: ["full_name", "owner/name"],
    rows: 2,
  },
  { name: "full_name with three parts", method: "POST", url: "/api/repos", body: { full_name: "a/b/c" }, status: 400, contains: ["full_name"], rows: 2 },
  { name: "owner starting with hyphen", method: "POST", url: "/api/repos", body: { full_name: "-a/b" }, status: 400, contains: ["full_name"], rows: 2 },
  { name: "name '..'", method: "POST", url: "/api/repos", body: { full_name: "a/.." }, status: 400, contains: ["full_name"], rows: 2 },
  { name: "owner too long", method: "POST", url: "/api/repos", body: { full_name: `${"a".repeat(40)}/b` }, status: 400, contains: ["full_name"], rows: 2 },
  { name: "unknown field", method: "POST", url: "/api/repos", body: { full_name: "a/b", colour: "red" }, status: 400, contains: ["colour"], rows: 2 },
  {
    name: "threshold above 1",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", deploy_threshold: 1.5 },
    status: 400,
    contains: ["deploy_threshold"],
    rows: 2,
  },
  {
    name: "threshold as text",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", deploy_threshold: "0.7" },
    status: 400,
    contains: ["deploy_threshold"],
    rows: 2,
  },
  {
    name: "branch with spaces",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", branch: "my branch" },
    status: 400,
    contains: ["branch"],
    rows: 2,
  },
  { name: "branch with ..", method: "POST", url: "/api/repos", body: { full_name: "a/b", branch: "a..b" }, status: 400, contains: ["branch"], rows: 2 },
  {
    name: "clone_url as an option",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", clone_url: "--upload-pack=touch /tmp/x" },
    status: 400,
    contains: ["clone_url"],
    rows: 2,
  },
  {
    name: "clone_url with a token",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", clone_url: "https://x-access-token:ghp_secret@github.com/a/b.git" },
    status: 400,
    contains: ["clone_url", "GITHUB_TOKEN"],
    notContains: ["ghp_secret"],
    rows: 2,
  },
  { name: "empty glob", method: "POST", url: "/api/repos", body: { full_name: "a/b", notebook_glob: "" }, status: 400, contains: ["notebook_glob"], rows: 2 },
  {
    name: "bad metric name",
    method: "POST",
    url: "/api/repos",
    body: { full_name: "a/b", deploy_metric: "acc;drop" },
    status: 400,
    contains: ["deploy_metric"],
    rows: 2,
  },
  { name: "malformed JSON", method: "POST", url: "/api/repos", raw: '{"full_name": ', status: 400, notContains: ["at JSON.parse", "stack"], rows: 2 },
  { name: "get", method: "GET", url: "/api/repos/1", status: 200, contains: ['"id":1', '"full_name":"acme/models"', '"deploy_threshold":0.8'], rows: 2 },
  { name: "get unknown", method: "GET", url: "/api/repos/99", status: 404, contains: ["repository 99 does not exist"], rows: 2 },
  { name: "get non-integer id", method: "GET", url: "/api/repos/abc", status: 400, contains: ["id"], rows: 2 },
  { name: "get fractional id", method: "GET", url: "/api/repos/1.5", status: 400, contains: ["id"], rows: 2 },
  { name: "get zero id", method: "GET", url: "/api/repos/0", status: 400, contains: ["id"], rows: 2 },
  {
    name: "patch branch and threshold",
    method: "PATCH",
    url: "/api/repos/1",
    body: { branch: "prod", deploy_threshold: null },
    status: 200,
    contains: ['"branch":"prod"', '"deploy_threshold":null', '"full_name":"acme/models"', '"notebook_glob":"**/*.ipynb"'],
    rows: 2,
  },
  {
    name: "patch empty body changes nothing",
    method: "PATCH",
    url: "/api/repos/2",
    body: {},
    status: 200,
    contains: ['"clone_url":"/srv/git/other"'],
    rows: 2,
  },
  {
    name: "patch rename onto another",
    method: "PATCH",
    url: "/api/repos/2",
    body: { full_name: "Acme/Models" },
    status: 409,
    contains: ["already registered"],
    rows: 2,
  },
  {
    name: "patch rename to itself",
    method: "PATCH",
    url: "/api/repos/1",
    body: { full_name: "Acme/Models" },
    status: 200,
    contains: ['"full_name":"Acme/Models"'],
    rows: 2,
  },
  { name: "patch invalid value", method: "PATCH", url: "/api/repos/1", body: { deploy_threshold: -0.1 }, status: 400, contains: ["deploy_threshold"], rows: 2 },
  {
    name: "patch bad runner_resources",
    method: "PATCH",
    url: "/api/repos/1",
    body: { runner_resources: { num_gpus: -1 } },
    status: 422,
    contains: ["runner_resources.num_gpus"],
    rows: 2,
  },
  { name: "patch unknown field", method: "PATCH", url: "/api/repos/1", body: { id: 7 }, status: 400, contains: ["id"], rows: 2 },
  { name: "patch unknown repo", method: "PATCH", url: "/api/repos/42", body: { branch: "x" }, status: 404, rows: 2 },
  { name: "patch bad id", method: "PATCH", url: "/api/repos/x", body: { branch: "x" }, status: 400, rows: 2 },
  { name: "delete", method: "DELETE", url: "/api/repos/2", status: 204, rows: 1 },
  { name: "delete unknown", method: "DELETE", url: "/api/repos/3", status: 404, rows: 2 },
  { name: "delete bad id", method: "DELETE", url: "/api/repos/-1", status: 400, rows: 2 },
  {
    name: "run",
    method: "POST",
    url: "/api/repos/1/run",
    status: 202,
    contains: ['"pipelines":[{"id":7,"notebook_path":"acme/models.ipynb"}]', '"skipped":[]'],
    rows: 2,
  },
  { name: "run unknown", method: "POST", url: "/api/repos/9/run", status: 404, rows: 2 },
  { name: "run bad id", method: "POST", url: "/api/repos/nope/run", status: 400, rows: 2 },
];

function setup(runRepo: RunRepo = async (repo) => ({ pipelines: [{ id: 7, notebook_path: `${repo.full_name}.ipynb` }], skipped: [] })) {
  const ran: Repo[] = [];
  const t = makeTestApp(
    {},
    {
      runRepo: async (repo) => {
        ran.push(repo);
        return runRepo(repo);
      },
    },
  );
  const count = () => t.db.$client.query<{ n: number }, []>("SELECT count(*) AS n FROM repositories").get()!.n;
  return { ...t, ran, count };
}

describe("/api/repos scenarios", () => {
  for (const s of scenarios) {
    test(`${s.method} ${s.url}: ${s.name} → ${s.status}`, async () => {
      const { app, auth, count, ran } = setup();
      for (const body of seeded) {
        const res = await app.request("/api/repos", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(body) });
        expect(res.status).toBe(201);
      }
      const headers: Record<string, string> = s.noAuth ? {} : { ...auth };
      let body: string | undefined;
      if (s.body !== undefined || s.raw !== undefined) {
        headers["Content-Type"] = "application/json";
        body = s.raw ?? JSON.stringify(s.body);
      }
      const res = await app.request(s.url, { method: s.method, headers, body });
      const text = await res.text();
      expect({ status: res.status, text }).toMatchObject({ status: s.status });
      if (s.status === 204) expect(text).toBe("");
      else expect(() => JSON.parse(text)).not.toThrow();
      if (s.status >= 400) expect(JSON.parse(text).error).toBeString();
      for (const part of s.contains ?? []) expect(text).toContain(part);
      for (const part of s.notContains ?? []) expect(text).not.toContain(part);
      expect(count()).toBe(s.rows);
      expect(ran.length).toBe(s.name === "run" ? 1 : 0);
    });
  }
});

describe("/api/repos behaviour", () => {
  test("run passes the stored repository to runRepo and answers its result", async () => {
    const { app, auth, ran } = setup();
    await app.request("/api/repos", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(seeded[1]) });
    const res = await app.request("/api/repos/1/run", { method: "POST", headers: auth });
    expect(res.status).toBe(202);
    expect(ran).toHaveLength(1);
    expect(ran[0]).toMatchObject({ id: 1, full_name: "acme/other", clone_url: "/srv/git/other", branch: "main", notebook_glob: "notebooks/*.ipynb" });
  });

  test("git failures in runRepo become 503 (transient) and 422 (permanent)", async () => {
    for (const [error, status, text] of [
      [new TransientError("Connection refused"), 503, "try again later"],
      [new GitCommandError("branch main does not exist in /srv/git/other"), 422, "branch main does not exist"],
    ] as const) {
      const { app, auth } = setup(async () => {
        throw error;
      });
      await app.request("/api/repos", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(seeded[1]) });
      const res = await app.request("/api/repos/1/run", { method: "POST", headers: auth });
      expect(res.status).toBe(status);
      expect((await res.json()).error).toContain(text);
    }
  });

  test("delete keeps the repository's pipelines, with repo_id cleared", async () => {
    const { app, auth, db } = setup();
    await app.request("/api/repos", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(seeded[0]) });
    db.$client
      .query(
        "INSERT INTO pipelines (repo_id, trigger, ref, commit_sha, notebook_path, status) VALUES (1, 'push', 'refs/heads/main', ?, 'a.ipynb', 'succeeded')",
      )
      .run("a".repeat(40));
    expect((await app.request("/api/repos/1", { method: "DELETE", headers: auth })).status).toBe(204);
    const rows = db.$client.query<{ repo_id: number | null }, []>("SELECT repo_id FROM pipelines").all();
    expect(rows).toEqual([{ repo_id: null }]);
  });

  test("patch bumps updated_at and keeps created_at", async () => {
    const { app, auth } = setup();
    const created = await (
      await app.request("/api/repos", { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(seeded[0]) })
    ).json();
    await pace(5); // updated_at has millisecond resolution
    const patched = await (
      await app.request("/api/repos/1", { method: "PATCH", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify({ branch: "dev" }) })
    ).json();
    expect(patched.created_at).toBe(created.created_at);
    expect(patched.updated_at > created.updated_at).toBe(true);
  });

  test("runner_resources: shown as null when unset, set, replaced whole and cleared by PATCH", async () => {
    const { app, auth } = setup();
    const json = { ...auth, "Content-Type": "application/json" };
    await app.request("/api/repos", { method: "POST", headers: json, body: JSON.stringify(seeded[0]) });
    const show = async () => (await (await app.request("/api/repos/1", { headers: auth })).json()).runner_resources;
    expect(await show()).toBeNull();
    const patch = (body: unknown) => app.request("/api/repos/1", { method: "PATCH", headers: json, body: JSON.stringify(body) });

    const set = await patch({ runner_resources: { num_cpus: 2, resources: { trainer: 1 } } });
    expect(set.status).toBe(200);
    expect((await set.json()).runner_resources).toEqual({ num_cpus: 2, resources: { trainer: 1 } });
    expect(await show()).toEqual({ num_cpus: 2, resources: { trainer: 1 } });
    const listed = (await (await app.request("/api/repos", { headers: auth })).json()).repos;
    expect(listed[0].runner_resources).toEqual({ num_cpus: 2, resources: { trainer: 1 } });

    // A PATCH of other fields leaves it; a new value replaces the old one whole.
    expect((await patch({ branch: "dev" })).status).toBe(200);
    expect(await show()).toEqual({ num_cpus: 2, resources: { trainer: 1 } });
    expect((await patch({ runner_resources: { memory_mb: 2048 } })).status).toBe(200);
    expect(await show()).toEqual({ memory_mb: 2048 });

    expect((await patch({ runner_resources: null })).status).toBe(200);
    expect(await show()).toBeNull();
  });

  test("a bad runner_resources in a PATCH is a 422 naming the key, and changes nothing, the other fields sent with it included", async () => {
    const { app, auth } = setup();
    const json = { ...auth, "Content-Type": "application/json" };
    await app.request("/api/repos", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ ...seeded[0], runner_resources: { num_cpus: 2, resources: { trainer: 1 } } }),
    });
    const before = await (await app.request("/api/repos/1", { headers: auth })).json();
    for (const [runner_resources, named] of [
      [{ num_gpus: -1 }, "runner_resources.num_gpus"],
      [{ num_cpus: "2" }, "runner_resources.num_cpus"],
      [{ memory_mb: 0 }, "runner_resources.memory_mb"],
      [{ resources: { trainer: -1 } }, "runner_resources.resources.trainer"],
      [{ cpus: 1 }, "unknown key cpus"],
      [[1], "must be a JSON object"],
    ] as const) {
      const res = await app.request("/api/repos/1", { method: "PATCH", headers: json, body: JSON.stringify({ branch: "dev", runner_resources }) });
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.error).toContain(named);
      expect(body.error).not.toContain("stack");
      expect(await (await app.request("/api/repos/1", { headers: auth })).json()).toEqual(before);
    }
  });
});
