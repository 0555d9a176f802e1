// The in-memory registry of serving models: one loaded session per model name, swapped atomically.

/** What the registry needs of a loaded model (ModelSession satisfies it). */
export interface ServableModel {
  readonly signature: { inputs: { name: string; type: string; shape: (number | null)[] }[]; outputs: { name: string; type: string; shape: (number | null)[] }[] };
  predictRows(rows: number[][]): Promise<{ predictions: (number | string)[]; probabilities?: number[][] }>;
  release(): Promise<void> | void;
}

export type ModelLoader = (path: string) => Promise<ServableModel>;

type Entry = { name: string; version: number; model: ServableModel; inflight: number; retired: boolean };

/** A model checked out for one request; call done() exactly once. */
export type Lease = { name: string; version: number; model: ServableModel; done(): void };

/** Serving models by name. Requests hold a lease so a swapped-out session is released only after they finish. */
export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly load: ModelLoader) {}

  /**
   * Load `path`, run it once on a zero row (warm-up and sanity check), then make it serve `name`.
   * Throws (and changes nothing) when loading or the warm-up run fails.
   */
  async deploy(name: string, version: number, path: string): Promise<void> {
    const model = await this.load(path);
    try {
      const width = featureWidth(model);
      await model.predictRows([new Array(width).fill(0)]);
    } catch (e) {
      await model.release();
      throw new Error(`the model loaded but failed its warm-up run: ${e instanceof Error ? e.message : String(e)}`);
    }
    const old = this.entries.get(name);
    this.entries.set(name, { name, version, model, inflight: 0, retired: false });
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
    if (!e) return undefined;
    e.inflight++;
    let released = false;
    return {
      name,
      version: e.version,
      model: e.model,
      done: () => {
        if (released) return;
        released = true;
        e.inflight--;
        if (e.retired && e.inflight === 0) void e.model.release();
      },
    };
  }

  /** The serving version of `name`, or undefined. */
  version(name: string): number | undefined {
    return this.entries.get(name)?.version;
  }

  /** Name → version of everything serving. */
  serving(): { name: string; version: number }[] {
    return [...this.entries.values()].map((e) => ({ name: e.name, version: e.version }));
  }

  /** How many models serve. */
  count(): number {
    return this.entries.size;
  }

  /** Release every session (shutdown). */
  async close(): Promise<void> {
    for (const e of this.entries.values()) await e.model.release();
    this.entries.clear();
  }

  private retire(e: Entry): void {
    e.retired = true;
    if (e.inflight === 0) void e.model.release();
  }
}

/** Number of features of a model's first input (last dimension), 1 when unknown. */
export function featureWidth(model: ServableModel): number {
  const shape = model.signature.inputs[0]?.shape ?? [];
  const last = shape[shape.length - 1];
  return typeof last === "number" && last > 0 ? last : 1;
}
