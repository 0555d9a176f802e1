// Test support: Debian's HAProxy with the repository's own deploy/haproxy.cfg, on loopback, in front of replicas the
// test started. The config reads its addresses from the environment, as compose sets them.
import { join } from "node:path";
import { ROOT } from "./e2e.ts";
import { freePort, waitUntil } from "./server-process.ts";

export type HaproxyProcess = {
  /** Where clients send predictions: http://127.0.0.1:<port>. */
  base: string;
  proc: Bun.Subprocess;
  /** What HAProxy printed (its warnings: servers going down and up). */
  output(): string;
  stop(): Promise<void>;
};

/** Start HAProxy (foreground) on a free port before `replicas` (two "127.0.0.1:<port>" addresses); resolves once it accepts connections. */
export async function startHaproxy(replicas: [string, string]): Promise<HaproxyProcess> {
  const port = freePort();
  let out = "";
  const proc = Bun.spawn(["haproxy", "-db", "-f", join(ROOT, "deploy", "haproxy.cfg")], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LISTEN_ADDR: `127.0.0.1:${port}`, REPLICA1_ADDR: replicas[0], REPLICA2_ADDR: replicas[1] },
    stdout: "pipe",
    stderr: "pipe",
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const reader = stream.getReader();
      const decoder = new TextDecoder();
      for (let r = await reader.read(); !r.done; r = await reader.read()) out += decoder.decode(r.value, { stream: true });
    })();
  }
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(
    "HAProxy to listen",
    async () => {
      if (proc.exitCode !== null) throw new Error(`haproxy exited (${proc.exitCode}): ${out}`);
      return fetch(`${base}/health`).then(
        () => true,
        () => undefined,
      );
    },
    10_000,
  );
  return {
    base,
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
