// Which host directories hold the Python runtime a notebook needs (its venv and the interpreter the venv points at),
// so the sandbox can mount exactly those read-only. Imports nothing of the app.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import type { TopLevelDirs } from "./sandbox-command.ts";

/**
 * The directories to mount for `executables` (absolute paths, or names looked up in PATH): each one's prefix
 * (`<prefix>/bin/<exe>`), both as given and with symlinks resolved, plus the interpreter a venv's pyvenv.cfg names.
 * Directories under /usr are left out (the sandbox mounts /usr whole), as is any directory inside another one listed.
 */
export function runtimeRoots(executables: readonly string[]): string[] {
  const roots = new Set<string>();
  const add = (dir: string) => {
    if (dir === "/" || dir === "/usr" || dir.startsWith("/usr/")) return;
    roots.add(dir);
  };
  for (const name of executables) {
    const exe = isAbsolute(name) ? name : Bun.which(name);
    if (!exe || !existsSync(exe)) continue;
    for (const path of [exe, realpathSync(exe)]) {
      const prefix = dirname(dirname(path));
      add(prefix);
      if (existsSync(prefix)) add(realpathSync(prefix));
      const home = venvHome(prefix);
      if (home) add(realpathSync(dirname(home)));
    }
  }
  const sorted = [...roots].sort();
  return sorted.filter((dir) => !sorted.some((other) => other !== dir && dir.startsWith(`${other}/`)));
}

/** The `home` of `<prefix>/pyvenv.cfg` (the interpreter's bin directory), when prefix is a venv whose home exists. */
function venvHome(prefix: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(prefix, "pyvenv.cfg"), "utf8");
  } catch {
    return undefined;
  }
  const line = text.split("\n").find((l) => l.split("=")[0]?.trim() === "home");
  const home = line?.slice(line.indexOf("=") + 1).trim();
  return home && isAbsolute(home) && existsSync(home) ? home : undefined;
}

/** The first of `roots` that contains (or is) one of `privateDirs`, so nothing private would be mounted; undefined when none does. */
export function rootExposing(roots: readonly string[], privateDirs: readonly string[]): { root: string; dir: string } | undefined {
  for (const root of roots) {
    for (const dir of privateDirs) if (dir === root || dir.startsWith(`${root}/`)) return { root, dir };
  }
  return undefined;
}

/** How /bin, /sbin and /lib* exist on this host (symlinks into /usr on merged-/usr systems, else directories). */
export function topLevelDirs(): TopLevelDirs {
  const out: Record<string, { symlink: string } | "dir"> = {};
  const present = new Set(readdirSync("/"));
  for (const name of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    if (!present.has(name)) continue;
    const st = lstatSync(`/${name}`);
    if (st.isSymbolicLink()) out[name] = { symlink: readlinkSync(`/${name}`) };
    else if (st.isDirectory()) out[name] = "dir";
  }
  return out;
}
