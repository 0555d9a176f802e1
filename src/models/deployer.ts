// Deploys stored model versions into the serving registry and records why; restores deployments at start.
import { ConflictError, NotFoundError } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import type { ModelRegistry } from "../serving/model-registry.ts";
import type { DeployReason, ModelStore } from "./model-store.ts";

export type DeployBy = { reason: DeployReason; pipelineId?: number | null; actor?: string | null };

/** Moves versions in and out of serving; one operation at a time per model. */
export class Deployer {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly listeners: ((modelName: string) => void)[] = [];

  constructor(
    private readonly store: ModelStore,
    private readonly registry: ModelRegistry,
    private readonly logger?: Logger,
  ) {}

  /** Call `listener` after each recorded deployment change (deploy, rollback, undeploy) with the model's name. */
  onChange(listener: (modelName: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Load the stored version, warm it, swap it in, then record the deployment.
   * Throws NotFoundError for an unknown version and Error with the reason when loading fails;
   * on any failure what served before keeps serving and nothing is recorded.
   */
  deploy(modelName: string, version: number, by: DeployBy): Promise<void> {
    return this.serialize(modelName, () => this.load(modelName, version, by));
  }

  /**
   * Deploy the version deployed before the current one (reason "rollback"); returns it.
   * Throws NotFoundError for an unknown model and ConflictError when nothing is deployed or no other version was.
   */
  rollback(modelName: string, by: { actor?: string | null } = {}): Promise<number> {
    return this.serialize(modelName, async () => {
      if (!this.store.versions(modelName).length) throw new NotFoundError(`model "${modelName}" does not exist`);
      const previous = this.rollbackTarget(modelName);
      if (previous === null) throw new ConflictError(`model "${modelName}" has no earlier deployed version to roll back to`);
      await this.load(modelName, previous, { reason: "rollback", actor: by.actor ?? null });
      return previous;
    });
  }

  /** The version a rollback would deploy: the newest deployed version other than the current one; null when there is none. */
  rollbackTarget(modelName: string): number | null {
    const current = this.store.deployedVersion(modelName);
    if (current === null) return null;
    return this.store.history(modelName).find((d) => d.version !== null && d.version !== current)?.version ?? null;
  }

  /** Stop serving a model and record it; returns false when nothing served. */
  undeploy(modelName: string, by: { actor?: string | null } = {}): Promise<boolean> {
    return this.serialize(modelName, async () => {
      const was = this.registry.undeploy(modelName);
      if (was || this.store.deployedVersion(modelName) !== null) {
        this.store.recordDeployment({ modelName, version: null, reason: "undeploy", actor: by.actor ?? null });
        this.changed(modelName);
      }
      return was;
    });
  }

  /** Load every deployed version recorded in the database (start-up). Failures are logged and returned, not thrown. */
  async restoreAll(): Promise<{ restored: string[]; failed: { model: string; error: string }[] }> {
    const restored: string[] = [];
    const failed: { model: string; error: string }[] = [];
    await Promise.all(
      this.store.allDeployed().map(async ({ modelName, version }) => {
        try {
          await this.registry.deploy(modelName, version, this.store.get(modelName, version).path);
          restored.push(`${modelName}@${version}`);
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          failed.push({ model: modelName, error });
          this.logger?.error({ model: modelName, version, error }, "could not restore deployed model");
        }
      }),
    );
    return { restored, failed };
  }

  // Callers hold the model's turn in serialize().
  private async load(modelName: string, version: number, by: DeployBy): Promise<void> {
    const row = this.store.get(modelName, version);
    await this.registry.deploy(modelName, version, row.path);
    this.store.recordDeployment({ modelName, version, ...by });
    this.logger?.info({ model: modelName, version, reason: by.reason }, "model deployed");
    this.changed(modelName);
  }

  private changed(modelName: string): void {
    for (const listener of this.listeners) {
      try {
        listener(modelName);
      } catch (e) {
        this.logger?.error({ err: e, model: modelName }, "a deployment listener failed");
      }
    }
  }

  private serialize<T>(modelName: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(modelName) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(modelName, tail);
    void tail.then(() => {
      if (this.chains.get(modelName) === tail) this.chains.delete(modelName);
    });
    return next;
  }
}
