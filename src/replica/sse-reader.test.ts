import { expect, test } from "bun:test";
import { readSse, type SseMessage } from "./sse-reader.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(enc.encode(chunk));
      c.close();
    },
  });
}

async function read(chunks: string[], max?: number): Promise<{ messages: SseMessage[]; bytes: number }> {
  const messages: SseMessage[] = [];
  let bytes = 0;
  await readSse(streamOf(chunks), { onMessage: (m) => messages.push(m), onBytes: () => bytes++ }, max);
  return { messages, bytes };
}

test("events split anywhere across chunks, CRLF or LF, comments skipped but counted as bytes", async () => {
  const { messages, bytes } = await read([": ping\n\nid: 4", "2\r\nevent: state\r", '\ndata: {"a":', "1}\r\n\r\n: ping\n\n", "data: x\ndata: y\n\n"]);
  expect(messages).toEqual([
    { id: "42", event: "state", data: '{"a":1}' },
    { id: "42", event: "message", data: "x\ny" },
  ]);
  expect(bytes).toBe(5);
});

test("an event without a blank line after it at the end of the stream is not delivered", async () => {
  expect((await read(["event: state\ndata: {}\n"])).messages).toEqual([]);
});

test("an event or line over the cap ends the stream with an error instead of growing", async () => {
  await expect(read([`data: ${"x".repeat(100)}\n\n`], 64)).rejects.toThrow("larger than 64 bytes");
  await expect(read(["data: ", "y".repeat(100)], 64)).rejects.toThrow("longer than 64 bytes");
});
