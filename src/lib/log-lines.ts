// Bounded log lines: a line longer than the limit keeps its start and says how much was cut. Imports nothing of the app.

/** `line` when it fits in `max` characters (and nothing was dropped before), else its first `max` characters and a marker counting the rest. */
export function cutLine(line: string, max: number, droppedBefore = 0): string {
  const over = Math.max(0, line.length - max) + droppedBefore;
  if (over === 0) return line;
  return `${line.slice(0, max)} … [line cut: ${over} more characters dropped (NOTEBOOK_LOG_LINE_MAX_CHARS=${max})]`;
}

/**
 * Read a byte stream as UTF-8 lines (without "\n" or "\r\n"), including a last line without newline, each cut to
 * `maxChars` with `cutLine`. Memory stays bounded by `maxChars` plus one chunk however long a line grows.
 * Resolves at end of stream or when the reader is cancelled or errors (what was read is kept).
 */
export async function readLines(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  onLine: (line: string) => void,
  maxChars = Number.MAX_SAFE_INTEGER,
): Promise<void> {
  const decoder = new TextDecoder("utf-8");
  let pending = "";
  let dropped = 0;
  const emit = () => {
    // A "\r" cut off with the dropped part is not at the end of what is kept.
    const line = dropped === 0 && pending.endsWith("\r") ? pending.slice(0, -1) : pending;
    onLine(cutLine(line, maxChars, dropped));
    pending = "";
    dropped = 0;
  };
  const take = (text: string) => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      const end = nl < 0 ? text.length : nl;
      // One character beyond the limit is kept so a "\r" right at the limit can still be recognised.
      const room = maxChars + 1 - pending.length;
      if (end - start <= room) pending += text.slice(start, end);
      else {
        pending += text.slice(start, start + Math.max(0, room));
        dropped += end - start - Math.max(0, room);
      }
      if (nl < 0) return;
      emit();
      start = nl + 1;
    }
  };
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch {
      break;
    }
    if (chunk.done) break;
    // stream: true keeps a multi-byte character split across chunks for the next call.
    take(decoder.decode(chunk.value, { stream: true }));
  }
  take(decoder.decode());
  if (pending.length > 0 || dropped > 0) emit();
}
