// A small rolling window of prediction requests per model (per-minute buckets), for the home page's requests per
// minute and error rate. Fed beside the Prometheus counters; read without parsing their text.
import { type Clock, systemClock } from "../lib/clock.ts";

/** Minutes the window covers. */
export const RECENT_WINDOW_MINUTES = 5;
const MINUTE_MS = 60_000;

type Bucket = { minute: number; requests: number; errors: number };

/** One model's traffic over the window. */
export type RecentTraffic = { requests: number; errors: number; perMinute: number; errorRate: number };

/** Per-model request and error counts over the last RECENT_WINDOW_MINUTES minutes, in memory (lost at restart). */
export class RecentRequests {
  // One ring of RECENT_WINDOW_MINUTES buckets per model; a bucket is reused when its minute has passed out of the window.
  private readonly models = new Map<string, Bucket[]>();

  constructor(private readonly clock: Clock = systemClock) {}

  /** Count one answered request of `model` (skipped when ""), an error when `status` ≥ 400. Never throws. */
  record(model: string, status: number): void {
    if (!model) return;
    const minute = Math.floor(this.clock.now() / MINUTE_MS);
    let ring = this.models.get(model);
    if (!ring) {
      ring = Array.from({ length: RECENT_WINDOW_MINUTES }, () => ({ minute: -1, requests: 0, errors: 0 }));
      this.models.set(model, ring);
    }
    const bucket = ring[minute % RECENT_WINDOW_MINUTES]!;
    if (bucket.minute !== minute) {
      bucket.minute = minute;
      bucket.requests = 0;
      bucket.errors = 0;
    }
    bucket.requests++;
    if (status >= 400) bucket.errors++;
  }

  /** `model`'s requests and errors in the window; requests per minute averaged over the whole window; zeros when none. */
  traffic(model: string): RecentTraffic {
    const now = Math.floor(this.clock.now() / MINUTE_MS);
    let requests = 0;
    let errors = 0;
    for (const b of this.models.get(model) ?? []) {
      if (b.minute > now - RECENT_WINDOW_MINUTES && b.minute <= now) {
        requests += b.requests;
        errors += b.errors;
      }
    }
    return { requests, errors, perMinute: requests / RECENT_WINDOW_MINUTES, errorRate: requests ? errors / requests : 0 };
  }
}
