// Test support: the one way tests wait. `eventually` polls a probe until it answers, and says what it waited for
// when it gives up; `pace` is a deliberate delay for load loops and stand-ins, never a wait before an assertion
// (src/testing/no-fixed-sleeps.test.ts keeps tests from sleeping any other way).

export type EventuallyOptions = {
  /** What is awaited, for the error when it does not come ("pipeline 3 to end"). */
  what: string;
  timeoutMs?: number;
  everyMs?: number;
};

/**
 * Call `probe` until it returns something other than undefined or false, and return that. A probe that throws counts
 * as "not yet" (its last error is in the timeout's message). Throws after `timeoutMs` (default 30 s).
 */
export async function eventually<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, opts: EventuallyOptions): Promise<T> {
  const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      const why = last === undefined ? "" : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${opts.what}${why}`);
    }
    await Bun.sleep(opts.everyMs ?? 50);
  }
}

/** Wait `ms` on purpose: pacing a load loop, a stand-in that answers slowly. Never right before an assertion. */
export function pace(ms: number): Promise<void> {
  return Bun.sleep(ms);
}
