// The in-memory registry of serving models: one loaded session per model name, swapped atomically, and a small
// LRU cache of other stored versions that requests pin explicitly.
import { planOutputs, type Outputs } from "./model-outputs.ts";
import { runFeeds, zeroFeeds } from "./run-feeds.ts";
import type { TensorValue } from "./tensor-types.ts";

type Spec = { name: string; type: string; shape: (number | null)[] };

/** What the registry needs of a loaded model (ModelSession satisfies it). */
export interface ServableModel {
  readonly signature: { inputs: Spec[]; outputs: Spec[] };
  /** Run with tensors keyed by input name; every output by name. */
  run(feeds: Record<string, TensorValue>): Promise<Outputs>;
  predictRows(rows: number[][]): Promise<{ predictions: (number | string)[]; probabilities?: number[][] }>;
  release(): Promise<void> | void;
}

export type ModelLoader = (path: string) => Promise<ServableModel>;

type Entry = { name: string; version: number; model: ServableModel; inflight: number; retired: boolean; released: boolean };

/** A model checked out for one request; call done() exactly once. */
export type Lease = { name: string; version: number; model: ServableModel; done(): void };

/** How many non-serving versions stay loaded for pinned requests, by default. */
export const DEFAULT_PINNED_CAPACITY = 4;

/** Serving models by name. Requests hold a lease so a swapped-out session is released only after they finish. */
export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();
  // Map order is recency: the first entry is the least recently used.
  private readonly pinned = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<Entry>>();
  private readonly pinnedCapacity: number;

  constructor(
    private readonly load: ModelLoader,
    opts: { pinnedCapacity?: number } = {},
  ) {
    this.pinnedCapacity = opts.pinnedCapacity ?? DEFAULT_PINNED_CAPACITY;
  }

  /**
   * Load `path`, run it once on zeros (warm-up and sanity check), then make it serve `name`.
   * Throws (and changes nothing) when loading or the warm-up run fails.
   */
  async deploy(name: string, version: number, path: string): Promise<void> {
    const model = await this.load(path);
    try {
      planOutputs(model.signature);
      await runFeeds(model, zeroFeeds(model.signature));
    } catch (e) {
      await model.release();
      throw new Error(`the model loaded but failed its warm-up run: ${e instanceof Error ? e.message : String(e)}`);
    }
    const old = this.entries.get(name);
    this.entries.set(name, { name, version, model, inflight: 0, retired: false, released: false });
    if (old) this.retire(old);
  }

  /** Stop serving `name`; returns whether it was serving. */
  undeploy(name: string): boolean {
    const old = this.entries.get(name);
    if (!old) return false;
    this.entries.delete(name);
    this.retire(old);
    return true;
  }

  /** Check out the serving model for one request, or undefined when none serves. */
  acquire(name: string): Lease | undefined {
    const e = this.entries.get(name);
    return e ? this.lease(e) : undefined;
  }

  /**
   * Check out version `version` of `name` for one request: the serving session when that version serves, else one
   * loaded on demand from `path()` into the LRU cache of pinned versions (concurrent requests share one load).
   * Throws what `path()` throws (e.g. NotFoundError for an unknown version) or the loader's error; caches nothing then.
   */
  async acquireVersion(name: string, version: number, path: () => string): Promise<Lease> {
    for (;;) {
      const serving = this.entries.get(name);
      if (serving?.version === version) return this.lease(serving);
      const key = `${name}\u0000${version}`;
      const cached = this.pinned.get(key);
      if (cached) {
        this.pinned.delete(key);
        this.pinned.set(key, cached);
        return this.lease(cached);
      }
      let loading = this.loading.get(key);
      if (!loading) {
        const file = path();
        loading = this.load(file).then(
          (model) => {
            this.loading.delete(key);
            const entry: Entry = { name, version, model, inflight: 0, retired: false, released: false };
            this.pinned.set(key, entry);
            this.evictPinned();
            return entry;
          },
          (e: unknown) => {
            this.loading.delete(key);
            throw e;
          },
        );
        this.loading.set(key, loading);
      }
      const entry = await loading;
      // Evicted (and released) by other loads before this request resumed: load it again.
      if (!entry.released) return this.lease(entry);
    }
  }

  /** The serving version of `name`, or undefined. */
  version(name: string): number | undefined {
    return this.entries.get(name)?.version;
  }

  /** The serving session of `name` without checking it out (metadata only: never run it), or undefined. */
  peek(name: string): { version: number; model: ServableModel } | undefined {
    return this.entries.get(name);
  }

  /** Name → version of everything serving. */
  serving(): { name: string; version: number }[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, version: e.version }));
  }

  /** How many models serve. */
  count(): number {
    return this.entries.size;
  }

  /** How many pinned (non-serving) versions are loaded. */
  pinnedCount(): number {
    return this.pinned.size;
  }

  /** Release every session (shutdown). */
  async close(): Promise<void> {
    for (const e of [...this.entries.values(), ...this.pinned.values()]) {
      e.released = true;
      await e.model.release();
    }
    this.entries.clear();
    this.pinned.clear();
  }

  private lease(e: Entry): Lease {
    e.inflight++;
    let done = false;
    return {
      name: e.name,
      version: e.version,
      model: e.model,
      done: () => {
        if (done) return;
        done = true;
        e.inflight--;
        if (e.retired && e.inflight === 0) this.release(e);
      },
    };
  }

  private evictPinned(): void {
    for (const [key, e] of this.pinned) {
      if (this.pinned.size <= this.pinnedCapacity) break;
      this.pinned.delete(key);
      this.retire(e);
    }
  }

  private retire(e: Entry): void {
    e.retired = true;
    if (e.inflight === 0) this.release(e);
  }

  private release(e: Entry): void {
    if (e.released) return;
    e.released = true;
    void e.model.release();
  }
}

/** Number of features of a model's first input (last dimension), 1 when unknown. */
export function featureWidth(model: { signature: { inputs: Spec[] } }): number {
  const shape = model.signature.inputs[0]?.shape ?? [];
  const last = shape[shape.length - 1];
  return typeof last === "number" && last > 0 ? last : 1;
}
