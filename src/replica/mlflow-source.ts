// A replica's desired state read from MLflow's model registry instead of a primary: for every registered model, the
// version its "deployed" alias points at (no alias: not served). MLflow has no change stream, so it is polled. MLflow
// is a shared, writable place (a notebook can register versions and move aliases), so a version serves only when its
// tags carry the primary's signature (model-signature.ts) and its file has the signed sha256; anything else under the
// alias is refused and the replica keeps what it served.
import { createHash } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { errorLine } from "../lib/errors.ts";
import type { Logger } from "../lib/logger.ts";
import { MlflowClient, type MlflowModelVersion } from "../mlflow/mlflow-client.ts";
import { DEPLOYED_ALIAS, MODEL_ARTIFACT, VERSION_TAG } from "../mlflow/mlflow-restore.ts";
import type { VersionSigner } from "../mlflow/model-signature.ts";
import { checkState, type DesiredState, isModelName, type ModelState } from "./model-cache.ts";
import { chunksOf } from "./sse-reader.ts";
import { Reachability, WakeableWait } from "./source-reachability.ts";
import { type DesiredStateSource, IntegrityError, type Refusal, type SourceStatus, type StateHandlers } from "./state-source.ts";

export type MlflowSourceOptions = {
  /** The tracking server (credentials in it are sent as Basic auth and never shown). */
  url: string;
  /** Verifies the primary's signatures (built from MLFLOW_SIGNATURE_KEY). */
  verifier: VersionSigner;
  logger: Logger;
  /** Wait between two reads of the registry (MLFLOW_POLL_SECONDS). */
  pollMs: number;
  /** The revision of the first state handed out; each change of the state adds one (start above the cache's). */
  firstRevision: number;
  /** An unchanged state is handed out again this often, so a model that failed is retried. Default 60 s. */
  retryMs?: number;
  /** Bound of each registry read (default 5 s) and of each model download (default 120 s). */
  timeoutMs?: { read: number; download: number };
};

/** Where a version of the state is in MLflow: the run holding its file, for download(). */
type Located = { sha256: string; artifactUri: string; mlflowVersion: string };

/** Follows MLflow's "deployed" aliases. follow() starts polling; poll() is one step (tests may drive it); close() ends it. */
export class MlflowSource implements DesiredStateSource {
  readonly kind = "mlflow";
  private readonly reads: MlflowClient;
  private readonly downloads: MlflowClient;
  private readonly state: SourceStatus;
  private readonly retryMs: number;
  private revision: number;
  private last?: { key: string; at: number };
  // By "name@version": where the file of each version of the newest state is.
  private located = new Map<string, Located>();
  // By "name@mlflowVersion@runId@sha256": the file's size, read once per version (a listing costs a request).
  private readonly sizes = new Map<string, number>();
  // By run id: its artifact root (a run's never changes), so a poll reads no run it read before.
  private readonly artifactRoots = new Map<string, string>();
  private handlers?: StateHandlers;
  private closed = false;
  // Aborts a download in flight when the replica stops.
  private readonly closing = new AbortController();
  private readonly wait = new WakeableWait();
  private readonly reachability: Reachability;

  constructor(private readonly opts: MlflowSourceOptions) {
    this.reads = new MlflowClient(opts.url, { timeoutMs: opts.timeoutMs?.read ?? 5_000 });
    this.downloads = new MlflowClient(opts.url, { timeoutMs: opts.timeoutMs?.download ?? 120_000 });
    this.state = { kind: "mlflow", url: this.reads.shownUrl, reachable: false, since: new Date().toISOString() };
    this.reachability = new Reachability(
      this.state,
      opts.logger,
      { mlflow: this.state.url },
      {
        up: "following MLflow's deployed aliases",
        down: "MLflow cannot be read; serving what is loaded and retrying",
      },
    );
    this.retryMs = opts.retryMs ?? 60_000;
    this.revision = opts.firstRevision;
  }

  status(): SourceStatus {
    return { ...this.state };
  }

  follow(handlers: StateHandlers): void {
    this.handlers = handlers;
    void this.loop();
  }

  close(): void {
    this.closed = true;
    this.closing.abort(new Error("the replica is stopping"));
    this.wait.wake();
  }

  /**
   * Read the registry once and hand the handlers the state: at once when it changed or MLflow answers again after
   * failing, else every `retryMs`; a failed read goes to onDown. Never throws.
   */
  async poll(): Promise<void> {
    const handlers = this.handlers;
    let read: { state: DesiredState; refused: Record<string, Refusal>; located: Map<string, Located>; key: string };
    try {
      const { models, refused, located } = await this.read();
      const key = JSON.stringify([sorted(models), sorted(refused)]);
      const revision = this.last && this.last.key !== key ? this.revision + 1 : this.revision;
      // Checked as a primary's state is: whatever MLflow answered, the cache gets no path or number it should not.
      read = { state: checkState({ revision, models }), refused, located, key };
    } catch (e) {
      const reason = errorLine(e);
      this.reachability.down(reason, this.opts.pollMs);
      handlers?.onDown?.(reason);
      return;
    }
    const wasDown = !this.state.reachable;
    this.state.lastContactAt = Date.now();
    this.reachability.up();
    this.located = read.located;
    const now = Date.now();
    if (this.last?.key === read.key && !wasDown && now - this.last.at < this.retryMs) return;
    this.revision = read.state.revision;
    this.last = { key: read.key, at: now };
    handlers?.onState(read.state, read.refused);
  }

  async download(name: string, version: number, expected: ModelState, dest: string): Promise<void> {
    const where = this.located.get(`${name}@${version}`);
    const file = await open(dest, "wx", 0o600);
    try {
      if (!where || where.sha256 !== expected.sha256) throw new Error(`MLflow's "${DEPLOYED_ALIAS}" alias of ${name} no longer points at version ${version}`);
      const body = await this.downloads.openArtifact({ artifactUri: where.artifactUri }, MODEL_ARTIFACT, this.closing.signal);
      const hash = createHash("sha256");
      let size = 0;
      const refuse = (what: string) =>
        new IntegrityError(
          `the model file of ${name} version ${version} in MLflow (registered version ${where.mlflowVersion}; ${what}) is not the one its signature covers (${expected.size} bytes, sha256 ${expected.sha256}): not served`,
        );
      // Read no more than the listed size: whatever MLflow holds is bounded before it is kept.
      for await (const chunk of chunksOf(body)) {
        size += chunk.byteLength;
        if (size > expected.size) throw refuse(`more than ${expected.size} bytes`);
        hash.update(chunk);
        await file.write(chunk);
      }
      const sha = hash.digest("hex");
      if (size !== expected.size || sha !== expected.sha256) throw refuse(`${size} bytes, sha256 ${sha}`);
      await file.sync();
    } catch (e) {
      await file.close().catch(() => undefined);
      await rm(dest, { force: true });
      throw e;
    }
    await file.close();
  }

  /** One read of the registry: every model's signed deployed version, and the models whose alias names no signed one. */
  private async read() {
    const models: Record<string, ModelState> = {};
    const refused: Record<string, Refusal> = {};
    const located = new Map<string, Located>();
    const runsSeen = new Set<string>();
    for (const name of await this.reads.registeredModelNames()) {
      const mv = await this.reads.versionByAlias(name, DEPLOYED_ALIAS);
      if (!mv) continue; // not deployed
      const claimed = Number(mv.tags[VERSION_TAG]);
      const wanted = Number.isSafeInteger(claimed) && claimed > 0 ? claimed : 0;
      if (!isModelName(name)) {
        refused[name] = { wanted, error: `the registered model name ${JSON.stringify(name)} is not a model name mlops uses: not served` };
        continue;
      }
      const signed = this.opts.verifier.verifiedTags(name, mv.tags, VERSION_TAG);
      if (!signed) {
        refused[name] = {
          wanted,
          error: `MLflow's "${DEPLOYED_ALIAS}" alias of ${name} points at registered version ${mv.version}, which carries no valid mlops signature (made elsewhere, its tags edited, or signed with another key): not served`,
        };
        continue;
      }
      runsSeen.add(mv.runId);
      let artifactUri = this.artifactRoots.get(mv.runId);
      if (artifactUri === undefined) {
        artifactUri = (await this.reads.getRun(mv.runId)).artifactUri;
        this.artifactRoots.set(mv.runId, artifactUri);
      }
      const size = await this.sizeOf(mv, mv.runId, signed.sha256);
      models[name] = { version: signed.version, sha256: signed.sha256, size };
      located.set(`${name}@${signed.version}`, { sha256: signed.sha256, artifactUri, mlflowVersion: mv.version });
    }
    // Remember only what the aliases name now: the maps do not grow with every version ever deployed.
    for (const runId of this.artifactRoots.keys()) if (!runsSeen.has(runId)) this.artifactRoots.delete(runId);
    for (const key of this.sizes.keys()) if (!runsSeen.has(key.split("@")[2]!)) this.sizes.delete(key);
    return { models, refused, located };
  }

  private async sizeOf(mv: MlflowModelVersion, runId: string, sha256: string): Promise<number> {
    const key = `${mv.name}@${mv.version}@${runId}@${sha256}`;
    const known = this.sizes.get(key);
    if (known !== undefined) return known;
    const listed = (await this.reads.listArtifacts(runId, MODEL_ARTIFACT.split("/")[0])).find((f) => f.path === MODEL_ARTIFACT);
    // No file: size 0, so the download refuses whatever is (or later appears) there unless it is the signed, empty file.
    const size = listed?.fileSize ?? 0;
    this.sizes.set(key, size);
    return size;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      await this.poll();
      if (this.closed) break;
      await this.wait.sleep(this.opts.pollMs);
    }
  }
}

function sorted<T>(rec: Record<string, T>): [string, T][] {
  return Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
