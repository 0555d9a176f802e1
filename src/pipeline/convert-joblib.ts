// joblib scikit-learn model → ONNX with the notebook environment's python (skl2onnx), checked for agreement.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import script from "./python/convert_sklearn.py" with { type: "text" };

/** Write the embedded converter script under `runtimeDir` (once per content) and return its path. */
export function installConverter(runtimeDir: string): string {
  mkdirSync(runtimeDir, { recursive: true });
  const path = join(runtimeDir, "convert_sklearn.py");
  let current = "";
  try {
    current = readFileSync(path, "utf8");
  } catch {
    // not there yet
  }
  if (current !== script) writeFileSync(path, script);
  return path;
}

/**
 * Convert `input` (joblib) to `output` (ONNX). Resolves when converted and agreeing with the original;
 * rejects with the converter's one-line reason otherwise. Converter stderr goes to `log`.
 */
export async function convertJoblib(opts: { python: string; runtimeDir: string; input: string; output: string; log: (line: string) => void; timeoutMs?: number }): Promise<void> {
  const scriptPath = installConverter(opts.runtimeDir);
  const proc = Bun.spawn([opts.python, scriptPath, opts.input, opts.output, "0"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: opts.runtimeDir, LANG: "C.UTF-8", PYTHONUNBUFFERED: "1" },
    timeout: opts.timeoutMs ?? 300_000,
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  const lastLine = stdout.trim().split("\n").pop() ?? "";
  let result: { ok?: boolean; error?: string; agreement?: number; rows?: number } = {};
  try {
    result = JSON.parse(lastLine);
  } catch {
    // no JSON: the interpreter itself failed (missing packages, killed by the timeout)
  }
  if (code === 0 && result.ok) {
    opts.log(`converted to ONNX; agrees with the original on ${result.rows ?? "?"} sample rows`);
    return;
  }
  for (const line of stderr.split("\n").filter(Boolean).slice(-20)) opts.log(line);
  throw new Error(result.error ?? `the converter exited with code ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}; is scikit-learn/skl2onnx installed for ${opts.python}?`);
}
