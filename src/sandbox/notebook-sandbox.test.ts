import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { NotebookSandbox, SANDBOX_UID_BASE, type SandboxOptions } from "./notebook-sandbox.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const PYTHON = join(ROOT, ".venv", "bin", "python");
const PAPERMILL = join(ROOT, ".venv", "bin", "papermill");
const LIMITS = { dataBytes: 1024 * 1024 * 1024, processes: 64, fileBytes: 8 * 1024 * 1024 };

let base: string;
let dataDir: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "mlops-sandbox-"));
  dataDir = join(base, "data");
  mkdirSync(join(dataDir, "runtime"), { recursive: true });
  writeFileSync(join(dataDir, "mlops.db"), "the server's database");
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const options = (extra: Partial<SandboxOptions> = {}): SandboxOptions => ({
  setting: "bwrap",
  executables: [PAPERMILL, PYTHON],
  privateDirs: [dataDir],
  limits: LIMITS,
  scratchDir: join(dataDir, "runtime"),
  ...extra,
});

/** A fresh work dir for pipeline `id` under the data dir, as the server makes them. */
function workDir(id: number): string {
  const dir = join(dataDir, "pipelines", String(id));
  mkdirSync(join(dir, "repo"), { recursive: true });
  return dir;
}

/** Run python `code` in the sandbox of pipeline `id`; returns exit code and output. */
async function runPython(sandbox: NotebookSandbox, id: number, code: string, network = true) {
  const dir = workDir(id);
  const run = sandbox.prepare(dir, id);
  const proc = Bun.spawn(run.argv([PYTHON, "-c", code], join(dir, "repo"), { network }), {
    env: { PATH: "/usr/bin:/bin", ...run.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code_] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code: code_, stdout, stderr, dir };
}

describe("the notebook sandbox (bubblewrap)", () => {
  test("code inside sees only its own processes, runs as its pipeline's uid without capabilities, under its limits", async () => {
    const sandbox = await NotebookSandbox.start(options());
    expect(sandbox.status).toEqual({ setting: "bwrap", active: true });
    const { code, stdout, stderr } = await runPython(
      sandbox,
      7,
      [
        "import json, os, resource",
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())",
        "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)",
        "print(json.dumps({'pids': pids, 'uid': os.getuid(), 'euid': os.geteuid(), 'groups': os.getgroups(), 'cap_eff': status['CapEff'], 'cap_bnd': status['CapBnd'],",
        "  'no_new_privs': status['NoNewPrivs'], 'data': resource.getrlimit(resource.RLIMIT_DATA), 'nproc': resource.getrlimit(resource.RLIMIT_NPROC),",
        "  'fsize': resource.getrlimit(resource.RLIMIT_FSIZE), 'core': resource.getrlimit(resource.RLIMIT_CORE), 'user': __import__('pwd').getpwuid(os.getuid()).pw_name}))",
      ].join("\n"),
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const seen = JSON.parse(stdout);
    // pid 1 is bubblewrap's reaper, pid 2 the python we started: nothing of the host.
    expect(seen.pids).toEqual([1, 2]);
    expect(seen.uid).toBe(SANDBOX_UID_BASE + 7);
    expect(seen.euid).toBe(SANDBOX_UID_BASE + 7);
    expect(seen.groups).toEqual([]);
    expect(seen.cap_eff).toBe("0000000000000000");
    expect(seen.cap_bnd).toBe("0000000000000000");
    expect(seen.no_new_privs).toBe("1");
    expect(seen.user).toBe("notebook");
    expect(seen.data).toEqual([LIMITS.dataBytes, LIMITS.dataBytes]);
    expect(seen.nproc).toEqual([LIMITS.processes, LIMITS.processes]);
    expect(seen.fsize).toEqual([LIMITS.fileBytes, LIMITS.fileBytes]);
    expect(seen.core).toEqual([0, 0]);
  });

  test("the data dir does not exist inside beyond the run's own work dir; nothing can be written outside it; /tmp is private", async () => {
    const sandbox = await NotebookSandbox.start(options());
    workDir(8); // another pipeline's dir, which must not show
    const marker = `escape-${process.pid}-${Date.now()}`;
    const { code, stdout, stderr, dir } = await runPython(
      sandbox,
      9,
      [
        "import json, os",
        `data = ${JSON.stringify(dataDir)}`,
        "seen = {'data_dir': sorted(os.listdir(data)), 'pipelines': sorted(os.listdir(data + '/pipelines')), 'db': os.path.exists(data + '/mlops.db'), 'root': sorted(os.listdir('/'))}",
        "writes = {}",
        `for target in [data + '/${marker}', data + '/pipelines/8/${marker}', '/${marker}', '/usr/${marker}', '/etc/${marker}', os.path.dirname(data) + '/${marker}', os.environ['HOME'] + '/${marker}', '/tmp/${marker}', os.getcwd() + '/${marker}']:`,
        "    try:",
        "        open(target, 'w').write('x'); writes[target] = 'written'",
        "    except OSError as e:",
        "        writes[target] = e.strerror",
        "seen['writes'] = writes",
        "print(json.dumps(seen))",
      ].join("\n"),
    );
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const seen = JSON.parse(stdout);
    expect(seen.data_dir).toEqual(["pipelines"]);
    expect(seen.pipelines).toEqual(["9"]);
    expect(seen.db).toBe(false);
    // The root holds the system, the runtime's and work dir's mount points, and nothing else of the host.
    const allowed = [
      "bin",
      "sbin",
      "lib",
      "lib32",
      "lib64",
      "libx32",
      "usr",
      "etc",
      "dev",
      "proc",
      "tmp",
      ...[ROOT, dataDir].map((p) => p.split("/")[1]!),
      "root",
    ];
    expect((seen.root as string[]).filter((d) => !allowed.includes(d))).toEqual([]);
    expect(seen.root).not.toContain("home");
    // Written only inside its own work dir: its cwd, its HOME, and /tmp (which is its work dir's .sandbox/tmp).
    const written = Object.entries(seen.writes as Record<string, string>)
      .filter(([, r]) => r === "written")
      .map(([t]) => t);
    expect(written.sort()).toEqual([join(dir, ".sandbox", "home", marker), `/tmp/${marker}`, join(dir, "repo", marker)].sort());
    expect(existsSync(join(dir, ".sandbox", "tmp", marker))).toBe(true);
    // And on the host, nothing appeared outside the work dir.
    for (const outside of [join(dataDir, marker), join(dataDir, "pipelines", "8", marker), join(base, marker), `/${marker}`, `/tmp/${marker}`])
      expect(existsSync(outside)).toBe(false);
  });

  test("NOTEBOOK_NETWORK=off cuts the network: a server on the host's loopback cannot be reached, with it on it can", async () => {
    const sandbox = await NotebookSandbox.start(options());
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("reached") });
    try {
      const probe = `import urllib.request\ntry:\n    print(urllib.request.urlopen('http://127.0.0.1:${server.port}/', timeout=5).read().decode())\nexcept Exception as e:\n    print('unreachable', type(e).__name__)`;
      expect((await runPython(sandbox, 10, probe, true)).stdout.trim()).toBe("reached");
      expect((await runPython(sandbox, 11, probe, false)).stdout.trim()).toStartWith("unreachable");
    } finally {
      server.stop(true);
    }
  });

  test("the work dir belongs to the pipeline's uid (its etc files stay root's), symlinks in it are not followed", async () => {
    const sandbox = await NotebookSandbox.start(options());
    const dir = workDir(12);
    const victim = join(base, "victim");
    writeFileSync(victim, "root's");
    Bun.spawnSync(["ln", "-s", victim, join(dir, "repo", "link")]);
    sandbox.prepare(dir, 12);
    expect(statSync(dir).uid).toBe(SANDBOX_UID_BASE + 12);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "repo")).uid).toBe(SANDBOX_UID_BASE + 12);
    expect(statSync(join(dir, ".sandbox", "etc", "passwd")).uid).toBe(0);
    expect(statSync(victim).uid).toBe(0);
  });
});

describe("when the sandbox cannot run", () => {
  test("auto: runs unsandboxed with the limits still applied, and says why", async () => {
    const sandbox = await NotebookSandbox.start(options({ setting: "auto", bwrap: join(base, "no-such-bwrap") }));
    expect(sandbox.status.active).toBe(false);
    expect(sandbox.status.setting).toBe("auto");
    expect(sandbox.status.problem).toContain("bubblewrap (bwrap) is not installed");
    const { code, stdout } = await runPython(sandbox, 13, "import resource; print(resource.getrlimit(resource.RLIMIT_NPROC)[0])");
    expect(code).toBe(0);
    expect(Number(stdout.trim())).toBe(LIMITS.processes);
  });

  test("bwrap: refuses to start, naming the setting and the problem", async () => {
    const start = NotebookSandbox.start(options({ setting: "bwrap", bwrap: join(base, "no-such-bwrap") }));
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow('invalid NOTEBOOK_SANDBOX="bwrap": the sandbox cannot run here: bubblewrap (bwrap) is not installed');
  });

  test("a runtime directory that contains the data dir is refused (it would be mounted into every notebook)", async () => {
    const start = NotebookSandbox.start(options({ setting: "auto", privateDirs: [join(ROOT, ".venv", "lib")] }));
    await expect(start).rejects.toThrow(/the notebook runtime directory .* contains .*\.venv\/lib/);
  });

  test("off: nothing is probed and the status says pushed code runs with the server's rights", async () => {
    const sandbox = await NotebookSandbox.start(options({ setting: "off", bwrap: join(base, "no-such-bwrap") }));
    expect(sandbox.status).toEqual({ setting: "off", active: false, problem: "NOTEBOOK_SANDBOX=off: pushed code runs with the server's rights" });
  });
});

describe("a server that does not run as root", () => {
  test("bubblewrap makes a user namespace: the code keeps that uid, has no capabilities, cannot make namespaces of its own", async () => {
    // This file's own sandbox code, run by an unprivileged uid on a data dir it owns, with Debian's python (the
    // notebook venv's interpreter may live under /root, which that uid cannot reach).
    const python = "/usr/bin/python3";
    const dir = mkdtempSync(join(tmpdir(), "mlops-sandbox-user-"));
    const work = join(dir, "pipelines", "3");
    mkdirSync(join(work, "repo"), { recursive: true });
    mkdirSync(join(dir, "runtime"));
    Bun.spawnSync(["chown", "-R", "65534:65534", dir]);
    chownSync(dir, 65534, 65534);
    const script = join(dir, "run.ts");
    writeFileSync(
      script,
      [
        `import { NotebookSandbox } from ${JSON.stringify(join(import.meta.dir, "notebook-sandbox.ts"))};`,
        `const sandbox = await NotebookSandbox.start({ setting: "bwrap", executables: [${JSON.stringify(python)}], privateDirs: [${JSON.stringify(dir)}], limits: ${JSON.stringify(LIMITS)}, scratchDir: ${JSON.stringify(join(dir, "runtime"))} });`,
        `const run = sandbox.prepare(${JSON.stringify(work)}, 3);`,
        `const code = "import os, json\\nstatus = dict(l.split(':\\\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\\\t' in l)\\nimport ctypes\\nlibc = ctypes.CDLL(None, use_errno=True)\\nnested = 'made' if libc.unshare(0x10000000) == 0 else os.strerror(ctypes.get_errno())\\nprint(json.dumps({'uid': os.getuid(), 'cap_eff': status['CapEff'], 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'nested': nested}))";`,
        `const p = Bun.spawnSync(run.argv([${JSON.stringify(python)}, "-c", code], ${JSON.stringify(join(work, "repo"))}, { network: false }), { env: { PATH: "/usr/bin:/bin", ...run.env } });`,
        `console.log(p.stdout.toString() || p.stderr.toString());`,
      ].join("\n"),
    );
    chownSync(script, 65534, 65534);
    const bun = process.execPath;
    const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bun, script], { cwd: dir });
    try {
      const out = r.stdout.toString().trim();
      expect(r.stderr.toString()).toBe("");
      const seen = JSON.parse(out.split("\n").pop()!);
      expect(seen.uid).toBe(65534);
      expect(seen.cap_eff).toBe("0000000000000000");
      expect(seen.pids).toEqual([1, 2]);
      expect(seen.nested).not.toBe("made");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
