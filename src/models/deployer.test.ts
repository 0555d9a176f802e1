import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate, openDatabase } from "../db/connection.ts";
import { ModelRegistry } from "../serving/model-registry.ts";
import { openModelSession } from "../serving/model-session.ts";
import { ConflictError, NotFoundError } from "../lib/errors.ts";
import { makeTestModel, type TestModel } from "../testing/test-models.ts";
import { Deployer } from "./deployer.ts";
import { ModelStore } from "./model-store.ts";

let model: TestModel;
beforeAll(async () => {
  model = await makeTestModel(mkdtempSync(join(tmpdir(), "mlops-deployer-model-")));
}, 60_000);

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "mlops-deployer-"));
  const db = openDatabase(join(dir, "mlops.db"));
  migrate(db);
  const store = new ModelStore(db);
  const registry = new ModelRegistry(openModelSession);
  const deployer = new Deployer(store, registry);
  const addVersion = (file = model.onnxPath) => {
    const v = store.register({ modelName: "iris", status: "registered", path: "", sha256: "x", format: "onnx" }, (version) => {
      const d = join(dir, "models", String(version));
      mkdirSync(d, { recursive: true });
      copyFileSync(file, join(d, "model.onnx"));
      return join(d, "model.onnx");
    });
    return v.version;
  };
  return { dir, db, store, registry, deployer, addVersion };
}

describe("Deployer", () => {
  test("deploys, answers like scikit-learn, records the history, and restores after a restart", async () => {
    const { db, store, deployer, registry, addVersion } = setup();
    const v1 = addVersion();
    await deployer.deploy("iris", v1, { reason: "pipeline", pipelineId: 7 });
    const lease = registry.acquire("iris")!;
    const out = await lease.model.predictRows(model.expected.rows);
    lease.done();
    expect(out.predictions).toEqual(model.expected.labels);
    expect(store.history("iris").map((d) => [d.version, d.reason, d.pipelineId])).toEqual([[1, "pipeline", 7]]);

    const restarted = new ModelRegistry(openModelSession);
    const result = await new Deployer(new ModelStore(db), restarted).restoreAll();
    expect(result).toEqual({ restored: ["iris@1"], failed: [] });
    expect(restarted.version("iris")).toBe(1);
  });

  test("a corrupt version fails to deploy and the serving version keeps serving, unrecorded", async () => {
    const { dir, store, deployer, registry, addVersion } = setup();
    const v1 = addVersion();
    await deployer.deploy("iris", v1, { reason: "pipeline" });
    const bad = join(dir, "corrupt.onnx");
    writeFileSync(bad, "this is not an onnx model");
    const v2 = addVersion(bad);
    await expect(deployer.deploy("iris", v2, { reason: "manual" })).rejects.toThrow(/could not load ONNX model/);
    expect(registry.version("iris")).toBe(1);
    expect(store.deployedVersion("iris")).toBe(1);
    expect(store.history("iris")).toHaveLength(1);
  });

  test("swapping versions under concurrent requests fails none of them", async () => {
    const { deployer, registry, addVersion } = setup();
    const versions = [addVersion(), addVersion(), addVersion()];
    await deployer.deploy("iris", versions[0]!, { reason: "pipeline" });
    let failures = 0;
    let answered = 0;
    const seen = new Set<number>();
    let running = true;
    const client = async () => {
      while (running) {
        const lease = registry.acquire("iris");
        if (!lease) {
          failures++;
          continue;
        }
        try {
          const out = await lease.model.predictRows(model.expected.rows);
          if (JSON.stringify(out.predictions) !== JSON.stringify(model.expected.labels)) failures++;
          seen.add(lease.version);
          answered++;
        } catch {
          failures++;
        } finally {
          lease.done();
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    for (let i = 0; i < 6; i++) await deployer.deploy("iris", versions[i % 3]!, { reason: "manual" });
    running = false;
    await Promise.all(clients);
    expect(failures).toBe(0);
    expect(answered).toBeGreaterThan(50);
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  test("rollback deploys the version deployed before the current one, and refuses when there is none", async () => {
    const { store, deployer, registry, addVersion } = setup();
    await expect(deployer.rollback("iris")).rejects.toBeInstanceOf(NotFoundError);
    const [v1, , v3] = [addVersion(), addVersion(), addVersion()];
    await expect(deployer.rollback("iris")).rejects.toBeInstanceOf(ConflictError); // nothing deployed
    await deployer.deploy("iris", v1!, { reason: "pipeline", pipelineId: 1 });
    expect(deployer.rollbackTarget("iris")).toBeNull();
    await expect(deployer.rollback("iris", { actor: "someone" })).rejects.toThrow(/no earlier deployed version/);
    expect(store.history("iris")).toHaveLength(1);

    await deployer.deploy("iris", v3!, { reason: "manual" });
    await deployer.deploy("iris", v1!, { reason: "manual" }); // v1 again: the one before it is v3, not v2 (never deployed)
    expect(deployer.rollbackTarget("iris")).toBe(v3!);
    expect(await deployer.rollback("iris", { actor: "someone" })).toBe(v3!);
    expect(registry.version("iris")).toBe(v3!);
    expect(store.history("iris")[0]).toMatchObject({ version: v3, reason: "rollback", actor: "someone" });

    await deployer.undeploy("iris");
    await expect(deployer.rollback("iris")).rejects.toBeInstanceOf(ConflictError); // undeployed: deploy a version instead
    expect(registry.version("iris")).toBeUndefined();
  });

  test("listeners hear of every recorded change (deploy, rollback, undeploy) and not of a failed deploy", async () => {
    const { dir, deployer, addVersion } = setup();
    const heard: string[] = [];
    deployer.onChange((name) => heard.push(name));
    deployer.onChange(() => {
      throw new Error("a broken listener does not stop the others or the deploy");
    });
    const v1 = addVersion();
    const v2 = addVersion();
    await deployer.deploy("iris", v1, { reason: "manual" });
    await deployer.deploy("iris", v2, { reason: "manual" });
    await deployer.rollback("iris");
    const corrupt = join(dir, "corrupt.onnx");
    writeFileSync(corrupt, "not onnx");
    const v3 = addVersion(corrupt);
    await expect(deployer.deploy("iris", v3, { reason: "manual" })).rejects.toThrow();
    await deployer.undeploy("iris");
    await deployer.undeploy("iris"); // nothing served: nothing recorded, nothing heard
    expect(heard).toEqual(["iris", "iris", "iris", "iris"]);
  });

  test("undeploy stops serving and survives a restart", async () => {
    const { db, deployer, registry, addVersion } = setup();
    await deployer.deploy("iris", addVersion(), { reason: "pipeline" });
    expect(await deployer.undeploy("iris")).toBe(true);
    expect(registry.acquire("iris")).toBeUndefined();
    const restarted = new ModelRegistry(openModelSession);
    await new Deployer(new ModelStore(db), restarted).restoreAll();
    expect(restarted.count()).toBe(0);
  });
});
