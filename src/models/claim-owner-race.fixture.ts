// Worker-thread body for model-owners.test.ts: claims every name for its own repository from its own connection, in
// rounds of ROUND names that every thread enters together (a barrier on a shared counter), so the threads contend
// for the same names throughout instead of one thread finishing before the others are scheduled. Reports the owner
// each claim answered.
import { openDatabase } from "../db/connection.ts";
import { ModelOwnedError, ModelOwners } from "./model-owners.ts";

type Start = { path: string; fullName: string; names: string[]; gate: SharedArrayBuffer };

const ROUND = 5;

const scope = self as unknown as Worker;
scope.onmessage = (event: MessageEvent<Start>) => {
  const { path, fullName, names, gate } = event.data;
  const db = openDatabase(path);
  const owners = new ModelOwners(db);
  const flag = new Int32Array(gate);
  Atomics.add(flag, 1, 1); // ready
  Atomics.wait(flag, 0, 0); // until the test opens the gate
  const threads = Atomics.load(flag, 2);
  const answered: Record<string, string> = {};
  for (let start = 0, round = 1; start < names.length; start += ROUND, round++) {
    // barrier: wait until every thread has arrived at this round
    Atomics.add(flag, 3, 1);
    for (let seen = Atomics.load(flag, 3); seen < threads * round; seen = Atomics.load(flag, 3)) Atomics.wait(flag, 3, seen, 50);
    Atomics.notify(flag, 3);
    for (const name of names.slice(start, start + ROUND)) {
      try {
        answered[name] = owners.claim(name, fullName);
      } catch (e) {
        if (!(e instanceof ModelOwnedError)) throw e;
        answered[name] = e.owner;
      }
    }
  }
  db.$client.close();
  scope.postMessage(answered);
};
