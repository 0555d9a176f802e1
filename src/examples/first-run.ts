// `mlops serve --examples`: on a data dir with no repositories, register the bundled example notebooks as a
// local git repository, run them, and print a curl line that works once a model serves.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import joblibNotebook from "../../notebooks/iris-joblib.ipynb" with { type: "text" };
import onnxNotebook from "../../notebooks/iris-onnx.ipynb" with { type: "text" };
import reportNotebook from "../../notebooks/iris-report.ipynb" with { type: "text" };
import type { PipelineService } from "../pipeline/pipeline-service.ts";
import type { PipelineStore } from "../pipeline/pipeline-store.ts";
import type { RepoStore } from "../repos/repo-store.ts";

export const EXAMPLES_REPO = "local/examples";
const EXAMPLES: Record<string, string> = { "iris-onnx.ipynb": onnxNotebook, "iris-joblib.ipynb": joblibNotebook, "iris-report.ipynb": reportNotebook };

function git(cwd: string, args: string[]): void {
  const r = Bun.spawnSync(["git", "-c", "user.name=mlops", "-c", "user.email=mlops@localhost", ...args], { cwd, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`git ${args[0]} failed: ${r.stderr.toString().trim()}`);
}

/** Write the examples as a one-commit git repository in `dir` (idempotent: an existing repository is kept). */
export function writeExamplesRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(EXAMPLES)) writeFileSync(join(dir, name), text);
  git(dir, ["init", "-q", "-b", "main"]);
  git(dir, ["add", "-A"]);
  git(dir, ["commit", "-q", "--allow-empty", "-m", "mlops example notebooks"]);
}

/**
 * When no repository is registered, register and run the examples; `print` gets the lines for the person at the
 * terminal. Returns the pipeline ids started (empty when the data dir already had repositories).
 */
export async function offerExamples(deps: {
  dataDir: string;
  url: string;
  repos: RepoStore;
  pipelines: PipelineService;
  pipelineStore: PipelineStore;
  print: (line: string) => void;
}): Promise<number[]> {
  if (deps.repos.count() > 0) return [];
  const dir = join(deps.dataDir, "examples");
  writeExamplesRepo(dir);
  const repo = deps.repos.create({ full_name: EXAMPLES_REPO, clone_url: dir, branch: "main" });
  const result = await deps.pipelines.runRepo(repo);
  const ids = result.pipelines.map((p) => p.id);
  deps.print(`examples: registered ${EXAMPLES_REPO} (${dir}) and started pipelines ${ids.join(", ")}; watch one at ${deps.url}/pipelines/${ids[0]}, or with`);
  deps.print(`  curl -N -H "Authorization: Bearer $ADMIN_TOKEN" ${deps.url}/api/pipelines/${ids[0]}/events`);
  void watch(deps, ids);
  return ids;
}

async function watch(deps: { url: string; pipelineStore: PipelineStore; print: (line: string) => void }, ids: number[]): Promise<void> {
  const pending = new Set(ids);
  while (pending.size) {
    await Bun.sleep(500);
    for (const id of [...pending]) {
      const p = deps.pipelineStore.find(id);
      if (!p || p.status === "queued" || p.status === "running") continue;
      pending.delete(id);
      if (p.status !== "succeeded") {
        deps.print(`examples: pipeline ${id} (${p.notebookPath}) ${p.status}: ${p.error ?? ""}`);
        continue;
      }
      deps.print(`examples: ${p.modelName} version ${p.modelVersion} is ready (accuracy ${JSON.parse(p.metrics ?? "{}").accuracy ?? "?"}). Try:`);
      deps.print(`  curl -s -X POST ${deps.url}/models/${p.modelName}/predict -d '{"inputs": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'`);
      deps.print(`  its executed notebook (tables, plots): ${deps.url}/pipelines/${id}/notebook`);
    }
  }
}
