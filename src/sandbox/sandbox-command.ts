// The command line that runs untrusted code (a pushed notebook, or the converter that unpickles its model) under
// bubblewrap: its own PID/IPC/UTS (and optionally network) namespaces, the system and Python runtime read-only,
// its work dir read-write, nothing else of the host; then an unprivileged uid without capabilities, and rlimits.
// Pure: builds argv only. Imports nothing of the app.
import { dirname } from "node:path";

/** Resource limits applied with prlimit(1) to the sandboxed process and everything it starts. */
export type SandboxLimits = {
  /** RLIMIT_DATA in bytes (heap and private mappings; RLIMIT_AS would break thread-heavy libraries). */
  dataBytes: number;
  /** RLIMIT_NPROC: processes and threads of the sandbox's real uid. */
  processes: number;
  /** RLIMIT_FSIZE in bytes: the largest file it may write. */
  fileBytes: number;
};

/** One sandboxed run, as `sandboxArgv` needs it. */
export type SandboxSpec = {
  bwrap: string;
  /** Directories mounted read-only at their own path (the Python runtime); /usr and a few /etc files always are. */
  readOnly: readonly string[];
  /** The run's directory, mounted read-write at its own path; everything the run may write lives under it. */
  workDir: string;
  /** More directories mounted at their own path for this run alone: read-only (an environment) or read-write (one being built). */
  mounts?: Mounts;
  /** Host directory mounted read-write as /tmp (inside workDir, so it is cleaned with it and lives on disk, not RAM). */
  tmpDir: string;
  /** Files (passwd, group) mounted read-only at /etc/<name>, so the sandbox's uid has a name and nothing of the host's users shows. */
  etcFiles: Readonly<Record<string, string>>;
  /** Working directory inside. */
  cwd: string;
  network: boolean;
  /**
   * When the server runs as root: the uid (and gid) the code runs as, switched to inside the sandbox with setpriv,
   * dropping every capability (bwrap itself needs root to mount without a user namespace). Undefined when the server
   * is not root: bwrap then makes a user namespace, and the code keeps the server's uid without capabilities.
   */
  runAs?: number;
  limits: SandboxLimits;
  /** Size in bytes of the /dev/shm tmpfs (multiprocessing semaphores, shared arrays). */
  shmBytes: number;
};

// /etc entries a Python program needs to resolve names, verify TLS, and load shared libraries; none holds a secret.
export const ETC_ENTRIES = [
  "resolv.conf",
  "hosts",
  "host.conf",
  "nsswitch.conf",
  "gai.conf",
  "services",
  "protocols",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "ssl",
  "ca-certificates",
  "ca-certificates.conf",
  "alternatives",
  "mime.types",
] as const;

/** Directories one run sees besides its work dir and the runtime. */
export type Mounts = { readOnly?: readonly string[]; writable?: readonly string[] };

/** Where /bin, /lib and friends live on this host: a symlink into /usr (merged /usr) or a directory of their own. */
export type TopLevelDirs = Readonly<Record<string, { symlink: string } | "dir">>;

/** The argv that runs `command` inside the sandbox described by `spec`. Throws TypeError on a relative path. */
export function sandboxArgv(spec: SandboxSpec, topLevel: TopLevelDirs, command: readonly string[]): string[] {
  const extraReadOnly = spec.mounts?.readOnly ?? [];
  const extraWritable = spec.mounts?.writable ?? [];
  for (const p of [spec.workDir, spec.tmpDir, spec.cwd, ...spec.readOnly, ...extraReadOnly, ...extraWritable, ...Object.values(spec.etcFiles)]) {
    if (!p.startsWith("/")) throw new TypeError(`sandbox paths must be absolute: ${JSON.stringify(p)}`);
  }
  const args = [spec.bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"];
  if (!spec.network) args.push("--unshare-net");
  // Without root, bwrap needs a user namespace to mount; the code must not make further ones of its own.
  if (spec.runAs === undefined) args.push("--unshare-user", "--disable-userns");
  args.push("--die-with-parent", "--new-session", "--hostname", "mlops-notebook");

  args.push("--ro-bind", "/usr", "/usr");
  for (const [name, kind] of Object.entries(topLevel)) {
    if (kind === "dir") args.push("--ro-bind", `/${name}`, `/${name}`);
    else args.push("--symlink", kind.symlink, `/${name}`);
  }
  // bwrap makes missing parents of a mount point 0700 and root's: readable ones let the unprivileged uid through.
  args.push("--perms", "0755", "--dir", "/etc");
  for (const name of ETC_ENTRIES) if (!(name in spec.etcFiles)) args.push("--ro-bind-try", `/etc/${name}`, `/etc/${name}`);
  for (const [name, file] of Object.entries(spec.etcFiles)) args.push("--ro-bind", file, `/etc/${name}`);
  args.push("--proc", "/proc", "--dev", "/dev");
  args.push("--perms", "1777", "--size", String(spec.shmBytes), "--tmpfs", "/dev/shm");
  // /tmp first: when the work dir itself lies under /tmp (tests), its mount must land on top of this one.
  args.push("--bind", spec.tmpDir, "/tmp");

  const made = new Set<string>(["/", "/usr", "/tmp", "/etc", "/proc", "/dev"]);
  const parents = (path: string) => {
    const chain: string[] = [];
    for (let d = dirname(path); !made.has(d); d = dirname(d)) chain.unshift(d);
    for (const d of chain) {
      args.push("--perms", "0755", "--dir", d);
      made.add(d);
    }
  };
  for (const dir of spec.readOnly) {
    parents(dir);
    args.push("--ro-bind", dir, dir);
    made.add(dir);
  }
  for (const dir of extraReadOnly) {
    parents(dir);
    args.push("--ro-bind", dir, dir);
    made.add(dir);
  }
  for (const dir of extraWritable) {
    parents(dir);
    args.push("--bind", dir, dir);
    made.add(dir);
  }
  parents(spec.workDir);
  args.push("--bind", spec.workDir, spec.workDir, "--chdir", spec.cwd);

  args.push("--");
  if (spec.runAs !== undefined) {
    const id = String(spec.runAs);
    args.push("/usr/bin/setpriv", `--reuid=${id}`, `--regid=${id}`, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--");
  }
  args.push(...limitArgv(spec.limits));
  args.push(...command);
  return args;
}

/** prlimit(1) in front of a command: soft and hard limits alike, and no core dumps (a core file holds the process's memory). */
export function limitArgv(limits: SandboxLimits): string[] {
  const both = (n: number) => `${n}:${n}`;
  return ["/usr/bin/prlimit", `--data=${both(limits.dataBytes)}`, `--nproc=${both(limits.processes)}`, `--fsize=${both(limits.fileBytes)}`, "--core=0:0", "--"];
}
