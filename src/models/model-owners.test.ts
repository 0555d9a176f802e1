import { describe, expect, test } from "bun:test";
import { openTestDb, tempDbPath } from "../testing/db.ts";
import { ModelOwnedError } from "./model-owners.ts";
import { ModelStore } from "./model-store.ts";
import { eventually } from "../testing/eventually.ts";

const version = (modelName: string) => ({ modelName, status: "registered", path: "/nowhere/model.onnx", sha256: "x", format: "onnx" });

describe("model ownership", () => {
  test("the first claim wins; the owner's claim again is a no-op (any case); another repository's is refused and changes nothing", () => {
    const { owners } = new ModelStore(openTestDb());
    expect(owners.ownerOf("wine")).toBeNull();
    expect(owners.claim("wine", "acme/models")).toBe("acme/models");
    expect(owners.claim("wine", "ACME/Models")).toBe("acme/models");
    expect(() => owners.claim("wine", "evil/repo")).toThrow(new ModelOwnedError("wine", "acme/models"));
    expect(() => owners.claim("wine", "evil/repo")).toThrow("model wine belongs to acme/models");
    expect(owners.ownerOf("wine")).toBe("acme/models");
    // check reads only: an unclaimed name passes and stays unclaimed
    expect(() => owners.check("beer", "evil/repo")).not.toThrow();
    expect(owners.ownerOf("beer")).toBeNull();
    expect(() => owners.check("wine", "evil/repo")).toThrow("model wine belongs to acme/models");
    expect(() => owners.check("wine", "Acme/Models")).not.toThrow();
  });

  test("transfer moves a name to another repository, whoever held it; the old owner is then refused", () => {
    const { owners } = new ModelStore(openTestDb());
    owners.claim("wine", "acme/models");
    owners.transfer("wine", "beta/lab");
    expect(owners.ownerOf("wine")).toBe("beta/lab");
    expect(() => owners.claim("wine", "acme/models")).toThrow("model wine belongs to beta/lab");
    expect(owners.claim("wine", "beta/lab")).toBe("beta/lab");
    owners.transfer("unclaimed", "beta/lab");
    expect(owners.ownerOf("unclaimed")).toBe("beta/lab");
  });

  test("register with an owner claims the name in the insert's transaction; another repository stores nothing and places no file", () => {
    const store = new ModelStore(openTestDb());
    // a version stored before ownership existed (or restored from MLflow): unclaimed until a pipeline registers one
    store.register(version("wine"));
    expect(store.owners.ownerOf("wine")).toBeNull();
    expect(store.register(version("wine"), undefined, { owner: "acme/models" }).version).toBe(2);
    expect(store.owners.ownerOf("wine")).toBe("acme/models");

    let placed = 0;
    const place = () => {
      placed++;
      return "/placed/model.onnx";
    };
    expect(() => store.register(version("wine"), place, { owner: "evil/repo" })).toThrow(new ModelOwnedError("wine", "acme/models"));
    expect(placed).toBe(0);
    expect(store.versions("wine").map((v) => v.version)).toEqual([2, 1]);
    expect(store.owners.ownerOf("wine")).toBe("acme/models");

    // a failing place() rolls the claim back with the version: the name stays free
    expect(() =>
      store.register(
        version("beer"),
        () => {
          throw new Error("disk full");
        },
        { owner: "evil/repo" },
      ),
    ).toThrow("disk full");
    expect(store.owners.ownerOf("beer")).toBeNull();
    expect(store.versions("beer")).toEqual([]);
  });

  test("four threads claiming the same new names at once from their own connections: each name has exactly one winner, and every thread was told the same owner", async () => {
    const path = tempDbPath();
    const store = new ModelStore(openTestDb(path));
    const names = Array.from({ length: 300 }, (_, i) => `model-${i}`);
    const repos = ["acme/one", "acme/two", "acme/three", "acme/four"];
    // [0] start gate, [1] threads ready, [2] thread count, [3] round barrier (see the fixture)
    const gate = new SharedArrayBuffer(16);
    const flag = new Int32Array(gate);
    Atomics.store(flag, 2, repos.length);
    const workers = repos.map(() => new Worker(new URL("./claim-owner-race.fixture.ts", import.meta.url)));
    const results = Promise.all(
      workers.map(
        (worker, i) =>
          new Promise<Record<string, string>>((resolve, reject) => {
            worker.onmessage = (e: MessageEvent<Record<string, string>>) => {
              resolve(e.data);
              worker.terminate();
            };
            worker.onerror = (e) => reject(new Error(e.message));
            worker.postMessage({ path, fullName: repos[i], names, gate });
          }),
      ),
    );
    await eventually(() => Atomics.load(flag, 1) >= repos.length, { what: "every thread at the start line", everyMs: 5 });
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const answers = await results;

    for (const name of names) {
      const owner = store.owners.ownerOf(name);
      expect(repos).toContain(owner!);
      // every thread's claim answered the one owner that stands, so exactly one thread won it
      expect(answers.map((a) => a[name])).toEqual(repos.map(() => owner!));
    }
    // Which thread wins a round is up to the scheduler (on a loaded two-core machine one thread can win them all),
    // so no assertion is made on how the names spread; the rounds make every thread contend for the same names.
  });
});
