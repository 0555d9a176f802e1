// Prometheus metrics of prediction requests: counts, errors and latency per model, version and protocol.
//
// The hot path only bumps plain numbers in a Map entry (~0.1 µs); prom-client's own observe() validates and hashes
// the labels on every call (~1.5 µs measured here, several percent of a one-row predict). prom-client still owns
// the registry and the exposition format: counters are prom-client Counters filled at scrape time by collect(), and
// the histogram is a metric object in prom-client's get() shape, registered on the same Registry.
import { Counter, type Metric, type Registry } from "prom-client";
import type { RecentRequests } from "./recent-requests.ts";

/** Latency buckets in seconds: a one-row run takes tens of microseconds, a 10,000-row batch can take a second. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Which request family answered: the native predict, MLflow's invocations, or the Open Inference Protocol. */
export type Protocol = "predict" | "invocations" | "v2";

type Labels = { model: string; version: string; protocol: Protocol };
// Per-bucket (not cumulative) counts; the last slot is +Inf.
type Series = { labels: Labels; count: number; sum: number; buckets: Float64Array; errors: Map<number, number> };

const DURATION = "mlops_predict_duration_seconds";

/** Request metrics registered on one prom-client Registry (one per app, so tests can build many apps). */
export class PredictMetrics {
  private readonly series = new Map<string, Series>();

  /** `recent`, when given, also hears every request (the home page's per-model window). */
  constructor(
    registry: Registry,
    private readonly recent?: RecentRequests,
  ) {
    const series = this.series;
    new Counter({
      name: "mlops_predict_requests_total",
      help: "Prediction requests answered, by model, version and protocol (errors included).",
      labelNames: ["model", "version", "protocol"],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.count);
      },
    });
    new Counter({
      name: "mlops_predict_errors_total",
      help: 'Prediction requests answered with an error, by model, version, protocol and HTTP status. Unknown models count as model="".',
      labelNames: ["model", "version", "protocol", "code"],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of series.values()) for (const [code, n] of s.errors) this.inc({ ...s.labels, code: String(code) }, n);
      },
    });
    registry.registerMetric(latencyHistogram(series) as unknown as Metric);
  }

  /**
   * Record one answered request. `model`/`version` are "" when the request named no model this server has (so that
   * made-up names cannot add series). Never throws.
   */
  observe(model: string, version: string, protocol: Protocol, status: number, seconds: number): void {
    const key = `${model}\u0000${version}\u0000${protocol}`;
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { model, version, protocol }, count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS.length + 1), errors: new Map() };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += seconds;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    s.buckets[b]!++;
    if (status >= 400) s.errors.set(status, (s.errors.get(status) ?? 0) + 1);
    this.recent?.record(model, status);
  }
}

/** The latency histogram as a prom-client metric: get() returns buckets (cumulative), sum and count per series. */
function latencyHistogram(series: Map<string, Series>) {
  return {
    name: DURATION,
    help: "Time from request to answer of prediction requests, by model, version and protocol.",
    type: "histogram",
    aggregator: "sum",
    get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const s of series.values()) {
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i]!;
          values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${DURATION}_bucket` });
        });
        values.push({ labels: { ...s.labels, le: "+Inf" }, value: s.count, metricName: `${DURATION}_bucket` });
        values.push({ labels: s.labels, value: s.sum, metricName: `${DURATION}_sum` });
        values.push({ labels: s.labels, value: s.count, metricName: `${DURATION}_count` });
      }
      return Promise.resolve({ name: DURATION, help: this.help, type: "histogram", values, aggregator: "sum" });
    },
    reset() {
      series.clear();
    },
  };
}
