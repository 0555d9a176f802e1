import { beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { makeMixedModels, type MixedModels } from "../testing/test-mixed-models.ts";

// `mlops check-model` run for real (bun src/main.ts) on a model with one input per column: text and numbers.
const ROOT = resolve(import.meta.dir, "..", "..");
let m: MixedModels;
beforeAll(async () => {
  m = await makeMixedModels(mkdtempSync(join(tmpdir(), "mlops-check-model-")));
}, 60_000);

async function checkModel(path: string) {
  const proc = Bun.spawn([process.execPath, join(ROOT, "src", "main.ts"), "check-model", path], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

test("check-model on a model with one input per column prints each input with its type and predicts a row of zeros", async () => {
  const { code, stdout, stderr } = await checkModel(m.classifierPath);
  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  for (const line of ["text: string [?, 1]", "city: string [?, 1]", "age: float32 [?, 1]", "visits: int64 [?, 1]"]) expect(stdout).toContain(line);
  const answer = JSON.parse(stdout.slice(stdout.indexOf("{"))) as { predictions: string[]; probabilities: number[][] };
  expect(m.classes).toContain(answer.predictions[0]!);
  expect(answer.probabilities[0]!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
}, 60_000);
