// The home page on a real server wired as main.ts wires it: GitHub commit statuses refused by GitHub (a stand-in that
// records what it is sent) and an MLflow server that cannot be reached show up in the verdict with their reasons,
// after a real pipeline ran through papermill; a later delivery that gets through turns the GitHub part ok again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { commit, makeRepo, sendPush, signIn, startTestServer, waitForStatus, type TestServer } from "../testing/e2e.ts";
import { eventually } from "../testing/eventually.ts";
import { startGitHubStandIn, type GitHubStandIn } from "../testing/github-stand-in.ts";
import { modelNotebook, registerRepo, tinyOnnxBase64, waitForCreated } from "../testing/pipeline-fixtures.ts";

let server: TestServer;
let github: GitHubStandIn;
let cookie: string;
beforeAll(async () => {
  github = startGitHubStandIn();
  // A port nothing listens on: every MLflow call is refused at once.
  const closed = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const mlflowUrl = `http://127.0.0.1:${closed.port}`;
  await closed.stop(true);
  server = await startTestServer({ GITHUB_TOKEN: "gh-token-0123456789", GITHUB_API_URL: github.url, MLFLOW_TRACKING_URI: mlflowUrl });
  cookie = await signIn(server.base);
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await github?.stop();
});

const health = async () => (await fetch(`${server.base}/home/health`, { headers: { Cookie: cookie } })).text();
const verdictOf = (html: string) => html.slice(html.indexOf('id="verdict"'), html.indexOf("<h2>Serving</h2>"));

describe("home page health on a real server", () => {
  test("refused commit statuses and an unreachable MLflow are named with their reasons; a status that gets through is ok again", async () => {
    github.script("/repos/acme/home-health/", [401], { forever: true });
    const onnx = await tinyOnnxBase64();
    const repo = makeRepo({ "model.ipynb": modelNotebook("home-health", onnx) });
    const repoId = await registerRepo(server, "acme/home-health", repo.dir);
    await sendPush(server.base, { fullName: "acme/home-health", cloneUrl: repo.dir, after: repo.sha });
    const [created] = await waitForCreated(server, repoId);
    await waitForStatus(server, created!.id, ["succeeded"], 120_000);

    const html = await eventually(
      async () => {
        const h = await health();
        return h.includes("GitHub commit status not delivered") && h.includes("MLflow sync behind") ? h : undefined;
      },
      { timeoutMs: 60_000, what: "the GitHub and MLflow problems on the home page" },
    );
    const verdict = verdictOf(html);
    expect(verdict).toContain("Bad credentials");
    expect(verdict).toMatch(/MLflow sync behind \(1 pending\): .+/);
    expect(html).toMatch(/id="github-health">GitHub commit statuses: <span class="error">last delivery failed<\/span>/);
    expect(html).toContain("backlog 1 pending, 0 failed");
    // The pipeline itself ran fine and its model serves.
    expect(html).toContain('<a href="/models/home-health">home-health</a>');
    expect(html).toContain("No pipeline has failed.");

    // GitHub takes statuses again (the newest script wins); the next push's statuses get through.
    github.script("/repos/acme/home-health/", [201], { forever: true });
    const sha2 = commit(repo.dir, { "model.ipynb": modelNotebook("home-health", onnx, "print('again')") }, "again");
    await sendPush(server.base, { fullName: "acme/home-health", cloneUrl: repo.dir, after: sha2, before: repo.sha });
    const ok = await eventually(
      async () => {
        const h = await health();
        return h.includes("last delivery ok") ? h : undefined;
      },
      { timeoutMs: 120_000, what: "a commit status that got through" },
    );
    expect(verdictOf(ok)).not.toContain("GitHub commit status");
  }, 240_000);
});
