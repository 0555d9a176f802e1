// Test support: reading a Server-Sent Events stream (the live pipeline log) as a client does.

/** One Server-Sent Event as a test reads it, with when it arrived (ms since the epoch). */
export type SseEvent = { id?: string; event: string; data: string; arrivedAt: number };

/** Read Server-Sent Events from a response until the stream ends or `stop` returns true. */
export async function readEvents(res: Response, stop: (e: SseEvent, all: SseEvent[]) => boolean = () => false): Promise<SseEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = "";
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) return events;
    const arrivedAt = Date.now();
    buffer += decoder.decode(chunk.value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const e: SseEvent = { event: "message", data: "", arrivedAt };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const [field, ...rest] = line.split(":");
        const value = rest.join(":").replace(/^ /, "");
        if (field === "id") e.id = value;
        else if (field === "event") e.event = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length && e.id === undefined) continue; // a comment ping
      e.data = data.join("\n");
      events.push(e);
      if (stop(e, events)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

/** A Server-Sent Events stream read one event at a time: `next()` is the next event, or undefined once the stream ended. */
export type SseReader = { next(): Promise<SseEvent | undefined>; comments: () => number; close(): Promise<void> };

/** Read `res`'s events one by one (comments such as `: ping` are counted, not returned). */
export function sseReader(res: Response): SseReader {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let comments = 0;
  return {
    comments: () => comments,
    async next() {
      for (;;) {
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const e: SseEvent = { event: "message", data: "", arrivedAt: Date.now() };
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) {
              comments++;
              continue;
            }
            const [field, ...rest] = line.split(":");
            const value = rest.join(":").replace(/^ /, "");
            if (field === "id") e.id = value;
            else if (field === "event") e.event = value;
            else if (field === "data") data.push(value);
          }
          if (!data.length && e.id === undefined) continue;
          e.data = data.join("\n");
          return e;
        }
        const chunk = await reader.read();
        if (chunk.done) return undefined;
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}
