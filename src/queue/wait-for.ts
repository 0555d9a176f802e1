// Test helper: wait until a job reaches a state, polling the store, instead of sleeping a guessed time.
import type { Job, JobState } from "./job-states.ts";
import type { JobStore } from "./job-store.ts";

const POLL_MS = 5;

/**
 * Resolve with job `id` once it is in one of `states` (checked at once, then every 5 ms). Rejects after
 * `timeoutMs` with the state it was last seen in, or at once if the job does not exist.
 */
export async function waitForJob(store: JobStore, id: number, states: JobState | readonly JobState[], timeoutMs = 5_000): Promise<Job> {
  const wanted: readonly JobState[] = typeof states === "string" ? [states] : states;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const job = store.get(id);
    if (!job) throw new Error(`waitForJob: job ${id} does not exist`);
    if (wanted.includes(job.state)) return job;
    if (performance.now() >= deadline) {
      throw new Error(`waitForJob: job ${id} still ${job.state} after ${timeoutMs} ms (wanted ${wanted.join(" or ")})`);
    }
    await Bun.sleep(POLL_MS);
  }
}
