import { afterAll, expect, test } from "bun:test";
import { signIn, startTestServer, waitForPipelines, type TestServer } from "../testing/e2e.ts";
import { EXAMPLES_REPO, offerExamples } from "./first-run.ts";
import { eventually } from "../testing/eventually.ts";

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

test("--examples on a fresh data dir registers the examples, runs them, and prints curl lines that work", async () => {
  const server = await startTestServer();
  servers.push(server);
  const lines: string[] = [];
  const ids = await offerExamples({ ...server, dataDir: server.dataDir, url: server.base, print: (l) => lines.push(l) });
  expect(ids).toHaveLength(3);
  const pipelines = await waitForPipelines(server, "", 3);
  expect(pipelines.map((p) => p.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
  await eventually(() => lines.filter((l) => l.includes("/predict")).length >= 3, { what: "the three curl lines", timeoutMs: 4_000, everyMs: 100 });
  // The report example's notebook page is printed too, and shows its plot and its table.
  const report = pipelines.find((p) => p.notebook_path === "iris-report.ipynb")!;
  expect(lines).toContain(`  its executed notebook (tables, plots): ${server.base}/pipelines/${report.id}/notebook`);
  const page = await (await fetch(`${server.base}/pipelines/${report.id}/notebook`, { headers: { Cookie: await signIn(server.base) } })).text();
  expect(page).toContain('src="data:image/png;base64,');
  expect(page).toMatch(/<table[^>]*class="dataframe/);
  const curl = lines.find((l) => l.includes("/models/iris/predict"))!;
  expect(curl).toBeDefined();
  // run the printed command's request as a person would
  const body = /-d '(.+)'$/.exec(curl)![1]!;
  const res = await fetch(`${server.base}/models/iris/predict`, { method: "POST", body });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { predictions: number[] }).predictions).toEqual([0, 2]);
  expect(server.repos.getByFullName(EXAMPLES_REPO)?.clone_url).toBe(`${server.dataDir}/examples`);

  // a data dir that has repositories is left alone
  expect(await offerExamples({ ...server, dataDir: server.dataDir, url: server.base, print: (l) => lines.push(l) })).toEqual([]);
  expect(server.repos.count()).toBe(1);
}, 120_000);
