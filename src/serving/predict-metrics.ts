// Prometheus metrics of prediction requests: counts, errors and latency per model, version and protocol (prom-client).
import { Counter, Histogram, type Registry } from "prom-client";

/** Latency buckets in seconds: a one-row run takes tens of microseconds, a 10,000-row batch can take a second. */
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Which request family answered: the native predict, MLflow's invocations, or the Open Inference Protocol. */
export type Protocol = "predict" | "invocations" | "v2";

type Children = { requests: { inc(): void }; latency: { observe(v: number): void } };

/** Request metrics registered on one prom-client Registry (one per app, so tests can build many apps). */
export class PredictMetrics {
  private readonly requests: Counter<"model" | "version" | "protocol">;
  private readonly errors: Counter<"model" | "version" | "protocol" | "code">;
  private readonly latency: Histogram<"model" | "version" | "protocol">;
  // Label children cached per (model, version, protocol): the hot path then skips prom-client's label hashing.
  private readonly children = new Map<string, Children>();

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "mlops_predict_requests_total",
      help: "Prediction requests answered, by model, version and protocol (errors included).",
      labelNames: ["model", "version", "protocol"],
      registers: [registry],
    });
    this.errors = new Counter({
      name: "mlops_predict_errors_total",
      help: "Prediction requests answered with an error, by model, version, protocol and HTTP status. Unknown models count as model=\"\".",
      labelNames: ["model", "version", "protocol", "code"],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: "mlops_predict_duration_seconds",
      help: "Time from request to answer of prediction requests, by model, version and protocol.",
      labelNames: ["model", "version", "protocol"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
  }

  /**
   * Record one answered request. `model`/`version` are "" when the request named no model this server has (so that
   * made-up names cannot add series). Never throws.
   */
  observe(model: string, version: string, protocol: Protocol, status: number, seconds: number): void {
    const key = `${model}\u0000${version}\u0000${protocol}`;
    let c = this.children.get(key);
    if (!c) {
      c = { requests: this.requests.labels(model, version, protocol), latency: this.latency.labels(model, version, protocol) };
      this.children.set(key, c);
    }
    c.requests.inc();
    c.latency.observe(seconds);
    if (status >= 400) this.errors.labels(model, version, protocol, String(status)).inc();
  }
}
