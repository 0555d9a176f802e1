// Shared pieces of the benchmark scripts: wrk runs, medians, free ports, printing.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Median of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Make sure wrk (Debian's package) is installed; installs it with apt-get when missing. */
export function ensureWrk(): void {
  if (Bun.which("wrk")) return;
  console.log("installing wrk (apt-get)…");
  const r = Bun.spawnSync(["bash", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"], {
    stdout: "inherit",
    stderr: "inherit",
  });
  if (r.exitCode !== 0 || !Bun.which("wrk")) throw new Error("wrk is needed for this benchmark: apt-get install wrk");
}

/**
 * What wrk measured, and the share of CPU time the hypervisor took from this machine meanwhile (`stealPct`, from
 * /proc/stat; NaN where it cannot be read): a run with steal of a few percent measured the host, not the server.
 */
export type WrkResult = { requestsPerSec: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number; requests: number; stealPct: number };

/**
 * Run wrk against `url` with an optional Lua script; parses requests/s, latency percentiles and errors.
 * Asynchronous on purpose: the server under test may live in this very process.
 */
export async function wrk(url: string, opts: { connections: number; seconds: number; threads?: number; lua?: string }): Promise<WrkResult> {
  const args = ["wrk", `-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, "--latency"];
  if (opts.lua) {
    const file = join(mkdtempSync(join(tmpdir(), "mlops-wrk-")), "script.lua");
    writeFileSync(file, opts.lua);
    args.push("-s", file);
  }
  args.push(url);
  const cpuBefore = cpuTimes();
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const cpuAfter = cpuTimes();
  if (code !== 0) throw new Error(`wrk failed: ${err}${out}`);
  const ms = (s: string | undefined) => {
    const m = /([\d.]+)(us|ms|s)/.exec(s ?? "");
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: ms(/\s50%\s+(\S+)/.exec(out)?.[1]),
    p99Ms: ms(/\s99%\s+(\S+)/.exec(out)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: errors
      ? errors
          .slice(1)
          .map(Number)
          .reduce((a, b) => a + b, 0)
      : 0,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
    stealPct: stealPercent(cpuBefore, cpuAfter),
  };
}

/** The machine-wide CPU counters of /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal, ...), or [] off Linux. */
function cpuTimes(): number[] {
  try {
    return readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return [];
  }
}

function stealPercent(before: number[], after: number[]): number {
  if (before.length < 8 || after.length < 8) return NaN;
  const total = after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0);
  return total > 0 ? (100 * (after[7]! - before[7]!)) / total : NaN;
}

/** A free TCP port on loopback. */
export function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port!;
  s.stop(true);
  return port;
}

/** Print a two-column table. */
export function table(rows: [string, string][]): void {
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}
