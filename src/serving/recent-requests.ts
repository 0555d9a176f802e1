// A small rolling window of prediction requests per model (per-minute buckets), for the home page's requests per
// minute, error rate (5xx: the server failed) and refused rate (4xx: the request was not one it takes). Fed beside the
// Prometheus counters; read without parsing their text.
import { type Clock, systemClock } from "../lib/clock.ts";

/** Minutes the window covers. */
export const RECENT_WINDOW_MINUTES = 5;
const MINUTE_MS = 60_000;

type Bucket = { minute: number; requests: number; errors: number; refused: number };

/** One model's traffic over the window: `errors` answered 5xx, `refused` 4xx; the rates are their share of `requests`. */
export type RecentTraffic = { requests: number; errors: number; refused: number; perMinute: number; errorRate: number; refusedRate: number };

/** Per-model request and error counts over the last RECENT_WINDOW_MINUTES minutes, in memory (lost at restart). */
export class RecentRequests {
  // One ring of RECENT_WINDOW_MINUTES buckets per model; a bucket is reused when its minute has passed out of the window.
  private readonly models = new Map<string, Bucket[]>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Count one answered request of `model` (skipped when ""): an error when `status` ≥ 500, refused when 4xx. Never throws. */
  record(model: string, status: number): void {
    if (!model) return;
    const minute = Math.floor(this.clock.now() / MINUTE_MS);
    let ring = this.models.get(model);
    if (!ring) {
      ring = Array.from({ length: RECENT_WINDOW_MINUTES }, () => ({ minute: -1, requests: 0, errors: 0, refused: 0 }));
      this.models.set(model, ring);
    }
    const bucket = ring[minute % RECENT_WINDOW_MINUTES]!;
    if (bucket.minute !== minute) {
      bucket.minute = minute;
      bucket.requests = 0;
      bucket.errors = 0;
      bucket.refused = 0;
    }
    bucket.requests++;
    if (status >= 500) bucket.errors++;
    else if (status >= 400) bucket.refused++;
  }

  /** `model`'s requests, errors and refusals in the window; requests per minute averaged over the whole window; zeros when none. */
  traffic(model: string): RecentTraffic {
    const now = Math.floor(this.clock.now() / MINUTE_MS);
    let requests = 0;
    let errors = 0;
    let refused = 0;
    for (const b of this.models.get(model) ?? []) {
      if (b.minute > now - RECENT_WINDOW_MINUTES && b.minute <= now) {
        requests += b.requests;
        errors += b.errors;
        refused += b.refused;
      }
    }
    const share = (n: number) => (requests ? n / requests : 0);
    return { requests, errors, refused, perMinute: requests / RECENT_WINDOW_MINUTES, errorRate: share(errors), refusedRate: share(refused) };
  }
}
