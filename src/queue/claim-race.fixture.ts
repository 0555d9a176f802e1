// Worker-thread body for job-store.test.ts: claims jobs from its own connection until none is left, reports the ids.
import { openDatabase } from "../db/connection.ts";
import { JobStore } from "./job-store.ts";

type Start = { path: string; worker: string };

const scope = self as unknown as Worker;
scope.onmessage = (event: MessageEvent<Start>) => {
  const { path, worker } = event.data;
  const db = openDatabase(path);
  const store = new JobStore(db);
  const claimed: number[] = [];
  for (let job = store.claim(worker, 60_000); job; job = store.claim(worker, 60_000)) {
    claimed.push(job.id);
    if (!store.complete(job.id, worker)) throw new Error(`job ${job.id} claimed by ${worker} but not completable`);
  }
  db.$client.close();
  scope.postMessage(claimed);
};
