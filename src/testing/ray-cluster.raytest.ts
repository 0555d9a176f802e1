// The test cluster itself: two nodes, the custom resource on the worker alone, a head that can be made to die, and a
// stop that leaves nothing of the cluster behind (its job drivers included).
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../lib/process-tree.ts";
import { zipDirectory } from "../lib/zip-directory.ts";
import { RayJobsClient, RayUnreachableError } from "../runner/ray-jobs-client.ts";
import { eventually } from "./eventually.ts";
import { type RayCluster, startRayCluster } from "./ray-cluster.ts";

let cluster: RayCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

test("stopHead kills the head alone (the Jobs API stops answering, the worker runs on); stop ends every process of the cluster, job drivers included, and removes its temp dir", async () => {
  cluster = await startRayCluster({ workerResources: { trainer: 2 } });
  const ray = new RayJobsClient({ address: cluster.address, timeoutMs: 5000 });
  expect(cluster.headNodeId).not.toBe(cluster.workerNodeId);
  expect(existsSync(cluster.tempDir)).toBe(true);
  expect(cluster.processes().head.length).toBeGreaterThan(0);
  expect(cluster.processes().worker.length).toBeGreaterThan(0);

  // A job sleeping on the worker node: its driver is a process of that node.
  const src = mkdtempSync(join(tmpdir(), "ray-sleeper-"));
  const pidFile = join(src, "pid");
  writeFileSync(
    join(src, "sleep.py"),
    `import os, time\nopen(${JSON.stringify(pidFile)}, "w").write(str(os.getpid()))\nprint("ready", flush=True)\ntime.sleep(600)\n`,
  );
  const { uri } = await ray.uploadPackage(zipDirectory(src));
  await ray.submit({ submissionId: "sleeper", entrypoint: "python sleep.py", runtimeEnv: { working_dir: uri }, entrypointResources: { trainer: 2 } });
  await eventually(async () => (await ray.logs("sleeper")).includes("ready"), { what: "the sleeper to start", timeoutMs: 60_000 });
  expect((await ray.status("sleeper"))!.driverNodeId).toBe(cluster.workerNodeId);
  const driver = Number(readFileSync(pidFile, "utf8"));
  expect(cluster.processes().worker).toContain(driver);

  await cluster.stopHead();
  expect(cluster.processes().head).toEqual([]);
  expect(await ray.status("sleeper").catch((e) => e)).toBeInstanceOf(RayUnreachableError);
  expect(isAlive(driver)).toBe(true);
  expect(cluster.processes().worker.length).toBeGreaterThan(0);
  await cluster.stopHead(); // idempotent

  const tempDir = cluster.tempDir;
  await cluster.stop();
  expect(cluster.processes()).toEqual({ head: [], worker: [] });
  expect(isAlive(driver)).toBe(false);
  expect(existsSync(tempDir)).toBe(false);
  await cluster.stop(); // idempotent
}, 180_000);
