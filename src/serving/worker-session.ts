// A model loaded and run in a worker thread of its own, behind the same ModelSession interface as an in-thread session.
// onnxruntime-node loads (and runs) synchronously on the calling thread: loading a 40 MB forest held the serving thread
// for ~0.5 s, so every request to every other model waited. One worker per loaded model keeps loads off that thread
// and off each other's workers; releasing the model ends its worker, which gives all its memory back.
import type { Outputs } from "./model-outputs.ts";
import type { ModelSession, ModelSignature, RowPredictions } from "./model-session.ts";
import { forPosting, fromWire, type WorkerReply, type WorkerRequest } from "./worker-protocol.ts";

// Under `bun run` this module is a file beside model-worker.ts. In the compiled executable every module shares the
// executable's own URL (file:///$bunfs/root/<name>), and the worker entry point (scripts/build.ts lists it) sits at
// serving/model-worker under the same root, the entry points' common folder being src/.
const WORKER_URL = import.meta.url.includes("/$bunfs/")
  ? new URL("./serving/model-worker.ts", import.meta.url).href
  : new URL("./model-worker.ts", import.meta.url).href;

type Pending = { resolve: (reply: WorkerReply & { ok: true }) => void; reject: (e: Error) => void };
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/**
 * Load the ONNX file at `path` in a new worker thread; the returned session runs there. Same contract as
 * openModelSession: throws ModelLoadError (422) naming the path when the file is missing or not a usable model,
 * and UnprocessableError (422) from predictRows for bad rows. release() ends the worker.
 */
export async function openWorkerSession(path: string): Promise<ModelSession> {
  const worker = new ModelWorker();
  let signature: ModelSignature;
  try {
    const reply = (await worker.call({ op: "load", path })) as { signature: ModelSignature };
    signature = reply.signature;
  } catch (e) {
    worker.terminate();
    throw e;
  }
  let released = false;
  return {
    path,
    signature,
    async run(feeds) {
      const { tensors, transfer } = forPosting(feeds);
      return ((await worker.call({ op: "run", feeds: tensors }, transfer)) as { outputs: Outputs }).outputs;
    },
    async predictRows(rows) {
      return ((await worker.call({ op: "predictRows", rows })) as { rows: RowPredictions }).rows;
    },
    async release() {
      if (released) return;
      released = true;
      // The native session is freed by the worker itself: ending a thread does not promise to run native finalizers.
      await worker.call({ op: "release" }).catch(() => undefined);
      worker.terminate();
    },
  };
}

/** One worker and its outstanding requests. It keeps the process alive only while a request is outstanding. */
// Bun's Worker has ref()/unref() like Node's; the DOM typing it is declared with does not.
type RefWorker = Worker & { ref(): void; unref(): void };

class ModelWorker {
  private readonly worker = new Worker(WORKER_URL) as RefWorker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor() {
    // An idle model must not keep a process (a CLI, a test) from exiting.
    this.worker.unref();
    this.worker.onmessage = (ev: MessageEvent<WorkerReply>) => this.settle(ev.data);
    this.worker.onerror = (ev: ErrorEvent) => this.fail(new Error(`the model's worker failed: ${ev.message}`));
    this.worker.addEventListener("close", () => this.fail(new Error("the model's worker has stopped")));
  }

  /** Send `request`; resolves with the worker's reply, rejects with the error it reports (typed again, see fromWire). */
  call(request: Request, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  /** End the thread; outstanding requests reject. Idempotent. */
  terminate(): void {
    this.fail(new Error("the model's worker has stopped"));
    this.worker.terminate();
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.ok) p.resolve(reply);
    else p.reject(fromWire(reply.error));
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
  }
}
