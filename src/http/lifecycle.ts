// Where the server is in its life: health, readiness probes and the pages answer from it.

/** starting until the port opens and deployed models are loaded; stopping from the first stop signal on. */
export type Lifecycle = { phase: "starting" | "ready" | "stopping" };
