// Time as ISO strings and epoch milliseconds, behind a small interface tests can replace.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** ISO-8601 text for an epoch-millisecond time. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
