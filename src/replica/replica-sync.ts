// Makes the registry serve a desired state: fetches missing files into the cache (checked), loads, warms and swaps
// each model exactly as the primary's deploy does, unloads what the state no longer names, and remembers what it
// serves in the cache. A model that cannot be brought to its desired version keeps serving what it served.
import { rmSync } from "node:fs";
import type { Logger } from "../lib/logger.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import { type DesiredState, type ModelCache, type ModelState, moveIntoPlace } from "./model-cache.ts";
import type { Refusal, SourceKind } from "./state-source.ts";

/** Downloads one model file into a temp path; throws (leaving nothing at `dest`) when it cannot or the file fails its check. */
export type Downloader = (name: string, version: number, expected: ModelState, dest: string) => Promise<void>;

/** A model the replica could not bring to the version its source deploys, and why. */
export type ModelProblem = { model: string; wanted: number; serving: number | null; error: string; at: string };

/** Where the state being served came from: the source (primary or MLflow), or the cache at a start without it. */
export type StateOrigin = SourceKind | "cache";

/** Applies desired states one at a time; a state arriving meanwhile replaces any not yet started (the newest wins). */
export class ReplicaSync {
  private readonly served = new Map<string, ModelState>();
  private readonly problemsByModel = new Map<string, ModelProblem>();
  private next?: { state: DesiredState; source: StateOrigin; refused: Record<string, Refusal> };
  private running?: Promise<void>;
  private applied?: { revision: number; source: StateOrigin };
  private readonly listeners: (() => void)[] = [];

  constructor(private readonly deps: { registry: ModelRegistry; cache: ModelCache; download: Downloader; logger: Logger }) {}

  /**
   * Serve `state` (from `source`); resolves once it or a newer state queued meanwhile is applied. Never rejects: a
   * model that fails keeps its previous version and is listed in problems(), as does each model in `refused`. A cache
   * state is ignored once the source's has been applied (the source's is newer by definition); a state already
   * applied in full (same revision and origin, no problem left) is not applied again.
   */
  apply(state: DesiredState, source: StateOrigin, refused: Record<string, Refusal> = {}): Promise<void> {
    if (source === "cache" && this.applied && this.applied.source !== "cache") return Promise.resolve();
    // Checked here too, not only in drain(): a drain that skipped without awaiting would end before `running` is set.
    if (!this.running && this.appliedInFull(state, source, refused)) return Promise.resolve();
    this.next = { state, source, refused };
    this.running ??= this.drain();
    return this.running;
  }

  /** Call `listener` after each applied state. */
  onApplied(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The revision and source of the last applied state; undefined before the first (nothing to serve yet). */
  current(): { revision: number; source: StateOrigin } | undefined {
    return this.applied && { ...this.applied };
  }

  /** Models not at their desired version, and why. */
  problems(): ModelProblem[] {
    return [...this.problemsByModel.values()];
  }

  private async drain(): Promise<void> {
    try {
      while (this.next) {
        const { state, source, refused } = this.next;
        this.next = undefined;
        if (this.appliedInFull(state, source, refused)) continue;
        await this.applyOne(state, source, refused);
      }
    } finally {
      // Synchronously after the last check of `next`: an apply() from here on starts a new drain.
      this.running = undefined;
    }
  }

  private appliedInFull(state: DesiredState, source: StateOrigin, refused: Record<string, Refusal>): boolean {
    const same = this.applied?.revision === state.revision && this.applied.source === source;
    return same && this.problemsByModel.size === 0 && Object.keys(refused).length === 0;
  }

  private async applyOne(state: DesiredState, source: StateOrigin, refused: Record<string, Refusal>): Promise<void> {
    const { registry, cache, logger } = this.deps;
    await Promise.all(Object.entries(state.models).map(([name, wanted]) => this.bring(name, wanted, source)));
    for (const [name, refusal] of Object.entries(refused)) this.refuse(name, refusal);
    for (const name of [...this.served.keys()]) {
      if (state.models[name] || refused[name]) continue;
      registry.undeploy(name);
      this.served.delete(name);
      logger.info({ model: name, revision: state.revision }, "model undeployed (its source no longer deploys it)");
    }
    for (const name of [...this.problemsByModel.keys()]) if (!state.models[name] && !refused[name]) this.problemsByModel.delete(name);
    this.applied = { revision: state.revision, source };
    // What serves, not what was asked for: a restart from the cache serves exactly this.
    const serving = Object.fromEntries(this.served);
    try {
      cache.writeState({ revision: state.revision, models: serving });
      cache.prune(serving);
    } catch (err) {
      logger.error({ err }, "could not write the replica's cache; a restart without the primary may serve an older state");
    }
    for (const listener of this.listeners) listener();
  }

  /** Keep what serves of `name` and report why the source's version is not served (logged when the reason is new). */
  private refuse(name: string, refusal: Refusal): void {
    const serving = this.served.get(name)?.version ?? null;
    const before = this.problemsByModel.get(name);
    if (before?.error === refusal.error && before.serving === serving) return;
    this.problemsByModel.set(name, { model: name, wanted: refusal.wanted, serving, error: refusal.error, at: new Date().toISOString() });
    this.deps.logger.error(
      { model: name, version: refusal.wanted, serving, error: refusal.error },
      serving === null ? "refused the model's version; the model does not serve" : `refused the model's version; version ${serving} keeps serving`,
    );
  }

  private async bring(name: string, wanted: ModelState, source: StateOrigin): Promise<void> {
    const { registry, cache, logger } = this.deps;
    const was = this.served.get(name);
    if (was && was.version === wanted.version && was.sha256 === wanted.sha256) {
      this.problemsByModel.delete(name);
      return;
    }
    try {
      const path = cache.path(name, wanted.version);
      if (!(await cache.holds(name, wanted.version, wanted.sha256))) {
        if (source === "cache") throw new Error(`the cached file ${path} is missing or does not match its sha256`);
        const temp = cache.tempPath(name, wanted.version);
        try {
          await this.deps.download(name, wanted.version, wanted, temp);
          moveIntoPlace(temp, path);
        } finally {
          rmSync(temp, { force: true });
        }
      }
      await registry.deploy(name, wanted.version, path);
      this.served.set(name, wanted);
      this.problemsByModel.delete(name);
      logger.info({ model: name, version: wanted.version, from: source, previous: was?.version ?? null }, "model deployed");
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      const serving = this.served.get(name)?.version ?? null;
      this.problemsByModel.set(name, { model: name, wanted: wanted.version, serving, error, at: new Date().toISOString() });
      logger.error(
        { model: name, version: wanted.version, serving, error },
        serving === null ? "could not deploy the model; it does not serve" : `could not deploy the model; version ${serving} keeps serving`,
      );
    }
  }
}
