// The README's first command on a fresh clone: it installs what it needs, starts the server, runs the
// bundled examples, and prints a curl line that works. (The second command is what CI runs: .ci/run.)
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const twoCommands =
  /## Two commands[\s\S]*?```bash\n([\s\S]*?)```/
    .exec(readme)?.[1]
    ?.split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean) ?? [];

let proc: ReturnType<typeof Bun.spawn> | undefined;
afterAll(() => {
  // the server and its children run in their own process group
  if (proc?.pid) {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

test("the README names two commands, and .ci/run runs exactly the second", () => {
  expect(twoCommands).toEqual(["bash scripts/start.sh", "bash scripts/test.sh"]);
  const ci = readFileSync(join(ROOT, ".ci", "run"), "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#") && !/^(set|cd) /.test(l));
  expect(ci).toEqual([twoCommands[1]!]);
});

test("on a fresh clone the first command sets up, serves, deploys the examples and prints a curl line that works; setup again is a no-op", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "mlops-fresh-")), "main");
  const clone = Bun.spawnSync(["git", "clone", "--quiet", ROOT, dir]);
  expect(clone.exitCode).toBe(0);
  const port = (() => {
    const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const p = s.port!;
    s.stop(true);
    return p;
  })();
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/root", PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn" };
  proc = Bun.spawn(["bash", "-c", twoCommands[0]!], { cwd: dir, env, stdout: "pipe", stderr: "pipe", detached: true });
  let out = "";
  const reader = proc.stdout instanceof ReadableStream ? proc.stdout.getReader() : undefined;
  const decoder = new TextDecoder();
  const deadline = Date.now() + 540_000;
  let curlLine: string | undefined;
  while (!curlLine && Date.now() < deadline) {
    const { value, done } = await reader!.read();
    if (done) break;
    out += decoder.decode(value, { stream: true });
    curlLine = out
      .split("\n")
      .find((l) => l.includes("/models/iris/predict -d"))
      ?.trim();
  }
  if (!curlLine) throw new Error(`no curl line was printed:\n${out}\n${await new Response(proc.stderr as ReadableStream).text()}`);
  expect(out).toContain("admin token (shown once, keep it)");
  expect(out).toMatch(/open http:\/\/\S+\/ and sign in with it/);
  expect(out).toMatch(/watch one at http:\/\/\S+\/pipelines\/\d+/);
  const curl = Bun.spawnSync(["bash", "-c", curlLine], { env });
  const answer = JSON.parse(curl.stdout.toString()) as { model: string; version: number; predictions: number[] };
  expect(answer).toMatchObject({ model: "iris", version: 1, predictions: [0, 2] });

  const again = Bun.spawnSync(["bash", "scripts/setup.sh"], { cwd: dir, env });
  expect(again.exitCode).toBe(0);
  expect(again.stdout.toString()).toContain("JavaScript dependencies up to date");
  expect(again.stdout.toString()).toContain("up to date");
  expect(again.stdout.toString()).not.toContain("installing");
}, 600_000);
