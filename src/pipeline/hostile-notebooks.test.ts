// Attacks by pushed code, carried out for real: notebooks pushed through git to a real server, run by papermill in
// the sandbox (src/sandbox/), hunting for the server's secrets, writing outside their work dir, signalling the
// server, exhausting memory, processes, disk and the log, and a model whose unpickling runs code.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SANDBOX_UID_BASE } from "../sandbox/notebook-sandbox.ts";
import { ADMIN_TOKEN, makeRepo, notebook, sendPush, signIn, startTestServer, WEBHOOK_SECRET, type TestServer } from "../testing/e2e.ts";
import { startGitHubStandIn } from "../testing/github-stand-in.ts";
import {
  exportNotebook,
  modelNotebook,
  processesMentioning,
  registerRepo,
  sleeperNotebook,
  tinyOnnxBase64,
  waitForCreated,
  waitForLog,
  workDirOf,
} from "../testing/pipeline-fixtures.ts";
import { spawnServerProcess, type ServerProcess } from "../testing/server-process.ts";

const GITHUB_TOKEN = `ghp_${randomUUID().replaceAll("-", "")}`;
const ADMIN_TOKEN_SHA256 = createHash("sha256").update(ADMIN_TOKEN).digest("hex");
const SECRETS = { ADMIN_TOKEN, WEBHOOK_SECRET, GITHUB_TOKEN, ADMIN_TOKEN_SHA256 };

type Pipeline = { id: number; status: string; error: string | null; phases: { name: string; status: string; error: string | null }[] };
type Api = Pick<TestServer, "api">;

// With a timeout: a server the notebook managed to stop must fail the test, not hang it.
async function pipelineOf(server: Api, id: number): Promise<Pipeline> {
  return (await (await server.api(`/api/pipelines/${id}`, { signal: AbortSignal.timeout(10_000) })).json()) as Pipeline;
}

function waitForEnd(server: Api, id: number, timeoutMs = 90_000): Promise<Pipeline> {
  return eventually(
    async () => {
      const p = await pipelineOf(server, id);
      return !["queued", "running"].includes(p.status) && p;
    },
    { what: `pipeline ${id} to end`, timeoutMs, everyMs: 100 },
  );
}

/** Push `files` as a new repository `fullName` to `server` and return the one pipeline it starts. */
async function pushRepo(server: Api & { base: string }, fullName: string, files: Record<string, string>): Promise<number> {
  const repo = makeRepo(files);
  const repoId = await registerRepo(server, fullName, repo.dir);
  const res = await sendPush(server.base, { fullName, cloneUrl: repo.dir, after: repo.sha });
  expect(res.status).toBe(202);
  return (await waitForCreated(server, repoId))[0]!.id;
}

/** Every file under `dir` (recursively), as latin1 text, for grepping. */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) out.push({ path, text: readFileSync(path, "latin1") });
  }
  return out;
}

/** Names of the secrets that appear in `text`. */
const leaked = (text: string) =>
  Object.entries(SECRETS)
    .filter(([, v]) => text.includes(v))
    .map(([k]) => k);

// The attack: everything a notebook would try to take over the server, recorded in output/loot.json.
const HUNT = String.raw`
import json, os, signal
loot = {"env": dict(os.environ), "proc": {}, "files": {}, "writes": {}, "signals": {}}
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for f in ("environ", "cmdline", "status"):
            try:
                loot["proc"][pid + "/" + f] = open("/proc/%s/%s" % (pid, f), "rb").read().decode("latin1")
            except Exception as e:
                loot["proc"][pid + "/" + f] = "refused: " + type(e).__name__
# Every file reachable, walking up from every path the platform gave, then the whole tree (big runtime dirs aside).
starts = [MODEL_OUTPUT_PATH, METRICS_OUTPUT_PATH, os.getcwd(), os.environ.get("HOME", "/"), "/"]
dirs = set()
for start in starts:
    d = os.path.dirname(start)
    while True:
        dirs.add(d)
        if d == "/":
            break
        d = os.path.dirname(d)
for top in sorted(dirs):
    for root, subdirs, files in os.walk(top):
        subdirs[:] = [s for s in subdirs if os.path.join(root, s) not in ("/usr", "/proc", "/dev", "/sys") and "site-packages" not in root and "/lib/python3" not in root]
        for name in files:
            p = os.path.join(root, name)
            if p in loot["files"] or "/output/loot" in p:
                continue
            try:
                loot["files"][p] = open(p, "rb").read(2_000_000).decode("latin1")
            except Exception as e:
                loot["files"][p] = "refused: " + type(e).__name__
# Writes outside the work dir: every directory above the given paths, and the usual places.
for d in sorted(dirs) + ["/", "/tmp", "/root", "/etc", "/usr/local", "/var/tmp", "/dev/shm"]:
    target = os.path.join(d, "ESCAPE_MARKER")
    try:
        open(target, "w").write("escaped")
        loot["writes"][target] = "written"
    except Exception as e:
        loot["writes"][target] = "refused: " + type(e).__name__
# Stop the server, found up the parent chain past papermill: every ancestor until the server itself (stopping
# the test runner above it would only hide the failure).
def ppid(pid):
    return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
chain, pid = [], os.getpid()
while pid > 1:
    pid = ppid(pid)
    chain.append(pid)
loot["chain"] = chain
for pid in chain:
    cmd = open("/proc/%d/cmdline" % pid, "rb").read()
    if b"papermill" in cmd or b"ipykernel" in cmd:
        continue
    try:
        os.kill(pid, signal.SIGSTOP)
        loot["signals"][str(pid)] = "stopped"
    except Exception as e:
        loot["signals"][str(pid)] = "refused: " + type(e).__name__
    if b"serve" in cmd:
        break
os.makedirs(os.path.dirname(MODEL_OUTPUT_PATH), exist_ok=True)
json.dump(loot, open(os.path.join(os.path.dirname(MODEL_OUTPUT_PATH), "loot.json"), "w"))
print("LOOT", json.dumps(loot)[:5_000_000])
`;
import { eventually } from "../testing/eventually.ts";

describe("a notebook that hunts for the server's secrets (server in its own process)", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-hostile-"));
  const github = startGitHubStandIn();
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill();
    await github.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("finds none of the admin token, webhook secret, GITHUB_TOKEN or token hash, writes nothing outside its work dir, cannot signal the server", async () => {
    server = await spawnServerProcess(dataDir, { GITHUB_TOKEN, GITHUB_API_URL: github.url });
    const onnx = await tinyOnnxBase64();
    const marker = `escape-${randomUUID()}`;
    const hunt = HUNT.replaceAll("ESCAPE_MARKER", marker);
    const id = await pushRepo(server, "mallory/hunt", { "hunt.ipynb": modelNotebook("hunted", onnx, hunt) });
    const ended = await waitForEnd(server, id);

    // The server kept answering and was never stopped.
    const health = await fetch(`${server.base}/health`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).toBe(200);
    expect(((await health.json()) as { sandbox: string }).sandbox).toBe("bwrap");
    expect(readFileSync(`/proc/${server.proc.pid}/stat`, "utf8").split(") ")[1]![0]).not.toBe("T");
    expect(ended.status).toBe("succeeded");

    // It did hunt: the loot is there, and it read the files it could reach.
    const work = workDirOf(dataDir, id);
    const loot = JSON.parse(readFileSync(join(work, "output", "loot.json"), "utf8")) as {
      proc: Record<string, string>;
      files: Record<string, string>;
      writes: Record<string, string>;
      signals: Record<string, string>;
      chain: number[];
    };
    expect(Object.keys(loot.files).length).toBeGreaterThan(5);
    // Only its own sandbox's processes are in view: bubblewrap's reaper (pid 1), papermill, the kernel.
    const pids = new Set(Object.keys(loot.proc).map((k) => Number(k.split("/")[0])));
    expect(pids.size).toBeLessThanOrEqual(4);
    expect(pids.has(server.proc.pid)).toBe(false);
    expect(Object.values(loot.proc).join("\n")).not.toContain("bun");
    expect(loot.chain.at(-1)).toBe(1);
    expect(Object.values(loot.signals).every((r) => r.startsWith("refused"))).toBe(true);
    // The database and the data dir's other files do not exist inside.
    expect(Object.keys(loot.files).filter((p) => p.endsWith("mlops.db") || p.includes("/server.") || p.includes("/git/"))).toEqual([]);

    // No secret anywhere: not in its log, not in anything it wrote.
    const log = await (await server.api(`/api/pipelines/${id}/logs`)).text();
    expect(log).toContain("LOOT");
    expect(leaked(log)).toEqual([]);
    for (const f of filesUnder(work)) expect({ file: f.path, leaked: leaked(f.text) }).toEqual({ file: f.path, leaked: [] });

    // Nothing written outside its work dir: every place it reported writing is inside, and no marker outside.
    const written = Object.entries(loot.writes)
      .filter(([, r]) => r === "written")
      .map(([t]) => t);
    const privateToIt = [`/tmp/${marker}`, `/dev/shm/${marker}`];
    expect(written.filter((t) => !t.startsWith(work) && !privateToIt.includes(t))).toEqual([]);
    for (const dir of [dataDir, join(dataDir, "pipelines"), "/", "/tmp", "/root", "/etc", "/var/tmp", "/dev/shm", tmpdir()]) {
      expect(existsSync(join(dir, marker))).toBe(false);
    }
    // Its HOME and /tmp lived inside the work dir and went with the run; the executed notebook stays.
    expect(existsSync(join(work, ".sandbox"))).toBe(false);
    expect(existsSync(join(work, "executed.ipynb"))).toBe(true);
  }, 180_000);
});

describe("notebooks past their limits (server in process)", () => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  test("memory, processes and file size: each fails at execute with a reason naming its setting; the server is unaffected", async () => {
    server = await startTestServer({ NOTEBOOK_MEMORY_MB: "700", NOTEBOOK_MAX_PROCESSES: "64", NOTEBOOK_MAX_FILE_MB: "5", WORKER_CONCURRENCY: "1" });
    const cases = [
      { name: "memory", training: "hog = bytearray(3 * 1024**3)", setting: "NOTEBOOK_MEMORY_MB=700" },
      {
        name: "processes",
        training: "import subprocess\nkids = [subprocess.Popen(['sleep', '60']) for _ in range(200)]",
        setting: "NOTEBOOK_MAX_PROCESSES=64",
      },
      { name: "disk", training: "open('big.bin', 'wb').write(b'x' * 10 * 1024 * 1024)", setting: "NOTEBOOK_MAX_FILE_MB=5" },
    ];
    const ids: Record<string, number> = {};
    const onnx = await tinyOnnxBase64();
    for (const c of cases) ids[c.name] = await pushRepo(server, `mallory/${c.name}`, { "n.ipynb": modelNotebook(c.name, onnx, c.training) });
    for (const c of cases) {
      const p = await waitForEnd(server, ids[c.name]!);
      expect({ name: c.name, status: p.status }).toEqual({ name: c.name, status: "failed" });
      expect(p.phases.find((ph) => ph.name === "execute")!.status).toBe("failed");
      expect(p.error).toContain(c.setting);
      // The limit's own processes are gone with the sandbox.
      expect(processesMentioning(workDirOf(server.dataDir, ids[c.name]!))).toEqual([]);
    }
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
  }, 240_000);

  test("a notebook that prints without end: the log stops at NOTEBOOK_LOG_MAX_BYTES with one marker, long lines are cut, server memory stays flat", async () => {
    await server?.stop();
    server = await startTestServer({
      NOTEBOOK_LOG_MAX_BYTES: "200000",
      NOTEBOOK_LOG_LINE_MAX_CHARS: "1000",
      PIPELINE_TIMEOUT_SECONDS: "25",
      WORKER_CONCURRENCY: "1",
    });
    const training = ["import sys", "sys.stdout.write('y' * 20_000_000 + '\\n'); sys.stdout.flush()", "while True:", "    print('x' * 2000)"].join("\n");
    Bun.gc(true);
    const rssBefore = process.memoryUsage().rss;
    const id = await pushRepo(server, "mallory/printer", {
      "p.ipynb": notebook([
        { tags: ["mlops:config"], source: 'MODEL_NAME = "printer"\nVERSION = "1"' },
        { tags: ["mlops:preprocessing"], source: "pass" },
        { tags: ["mlops:training"], source: training },
        { tags: ["mlops:export"], source: "pass" },
      ]),
    });
    const p = await waitForEnd(server, id, 120_000);
    expect(p.status).toBe("timed_out");
    const log = await (await server.api(`/api/pipelines/${id}/logs`)).text();
    const markers = log.split("\n").filter((l) => l.includes("log limit reached"));
    expect(markers).toHaveLength(1);
    expect(markers[0]).toContain("NOTEBOOK_LOG_MAX_BYTES=200000");
    // What the notebook printed is kept up to the limit (the platform's own lines come on top).
    expect(log.length).toBeLessThan(200_000 + 20_000);
    expect(log).toContain("x".repeat(1000) + " … [line cut");
    expect(Math.max(...log.split("\n").map((l) => l.length))).toBeLessThan(1300);
    // It printed far more than was kept: the 20 MB line alone. The server held none of it.
    Bun.gc(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(150 * 1024 * 1024);
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
  }, 180_000);
});

describe("outputs that point the server elsewhere (server in process)", () => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  test("a metrics file symlinked to the database and a model that is a FIFO fail at register; the server never reads or blocks on them", async () => {
    server = await startTestServer({ WORKER_CONCURRENCY: "1" });
    const onnx = await tinyOnnxBase64();
    // The data dir is three levels above MODEL_OUTPUT_PATH (<data>/pipelines/<id>/output/model).
    const database = "os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(MODEL_OUTPUT_PATH)))), 'mlops.db')";
    const symlinked = exportNotebook(
      "symlinked",
      [`open(MODEL_OUTPUT_PATH, "wb").write(base64.b64decode("${onnx}"))`, `os.symlink(${database}, METRICS_OUTPUT_PATH)`].join("\n"),
    );
    const fifo = exportNotebook("fifo", "os.mkfifo(MODEL_OUTPUT_PATH)");
    const a = await pushRepo(server, "mallory/symlink", { "s.ipynb": symlinked });
    const b = await pushRepo(server, "mallory/fifo", { "f.ipynb": fifo });
    for (const [id, reason] of [
      [a, "the metrics file at METRICS_OUTPUT_PATH is a symbolic link"],
      [b, "the model at MODEL_OUTPUT_PATH is not a regular file"],
    ] as const) {
      const p = await waitForEnd(server, id);
      expect(p.status).toBe("failed");
      expect(p.phases.find((ph) => ph.name === "register")).toMatchObject({ status: "failed" });
      expect(p.error).toContain(reason);
    }
    expect((await fetch(`${server.base}/health`, { signal: AbortSignal.timeout(2_000) })).status).toBe(200);
    expect((await fetch(`${server.base}/models/symlinked/predict`, { method: "POST", body: '{"inputs": [[1,2,3,4]]}' })).status).toBe(404);
  }, 120_000);
});

describe("a model whose unpickling runs code (server in process)", () => {
  let server: TestServer;
  afterAll(async () => server?.stop());

  test("the converter runs it in the pipeline's sandbox without network: its own uid, its own processes, no secret, nothing written outside", async () => {
    server = await startTestServer({ GITHUB_TOKEN, GITHUB_API_URL: "http://127.0.0.1:9" });
    const marker = `pickle-${randomUUID()}`;
    const payload = [
      "import json, os, socket",
      "seen = {'uid': os.getuid(), 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'env': dict(os.environ), 'writes': {}}",
      `for d in ['/', '/tmp', ${JSON.stringify(server.dataDir)}, os.path.dirname(${JSON.stringify(server.dataDir)})]:`,
      "    try:",
      `        open(os.path.join(d, '${marker}'), 'w').write('x'); seen['writes'][d] = 'written'`,
      "    except OSError as e:",
      "        seen['writes'][d] = e.strerror",
      "try:",
      `    socket.create_connection(('127.0.0.1', ${new URL(server.base).port}), timeout=3); seen['network'] = 'reached the server'`,
      "except OSError as e:",
      "    seen['network'] = 'unreachable'",
      // The converter's argv: <script> <in.joblib> <out.onnx> <hint>.
      "open(os.path.join(os.path.dirname(__import__('sys').argv[1]), 'converter-saw.json'), 'w').write(json.dumps(seen))",
    ].join("\n");
    const exportCell = [
      "import pickle",
      "class Evil:",
      "    def __reduce__(self):",
      `        return (exec, (${JSON.stringify(payload)},))`,
      "pickle.dump(Evil(), open(MODEL_OUTPUT_PATH, 'wb'))",
      'json.dump({"accuracy": 1.0}, open(METRICS_OUTPUT_PATH, "w"))',
    ].join("\n");
    const id = await pushRepo(server, "mallory/pickle", { "m.ipynb": exportNotebook("pickled", exportCell) });
    const p = await waitForEnd(server, id);
    expect(p.status).toBe("failed");
    expect(p.phases.find((ph) => ph.name === "register")!.status).toBe("failed");

    const saw = JSON.parse(readFileSync(join(workDirOf(server.dataDir, id), "output", "converter-saw.json"), "utf8")) as {
      uid: number;
      pids: number[];
      env: Record<string, string>;
      writes: Record<string, string>;
      network: string;
    };
    expect(saw.uid).toBe(SANDBOX_UID_BASE + id);
    expect(saw.pids).toEqual([1, 2]);
    expect(leaked(JSON.stringify(saw.env))).toEqual([]);
    // Inside, the data dir's path is a directory of its private /tmp (the data dir lies under /tmp here), so what it
    // could write landed in its own work dir; on the host, no marker outside it.
    expect(saw.writes["/"]).not.toBe("written");
    expect(saw.network).toBe("unreachable");
    for (const d of ["/", "/tmp", server.dataDir, join(server.dataDir, "..")]) expect(existsSync(join(d, marker))).toBe(false);
    const log = await (await server.api(`/api/pipelines/${id}/logs`)).text();
    expect(leaked(log)).toEqual([]);
    expect((await fetch(`${server.base}/models/pickled/predict`, { method: "POST", body: '{"inputs": [[1,2,3,4]]}' })).status).toBe(404);
  }, 120_000);
});

describe("where the sandbox cannot run (server in process)", () => {
  test("auto starts anyway and says so at /health and on the pipeline pages; bwrap refuses to start", async () => {
    const { loadConfig } = await import("../config.ts");
    const { startServer } = await import("../server.ts");
    const { ConfigError } = await import("../lib/errors.ts");
    const dir = mkdtempSync(join(tmpdir(), "mlops-nosandbox-"));
    const env = { DATA_DIR: dir, PORT: "0", HOST: "127.0.0.1", ADMIN_TOKEN, GITHUB_WEBHOOK_SECRET: WEBHOOK_SECRET, LOG_LEVEL: "silent" };
    const missing = join(dir, "no-bwrap-here");
    const server = await startServer(loadConfig(env), { bwrap: missing });
    try {
      const health = (await (await fetch(`http://127.0.0.1:${server.port}/health`)).json()) as Record<string, string>;
      expect(health.status).toBe("ok");
      expect(health.sandbox).toBe("unavailable");
      expect(health.sandbox_problem).toContain("bubblewrap (bwrap) is not installed");
      const row = server.pipelineStore.create({ repoId: null, trigger: "manual", ref: "refs/heads/main", commitSha: "a".repeat(40), notebookPath: "n.ipynb" });
      const cookie = await signIn(`http://127.0.0.1:${server.port}`);
      for (const page of ["/pipelines", `/pipelines/${row.id}`]) {
        const html = await (await fetch(`http://127.0.0.1:${server.port}${page}`, { headers: { Cookie: cookie } })).text();
        expect(html).toContain("Notebooks are not sandboxed");
      }
    } finally {
      await server.stop();
    }
    const refused = startServer(loadConfig({ ...env, NOTEBOOK_SANDBOX: "bwrap" }), { bwrap: missing });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow("NOTEBOOK_SANDBOX");
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("a server killed while a sandboxed notebook runs", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "mlops-hostile-kill-"));
  let server: ServerProcess | undefined;
  afterAll(async () => {
    await server?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("takes the notebook with it: no papermill or kernel outlives the server", async () => {
    server = await spawnServerProcess(dataDir);
    const id = await pushRepo(server, "acme/sleepy", { "s.ipynb": sleeperNotebook("sleepy", "the kernel is sleeping") });
    await waitForLog(server, id, "the kernel is sleeping");
    const work = workDirOf(dataDir, id);
    expect(processesMentioning(work).length).toBeGreaterThanOrEqual(2);
    expect(statSync(work).uid).toBe(SANDBOX_UID_BASE + id);
    await server.kill();
    await eventually(() => processesMentioning(work).length === 0, { what: "the notebook's processes to die with the server", timeoutMs: 5_000 });
  }, 60_000);
});
