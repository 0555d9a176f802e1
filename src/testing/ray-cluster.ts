// Test support: a real two-node Ray cluster (./.venv-ray, built by scripts/setup.sh --test) on loopback, for the
// Ray tests (*.raytest.ts) that scripts/test-ray.sh runs inside a network namespace with loopback alone. Ray
// advertises the machine's non-loopback address wherever one exists, so it refuses to start anywhere else.
// Every process of a cluster carries a marker in its environment (inherited by Ray's workers and job drivers,
// including those that leave the process tree), so stop() ends exactly that cluster's processes, never `ray stop`.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isAlive, killTree } from "../lib/process-tree.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const RAY_BIN = join(ROOT, ".venv-ray", "bin");
const MARKER = "MLOPS_TEST_RAY_NODE";
const START_TIMEOUT_MS = 120_000;
const LOG_TAIL_CHARS = 3000;

export type RayCluster = {
  /** The Jobs API (the dashboard): http://127.0.0.1:<port>, without trailing slash. */
  address: string;
  /** The GCS address other nodes join with (127.0.0.1:<port>). */
  gcsAddress: string;
  headNodeId: string;
  workerNodeId: string;
  /** The cluster's Python (.venv-ray/bin/python); `python` on the nodes' PATH is this one. */
  python: string;
  /** Wheels a job can install offline: runtime_env pip with `--no-index --find-links <wheels>`. */
  wheels: string;
  /** Ray's --temp-dir (sessions, logs, job working dirs); removed by stop(). */
  tempDir: string;
  /** Live pids of this cluster's processes per node (job drivers included), found by their environment marker. */
  processes(): { head: number[]; worker: number[] };
  /** SIGKILL the head node's processes (GCS, dashboard, raylet and the jobs it runs), as a crashed head. Idempotent. */
  stopHead(): Promise<void>;
  /** End every process of this cluster (both nodes, their workers and job drivers) and remove tempDir. Idempotent. */
  stop(): Promise<void>;
};

export type RayClusterOptions = {
  /** Custom resources only the worker node offers (default {"trainer": 1}). */
  workerResources?: Record<string, number>;
  /** Logical CPUs per node (defaults 2 on the head, 1 on the worker): Ray counts them, nothing pins them. */
  headCpus?: number;
  workerCpus?: number;
  /** The Jobs API's port (default: a free one), for a test that points the server at the cluster before it exists. */
  dashboardPort?: number;
};

/** The network interfaces this process sees (its network namespace's), from /proc/self/net/dev. */
export function networkInterfaces(): string[] {
  return readFileSync("/proc/self/net/dev", "utf8")
    .split("\n")
    .slice(2)
    .map((l) => l.split(":")[0]!.trim())
    .filter(Boolean);
}

/**
 * Start `ray start --head` and one worker node (`ray start --address`) offering `workerResources`, each with its
 * own ports, in a temp dir under TMPDIR; resolve once the Jobs API answers and both nodes are alive. Throws,
 * starting nothing, when this process is not in a network namespace whose only interface is `lo`, or when
 * .venv-ray is missing; throws (after stopping what it started) when a node exits or is not ready in time, twice.
 */
export async function startRayCluster(opts: RayClusterOptions = {}): Promise<RayCluster> {
  try {
    return await startRayClusterOnce(opts);
  } catch (e) {
    // A node that gave up while starting gets one more try on fresh ports: Ray gives a node a fixed 30 s to register
    // with the head (not a setting), and on a loaded 2-core CI machine a worker once took longer ("The current node
    // timed out during startup"). A wrong environment (no namespace, no .venv-ray) fails at once.
    if (!(e instanceof ClusterStartError)) throw e;
    console.error(`${e.message.split("\n")[0]}; starting the cluster once more`);
    return await startRayClusterOnce(opts);
  }
}

/** The cluster did not come up: a node exited or was not ready in time (it was stopped; its log tails are in the message). */
class ClusterStartError extends Error {}

async function startRayClusterOnce(opts: RayClusterOptions): Promise<RayCluster> {
  const interfaces = networkInterfaces();
  if (interfaces.length !== 1 || interfaces[0] !== "lo") {
    throw new Error(
      `startRayCluster needs a network namespace with loopback alone (run the Ray tests with scripts/test-ray.sh); this one has: ${interfaces.join(", ")}`,
    );
  }
  if (!existsSync(join(RAY_BIN, "ray"))) throw new Error(`${join(RAY_BIN, "ray")} is missing: run scripts/setup.sh --test`);
  const workerResources = opts.workerResources ?? { trainer: 1 };
  // Short: Ray's unix sockets live below it, and a socket path is limited to 107 bytes.
  const tempDir = mkdtempSync(join(tmpdir(), "ray-"));
  const id = tempDir;
  const [gcsPort, freeDashboardPort, clientPort, headAgentPort, headMetricsPort, workerAgentPort, workerMetricsPort] = await distinctFreePorts(7);
  const dashboardPort = opts.dashboardPort ?? freeDashboardPort;
  const address = `http://127.0.0.1:${dashboardPort}`;
  const gcsAddress = `127.0.0.1:${gcsPort}`;
  const common = [
    "--block",
    `--temp-dir=${tempDir}`,
    "--disable-usage-stats",
    // Each cluster's workers take random free ports rather than Ray's fixed default range (10002-19999).
    "--min-worker-port=0",
    "--max-worker-port=0",
    // Ray would reserve 30% of memory for the object store; the tests pass no large objects.
    `--object-store-memory=${100 * 1024 * 1024}`,
  ];

  const nodes: Node[] = [];
  let stopped = false;
  const stopAll = () => {
    if (stopped) return;
    stopped = true;
    for (const n of nodes) n.kill();
    sweep(id);
    rmSync(tempDir, { recursive: true, force: true });
  };
  // Never leave a cluster behind when the test process ends without calling stop().
  process.on("exit", stopAll);
  const stop = async () => {
    process.off("exit", stopAll);
    stopAll();
    await Promise.all(nodes.map((n) => n.exited));
  };
  const fail = async (why: string): Promise<never> => {
    const logs = nodes.map((n) => `--- ${n.role}:\n${n.tail()}`).join("\n");
    await stop();
    throw new ClusterStartError(`Ray test cluster: ${why}\n${logs}`);
  };

  try {
    const head = startNode("head", id, tempDir, [
      "start",
      "--head",
      ...common,
      `--port=${gcsPort}`,
      "--include-dashboard=true",
      "--dashboard-host=127.0.0.1",
      `--dashboard-port=${dashboardPort}`,
      `--ray-client-server-port=${clientPort}`,
      `--dashboard-agent-listen-port=${headAgentPort}`,
      `--metrics-export-port=${headMetricsPort}`,
      `--num-cpus=${opts.headCpus ?? 2}`,
    ]);
    nodes.push(head);
    await waitFor(nodes, async () => (await get(`${address}/api/version`)) !== undefined, "the head's Jobs API to answer", fail);

    // A second node on the same machine needs its own dashboard-agent and metrics ports, or they collide.
    const worker = startNode("worker", id, tempDir, [
      "start",
      `--address=${gcsAddress}`,
      ...common,
      `--dashboard-agent-listen-port=${workerAgentPort}`,
      `--metrics-export-port=${workerMetricsPort}`,
      `--num-cpus=${opts.workerCpus ?? 1}`,
      `--resources=${JSON.stringify(workerResources)}`,
    ]);
    nodes.push(worker);
    const ids = await waitFor(
      nodes,
      async () => {
        const alive = await aliveNodes(address);
        const headNode = alive?.find((n) => n.is_head_node);
        const workerNode = alive?.find((n) => !n.is_head_node && Object.keys(workerResources).every((r) => (n.resources_total?.[r] ?? 0) > 0));
        return headNode && workerNode ? { headNodeId: headNode.node_id, workerNodeId: workerNode.node_id } : undefined;
      },
      "both nodes to be alive",
      fail,
    );
    await waitFor(nodes, async () => (await get(`${address}/api/jobs/`)) !== undefined, "the job list to answer", fail);

    const stopHead = async () => {
      head.kill();
      sweep(`${id}:head`);
      await head.exited;
    };
    const processes = () => ({ head: markedProcesses(`${id}:head`), worker: markedProcesses(`${id}:worker`) });
    return {
      address,
      gcsAddress,
      ...ids,
      python: join(RAY_BIN, "python"),
      wheels: join(ROOT, ".venv-ray", "wheels"),
      tempDir,
      processes,
      stopHead,
      stop,
    };
  } catch (e) {
    if (!stopped) await stop();
    throw e;
  }
}

type Node = { role: "head" | "worker"; pid: number; exited: Promise<void>; exitCode(): number | string | null | undefined; kill(): void; tail(): string };

function startNode(role: "head" | "worker", id: string, tempDir: string, args: string[]): Node {
  const logFile = join(tempDir, `${role}.log`);
  const fd = openSync(logFile, "a");
  const child: ChildProcess = spawn(join(RAY_BIN, "ray"), args, {
    cwd: tempDir,
    // Own process group, so kill() reaches every process `ray start` forked.
    detached: true,
    stdio: ["ignore", fd, fd],
    env: {
      ...process.env,
      [MARKER]: `${id}:${role}`,
      // Job entrypoints run `python`: the cluster's, as on a real Ray node image.
      PATH: `${RAY_BIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      RAY_USAGE_STATS_ENABLED: "0",
      // A runtime env that cannot be set up (a pip requirement the wheel dir lacks) fails at the first attempt, not
      // after three of about 10 s each.
      RUNTIME_ENV_RETRY_TIMES: "1",
      // A job's runtime_env pip installs from the local wheel dir alone, as on a cluster without a package index
      // (pip reads these as it would a pip.conf).
      PIP_NO_INDEX: "1",
      PIP_FIND_LINKS: join(ROOT, ".venv-ray", "wheels"),
    },
  });
  closeSync(fd);
  let code: number | string | null | undefined;
  const exited = new Promise<void>((done) =>
    child.once("exit", (c, sig) => {
      code = c ?? sig;
      done();
    }),
  );
  const pid = child.pid!;
  return {
    role,
    pid,
    exited,
    exitCode: () => code,
    kill: () => {
      if (code === undefined && isAlive(pid)) killTree(pid);
    },
    tail: () => {
      try {
        return readFileSync(logFile, "utf8").slice(-LOG_TAIL_CHARS);
      } catch {
        return "";
      }
    },
  };
}

/**
 * SIGKILL every process whose environment carries this cluster's marker (value `id`, or starting with `id:`) and
 * wait (up to 10 s) until none is left alive: a killed process takes a moment to exit, and one caught forking may
 * leave a child behind.
 */
function sweep(id: string): void {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const left = markedProcesses(id);
    if (left.length === 0 || performance.now() > deadline) return;
    for (const pid of left) if (isAlive(pid)) killTree(pid, { group: false });
    Bun.sleepSync(20);
  }
}

function markedProcesses(id: string): number[] {
  const exact = `${MARKER}=${id}\0`;
  const prefix = `${MARKER}=${id}:`;
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let env: string;
    try {
      env = `\0${readFileSync(`/proc/${name}/environ`, "latin1")}\0`;
    } catch {
      continue;
    }
    if (env.includes(`\0${exact}`) || env.includes(`\0${prefix}`)) out.push(Number(name));
  }
  return out.filter(isAlive);
}

/** Poll `probe` until it answers, failing at once when a node's `ray start` exits, or after START_TIMEOUT_MS. */
async function waitFor<T>(nodes: Node[], probe: () => Promise<T | undefined>, what: string, fail: (why: string) => Promise<never>): Promise<T> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    const dead = nodes.find((n) => n.exitCode() !== undefined);
    if (dead) return fail(`the ${dead.role} node's \`ray start\` exited (${dead.exitCode()}) while waiting for ${what}`);
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) return fail(`timed out after ${START_TIMEOUT_MS / 1000} s waiting for ${what}`);
    await Bun.sleep(250);
  }
}

async function get(url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return undefined;
    }
    return await res.json();
  } catch {
    return undefined;
  }
}

type StateNode = { node_id: string; is_head_node: boolean; state: string; resources_total?: Record<string, number> };

/** Alive nodes from Ray's state API (`/api/v0/nodes`), or undefined while it does not answer. */
async function aliveNodes(address: string): Promise<StateNode[] | undefined> {
  const body = (await get(`${address}/api/v0/nodes`)) as { data?: { result?: { result?: StateNode[] } } } | undefined;
  return body?.data?.result?.result?.filter((n) => n.state === "ALIVE");
}

/** `n` different free loopback ports: all probes are held open together, so none is handed out twice. */
async function distinctFreePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const srv = createServer();
      await new Promise<void>((ok, fail) => {
        srv.once("error", fail);
        srv.listen(0, "127.0.0.1", ok);
      });
      servers.push(srv);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
  }
}
