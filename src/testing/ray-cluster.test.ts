// The main suite runs outside the Ray tests' network namespace: there the cluster helper must refuse to start (Ray
// would advertise the machine's other interface and the tests' traffic would leave loopback), and start nothing.
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { networkInterfaces, startRayCluster } from "./ray-cluster.ts";

test("outside a loopback-only network namespace startRayCluster refuses with a clear error and starts nothing", async () => {
  const here = networkInterfaces();
  expect(here).toContain("lo");
  expect(here.length).toBeGreaterThan(1);
  const before = readdirSync(tmpdir()).filter((n) => n.startsWith("ray-"));
  await expect(startRayCluster()).rejects.toThrow(
    /needs a network namespace with loopback alone \(run the Ray tests with scripts\/test-ray\.sh\); this one has: .*lo/,
  );
  expect(readdirSync(tmpdir()).filter((n) => n.startsWith("ray-"))).toEqual(before);
});
