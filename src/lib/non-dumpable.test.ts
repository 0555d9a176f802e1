// The server makes itself non-dumpable: another process of the same (unprivileged) uid cannot read its environment
// through /proc, where it can read that of an ordinary process of that uid. Runs the real server as a subprocess
// under uid 65534 (as root here; a root reader would pass any check through CAP_SYS_PTRACE).
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnServer, waitForReady, type ServerProcess } from "../testing/server-process.ts";
import { eventually } from "../testing/eventually.ts";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
const SECRET = "secret-the-same-uid-must-not-read-0123456789";

/** What a uid-65534 process gets reading /proc/<pid>/environ: the text, or the error it printed. */
function readEnvironAsNobody(pid: number): { ok: boolean; text: string } {
  const r = Bun.spawnSync([...NOBODY, "cat", `/proc/${pid}/environ`], { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, text: r.stdout.toString() + r.stderr.toString() };
}

const started: { kill(): Promise<void> | void }[] = [];
afterAll(async () => {
  for (const p of started) await p.kill();
});

describe.if(process.getuid?.() === 0)("non-dumpable server", () => {
  test("a process of the server's own uid cannot read its environment; it can read an ordinary process's", async () => {
    // the control: an ordinary process of uid 65534 with the secret in its environment is readable by its uid
    const ordinary = Bun.spawn([...NOBODY, "sleep", "60"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SECRET } });
    started.push({ kill: () => ordinary.kill() });
    // until setpriv has exec'd sleep with the secret in its environment
    const control = await eventually(
      () => {
        const r = readEnvironAsNobody(ordinary.pid);
        return r.text.includes(SECRET) && r;
      },
      { what: "the control process's environment", timeoutMs: 2_000, everyMs: 20 },
    );
    expect(control).toMatchObject({ ok: true });
    expect(control.text).toContain(SECRET);

    const dataDir = mkdtempSync(join(tmpdir(), "mlops-dumpable-"));
    chownSync(dataDir, 65534, 65534);
    const server: ServerProcess = spawnServer({
      dataDir,
      port: freePort(),
      name: "server",
      prefix: NOBODY,
      env: { HOME: dataDir, NOTEBOOK_SANDBOX: "off", GITHUB_TOKEN: SECRET, LOG_LEVEL: "warn" },
    });
    started.push(server);
    await waitForReady(server);
    const attempt = readEnvironAsNobody(server.proc.pid);
    expect(attempt.ok).toBe(false);
    expect(attempt.text).not.toContain(SECRET);
    expect(attempt.text).toContain("Permission denied");
    // the kernel hands a non-dumpable process's /proc entries to root
    expect(statSync(`/proc/${server.proc.pid}/environ`).uid).toBe(0);
    expect(server.output()).not.toContain("could not make itself non-dumpable");
  }, 60_000);
});
