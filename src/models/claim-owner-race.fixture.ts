// Worker-thread body for model-owners.test.ts: waits at a shared start line, then claims every name for its own
// repository from its own connection, and reports the owner each claim answered.
import { openDatabase } from "../db/connection.ts";
import { ModelOwnedError, ModelOwners } from "./model-owners.ts";

type Start = { path: string; fullName: string; names: string[]; gate: SharedArrayBuffer };

const scope = self as unknown as Worker;
scope.onmessage = (event: MessageEvent<Start>) => {
  const { path, fullName, names, gate } = event.data;
  const db = openDatabase(path);
  const owners = new ModelOwners(db);
  const flag = new Int32Array(gate);
  Atomics.add(flag, 1, 1); // ready
  Atomics.wait(flag, 0, 0); // until the test opens the gate, so every thread starts claiming at once
  const answered: Record<string, string> = {};
  for (const name of names) {
    try {
      answered[name] = owners.claim(name, fullName);
    } catch (e) {
      if (!(e instanceof ModelOwnedError)) throw e;
      answered[name] = e.owner;
    }
  }
  db.$client.close();
  scope.postMessage(answered);
};
