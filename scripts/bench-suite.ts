// Is the test suite slower than at an earlier revision? Runs the baseline revision's suite and the current one's
// (HEAD, or a second revision), one after the other on this machine, and compares the time of the tests both have (matched by their describe
// path and name, since files moved) and of the test files both have (matched by file name, hooks included).
//
//   bun scripts/bench-suite.ts [baseline revision] [current revision]
//   (defaults: the commit before issue 9's changes, and HEAD)
//
// Each runs in a temporary worktree sharing this checkout's node_modules and Python environments (so the checkout
// may be edited meanwhile); the fixtures that older revisions read from a `shared/` folder beside the repository are
// provided there.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BASELINE = process.argv[2] ?? "25a8627";
const CURRENT = process.argv[3] ?? "HEAD";
const BUN = join(ROOT, "node_modules", ".bin", "bun");

type Run = { wallS: number; tests: Map<string, number>; files: Map<string, number>; passed: number; failed: number; failures: string[] };

function git(...args: string[]): string {
  const r = Bun.spawnSync(["git", ...args], { cwd: ROOT, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString().trim();
}

const unescape = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
const attr = (tag: string, name: string) => unescape(tag.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1] ?? "");

/** Per-test and per-file seconds from bun's JUnit report. */
function parseJunit(xml: string): Pick<Run, "tests" | "files" | "passed" | "failed" | "failures"> {
  const tests = new Map<string, number>();
  const files = new Map<string, number>();
  let passed = 0;
  let failed = 0;
  const failures: string[] = [];
  for (const [tag] of xml.matchAll(/<testsuite [^>]*>/g)) {
    const file = attr(tag, "file");
    // A file's top-level suite carries its name as its file; nested describe blocks carry the describe name.
    if (attr(tag, "name") === file) files.set(basename(file), Number(attr(tag, "time")));
  }
  for (const m of xml.matchAll(/<testcase [^>]*?(\/>|>[\s\S]*?<\/testcase>)/g)) {
    const tag = m[0];
    if (/<skipped/.test(tag)) continue;
    if (/<failure/.test(tag)) {
      failed++;
      failures.push(`${attr(tag, "file")}: ${attr(tag, "classname")} > ${attr(tag, "name")}`);
    } else passed++;
    tests.set(`${attr(tag, "classname")} > ${attr(tag, "name")}`, Number(attr(tag, "time")));
  }
  return { tests, files, passed, failed, failures };
}

async function runSuite(cwd: string, label: string): Promise<Run> {
  const report = join(tmpdir(), `mlops-suite-${label}-${process.pid}.xml`);
  console.log(`running the ${label} suite in ${cwd} ...`);
  const started = performance.now();
  const proc = Bun.spawn([BUN, "test", "--timeout", "120000", "--reporter=junit", `--reporter-outfile=${report}`], {
    cwd,
    stdout: "ignore",
    stderr: "ignore",
  });
  await proc.exited;
  const wallS = (performance.now() - started) / 1000;
  const parsed = parseJunit(readFileSync(report, "utf8"));
  rmSync(report, { force: true });
  console.log(`  ${label}: ${parsed.passed} passed, ${parsed.failed} failed in ${wallS.toFixed(0)} s`);
  for (const f of parsed.failures) console.log(`    failed: ${f}`);
  return { wallS, ...parsed };
}

function common(a: Map<string, number>, b: Map<string, number>): { n: number; a: number; b: number } {
  let n = 0;
  let sa = 0;
  let sb = 0;
  for (const [key, t] of a) {
    const u = b.get(key);
    if (u === undefined) continue;
    n++;
    sa += t;
    sb += u;
  }
  return { n, a: sa, b: sb };
}

const work = mkdtempSync(join(tmpdir(), "mlops-bench-suite-"));
const trees: string[] = [];
/** A worktree of `rev` under work/<name>, with shared/ beside it. */
function checkout(rev: string, name: string): string {
  const tree = join(work, name);
  git("worktree", "add", "--detach", tree, rev);
  trees.push(tree);
  for (const link of ["node_modules", ".venv", ".venv-test", ".venv-mlflow"]) symlinkSync(join(ROOT, link), join(tree, link));
  return tree;
}
try {
  mkdirSync(join(work, "shared", "fixtures"), { recursive: true });
  cpSync(join(ROOT, "src", "testing", "fixtures", "github-webhooks"), join(work, "shared", "fixtures", "github-webhooks"), { recursive: true });
  const before = await runSuite(checkout(BASELINE, "baseline"), `baseline ${BASELINE}`);
  const after = await runSuite(checkout(CURRENT, "current"), `current ${CURRENT}`);
  const tests = common(before.tests, after.tests);
  const files = common(before.files, after.files);
  console.log("");
  console.log(`| | baseline ${BASELINE} | ${CURRENT} | ratio |`);
  console.log("|---|---|---|---|");
  console.log(
    `| whole suite (wall) | ${before.wallS.toFixed(0)} s, ${before.passed + before.failed} tests | ${after.wallS.toFixed(0)} s, ${after.passed + after.failed} tests | ${(after.wallS / before.wallS).toFixed(2)} |`,
  );
  console.log(`| the ${tests.n} tests both have | ${tests.a.toFixed(1)} s | ${tests.b.toFixed(1)} s | ${(tests.b / tests.a).toFixed(2)} |`);
  console.log(
    `| the ${files.n} test files both have (hooks included) | ${files.a.toFixed(1)} s | ${files.b.toFixed(1)} s | ${(files.b / files.a).toFixed(2)} |`,
  );
} finally {
  for (const tree of trees) {
    try {
      git("worktree", "remove", "--force", tree);
    } catch (err) {
      console.error(String(err));
    }
  }
  rmSync(work, { recursive: true, force: true });
}
