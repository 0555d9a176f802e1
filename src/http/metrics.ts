// GET /metrics: Prometheus text format from one prom-client Registry per app, with gauges read at scrape time.
import { Hono } from "hono";
import { Gauge, Registry } from "prom-client";

export type MetricSources = {
  version: string;
  /** Sessions loaded: serving models, and pinned versions loaded for explicit-version requests. */
  modelsLoaded: () => { serving: number; pinned: number };
  queueDepth: () => number;
  /** Pipelines by status, e.g. {"queued": 2, "running": 1}. */
  pipelineCounts?: () => Record<string, number>;
  /** Pipelines' MLflow syncs by status (pending, synced, failed); absent without MLflow tracking. */
  mlflowSyncCounts?: () => Record<string, number>;
};

/** A fresh Registry with the gauges read from `sources` at each scrape. Callbacks run only on scrape, never per request. */
export function createMetricsRegistry(sources: MetricSources): Registry {
  const registry = new Registry();
  new Gauge({ name: "mlops_info", help: "Always 1; the server version as a label.", labelNames: ["version"], registers: [registry] }).set(
    { version: sources.version },
    1,
  );
  new Gauge({
    name: "mlops_models_loaded",
    help: 'Model sessions loaded in memory: kind="serving" (deployed versions) and kind="pinned" (other versions loaded for /versions/{v} requests).',
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      const { serving, pinned } = sources.modelsLoaded();
      this.set({ kind: "serving" }, serving);
      this.set({ kind: "pinned" }, pinned);
    },
  });
  new Gauge({
    name: "mlops_queue_depth",
    help: "Jobs waiting in the queue.",
    registers: [registry],
    collect() {
      this.set(sources.queueDepth());
    },
  });
  const { pipelineCounts } = sources;
  if (pipelineCounts) {
    new Gauge({
      name: "mlops_pipelines",
      help: "Pipelines by status.",
      labelNames: ["status"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [status, n] of Object.entries(pipelineCounts())) this.set({ status }, n);
      },
    });
  }
  const { mlflowSyncCounts } = sources;
  if (mlflowSyncCounts) {
    new Gauge({
      name: "mlops_mlflow_syncs",
      help: 'Pipelines\' syncs to MLflow by status; status="pending" grows while MLflow cannot be reached.',
      labelNames: ["status"],
      registers: [registry],
      collect() {
        this.reset();
        for (const status of ["pending", "synced", "failed"]) this.set({ status }, 0);
        for (const [status, n] of Object.entries(mlflowSyncCounts())) this.set({ status }, n);
      },
    });
  }
  return registry;
}

/** Routes for /metrics. */
export function metricsRoutes(registry: Registry) {
  return new Hono().get("/", async (c) => c.body(await registry.metrics(), 200, { "Content-Type": registry.contentType }));
}
