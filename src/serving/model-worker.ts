// Worker entry: owns one onnxruntime session. onnxruntime-node loads a model with a synchronous native call (seconds
// for a big model) and runs synchronously too; here both happen off the thread that serves HTTP.
// Started by openWorkerSession (worker-session.ts); also an entry point of the compiled executable (scripts/build.ts).
import { openModelSession, type ModelSession } from "./model-session.ts";
import { forPosting, toWire, type WorkerReply, type WorkerRequest } from "./worker-protocol.ts";

declare const self: Worker;

let session: ModelSession | undefined;

// Assigned before any await: a message that arrives before the handler exists is lost.
self.onmessage = (ev: MessageEvent<WorkerRequest>) => void handle(ev.data);

async function handle(req: WorkerRequest): Promise<void> {
  try {
    switch (req.op) {
      case "load":
        session = await openModelSession(req.path);
        return reply({ id: req.id, ok: true, signature: session.signature });
      case "run": {
        const { tensors, transfer } = forPosting(await current().run(req.feeds));
        return reply({ id: req.id, ok: true, outputs: tensors }, transfer);
      }
      case "predictRows":
        return reply({ id: req.id, ok: true, rows: await current().predictRows(req.rows) });
      case "release":
        await session?.release();
        session = undefined;
        return reply({ id: req.id, ok: true });
    }
  } catch (e) {
    reply({ id: req.id, ok: false, error: toWire(e) });
  }
}

function current(): ModelSession {
  if (!session) throw new Error("this model worker holds no model (not loaded, or released)");
  return session;
}

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}
