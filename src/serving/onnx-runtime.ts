// Loads onnxruntime-node the same way under `bun run`/`bun test` and inside a `bun build --compile`
// executable, whose embedded binding cannot find libonnxruntime.so.1 on its own (it looks beside its own file).
import { dlopen } from "bun:ffi";
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import ortPackage from "../../node_modules/onnxruntime-node/package.json" with { type: "json" };
import embeddedLibrary from "../../node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1" with { type: "file" };

type Ort = typeof import("onnxruntime-node");

const SONAME = "libonnxruntime.so.1";
let loading: Promise<Ort> | undefined;
// Kept reachable so the preloaded library is never closed while the binding uses it.
let preloaded: unknown;

/**
 * onnxruntime-node, ready to use. Memoized for the process (a native library loads once per process
 * anyway). Rejects with a message naming every cache directory tried when the library cannot be loaded.
 */
export function loadOnnxRuntime(): Promise<Ort> {
  loading ??= load().catch((e) => {
    loading = undefined; // let a later call retry, e.g. after the operator fixed a cache directory
    throw e;
  });
  return loading;
}

async function load(): Promise<Ort> {
  disableTelemetry();
  // The embedded library is the linux-x64 build; elsewhere the package's own loader works under `bun run`.
  if (process.platform === "linux" && process.arch === "x64") preloaded = await preloadLibrary(String(embeddedLibrary));
  // A dynamic import: a static one would be hoisted above the preload.
  return await import("onnxruntime-node");
}

// onnxruntime 1.30 on Linux otherwise keeps a device id and event database under ~/.cache/Microsoft,
// leaves a mat-debug-<pid>.log in the temp dir per process, and carries code to upload telemetry over HTTPS.
// A self-hosted server stays quiet unless the operator sets ORT_DISABLE_TELEMETRY (0 opts in).
function disableTelemetry(): void {
  if (process.env.ORT_DISABLE_TELEMETRY !== undefined) return;
  process.env.ORT_DISABLE_TELEMETRY = "1";
  // Bun's process.env is not the C environment the library reads with getenv: set it there too.
  try {
    const libc = dlopen("libc.so.6", { setenv: { args: ["cstring", "cstring", "i32"], returns: "i32" } });
    libc.symbols.setenv(Buffer.from("ORT_DISABLE_TELEMETRY\0"), Buffer.from("1\0"), 0);
    libc.close();
  } catch {
    // Not glibc: onnxruntime keeps its default, which changes nothing about serving.
  }
}

/** Copy the library to a private cache directory and dlopen it, so the binding finds it by its soname. */
async function preloadLibrary(source: string): Promise<unknown> {
  const size = Bun.file(source).size;
  const failures: string[] = [];
  for (const base of cacheBases()) {
    const dir = join(base, `ort-${ortPackage.version}-${size}`);
    try {
      const path = await materialize(source, size, base, dir);
      return dlopen(path, { OrtGetApiBase: { args: [], returns: "ptr" } });
    } catch (e) {
      failures.push(`${dir}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`could not load onnxruntime (${SONAME}); tried:\n  ${failures.join("\n  ")}`);
}

function cacheBases(): string[] {
  const uid = process.getuid?.() ?? 0;
  const xdg = process.env.XDG_CACHE_HOME;
  const bases = xdg ? [join(xdg, "mlops")] : [];
  // HOME may be unset or unwritable (containers, service users): the temp dir is the last resort.
  if (process.env.HOME) bases.push(join(homedir(), ".cache", "mlops"));
  bases.push(join(tmpdir(), `mlops-${uid}`));
  return bases;
}

/** The cached copy's path, written only when no complete copy is there yet. */
async function materialize(source: string, size: number, base: string, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The parent too: whoever can write it can swap the directory after the check.
  assertPrivate(base, "directory");
  assertPrivate(dir, "directory");
  const target = join(dir, SONAME);
  const existing = statOrUndefined(target);
  // Copies are only ever renamed into place whole, so a file of the right size under this version's
  // directory is the same library.
  if (existing?.isFile() && existing.size === size) {
    assertPrivate(target, "file");
    return target;
  }
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  try {
    await Bun.write(temp, Bun.file(source));
    chmodSync(temp, 0o600); // whatever the umask, so assertPrivate accepts it next time
    // rename is atomic: a concurrent process sees either no file or a complete one.
    renameSync(temp, target);
  } finally {
    rmSync(temp, { force: true });
  }
  return target;
}

// A shared temp dir lets other users pre-create paths: never load a library someone else could have written.
function assertPrivate(path: string, what: "directory" | "file"): void {
  const st = lstatSync(path);
  const uid = process.getuid?.();
  if (what === "directory" ? !st.isDirectory() : !st.isFile()) throw new Error(`${path} is not a ${what}`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`${path} belongs to another user`);
  if (st.mode & 0o022) throw new Error(`${path} is writable by other users`);
}

function statOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
