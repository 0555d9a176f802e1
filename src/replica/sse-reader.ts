// Reads a Server-Sent Events body into events, bounded: a line or event longer than the cap ends the stream with an
// error rather than growing memory without end.

export type SseMessage = { id?: string; event: string; data: string };

/**
 * Call `onMessage` for each event of `body` and `onBytes` for every chunk (comments too: they prove the peer alive).
 * Resolves when the body ends; rejects when it errors or an event exceeds `maxEventBytes`.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  handlers: { onMessage(m: SseMessage): void; onBytes(): void },
  maxEventBytes = 1024 * 1024,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = "";
  let data: string[] = [];
  let size = 0;
  let event = "message";
  let id: string | undefined;
  const dispatch = () => {
    if (data.length) handlers.onMessage({ id, event, data: data.join("\n") });
    data = [];
    size = 0;
    event = "message";
  };
  for await (const chunk of chunksOf(body)) {
    handlers.onBytes();
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const nl = buffer.search(/\r\n|\r|\n/);
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (nl < 0 || (nl === buffer.length - 1 && buffer[nl] === "\r")) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        dispatch();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + (line[colon + 1] === " " ? 2 : 1));
      size += value.length;
      if (size > maxEventBytes) throw new Error(`an event of the stream is larger than ${maxEventBytes} bytes`);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
      else if (field === "id") id = value;
    }
    if (buffer.length > maxEventBytes) throw new Error(`a line of the stream is longer than ${maxEventBytes} bytes`);
  }
}

/** The chunks of a web stream as an async iterable (the DOM typings give ReadableStream no iterator). */
export async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // Left early (an error, a cap): cancelling closes the connection instead of leaving it unread.
    await reader.cancel().catch(() => undefined);
  }
}
