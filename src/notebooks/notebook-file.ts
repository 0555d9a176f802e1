// Opening a pipeline's executed notebook for the pages. The notebook's own code could write that file (it runs with
// the work dir writable): it is opened without following a symlink, without blocking on a FIFO, and read only when it
// is a regular file of bounded size. Imports nothing of the app.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";

/** Largest executed notebook parsed for the page; a bigger one is offered as a download only. */
export const MAX_NOTEBOOK_PARSE_BYTES = 64 * 1024 * 1024;

/** What reading an executed notebook found. */
export type NotebookRead =
  | { kind: "missing" }
  | { kind: "unreadable"; reason: string }
  | { kind: "too_large"; bytes: number }
  | { kind: "corrupt"; bytes: number; reason: string }
  | { kind: "ok"; bytes: number; notebook: Record<string, unknown> };

// O_NOFOLLOW: a symlink put in its place is refused; O_NONBLOCK: a FIFO does not hang the server's one thread.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** An open regular file (fd and size), or what stands in the way. Closes what it opened when it is not a regular file. */
function openRegular(path: string): { fd: number; bytes: number } | { kind: "missing" } | { kind: "unreadable"; reason: string } {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { kind: "missing" };
    if (code === "ELOOP") return { kind: "unreadable", reason: "the executed notebook is a symbolic link; it must be a regular file" };
    return { kind: "unreadable", reason: `the executed notebook cannot be opened (${code ?? "error"})` };
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    return { kind: "unreadable", reason: "the executed notebook is not a regular file" };
  }
  return { fd, bytes: st.size };
}

/** The executed notebook at `path`, parsed when it is a regular JSON object of at most `maxBytes`. Never throws. */
export function readExecutedNotebook(path: string, maxBytes = MAX_NOTEBOOK_PARSE_BYTES): NotebookRead {
  const opened = openRegular(path);
  if ("kind" in opened) return opened;
  const { fd, bytes } = opened;
  try {
    if (bytes > maxBytes) return { kind: "too_large", bytes };
    // Read at most maxBytes + 1 whatever the size said: a file still being written may have grown since.
    const buf = Buffer.allocUnsafe(Math.min(bytes, maxBytes) + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > maxBytes) return { kind: "too_large", bytes: n };
    let parsed: unknown;
    try {
      parsed = JSON.parse(buf.subarray(0, n).toString("utf8"));
    } catch (e) {
      return { kind: "corrupt", bytes: n, reason: e instanceof Error ? e.message : String(e) };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !Array.isArray((parsed as { cells?: unknown }).cells))
      return { kind: "corrupt", bytes: n, reason: "the JSON is not a notebook (no cells list)" };
    return { kind: "ok", bytes: n, notebook: parsed as Record<string, unknown> };
  } catch (e) {
    return { kind: "unreadable", reason: `the executed notebook cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"})` };
  } finally {
    closeSync(fd);
  }
}

/** The executed notebook at `path` as a byte stream for a download (the fd closes when it ends or is cancelled), or why not. Never throws. */
export function openNotebookDownload(
  path: string,
): { kind: "ok"; bytes: number; body: ReadableStream<Uint8Array> } | { kind: "missing" } | { kind: "unreadable"; reason: string } {
  const opened = openRegular(path);
  if ("kind" in opened) return opened;
  const { fd } = opened;
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  // Reads with the fd opened above (a swap of the path after the checks changes nothing), closing it at the end.
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      try {
        const buf = Buffer.allocUnsafe(256 * 1024);
        const got = readSync(fd, buf, 0, buf.length, null);
        if (got > 0) return controller.enqueue(buf.subarray(0, got));
        close();
        controller.close();
      } catch (e) {
        close();
        controller.error(e);
      }
    },
    cancel: close,
  });
  return { kind: "ok", bytes: opened.bytes, body };
}

/**
 * A short string that changes whenever the file at `path` is rewritten (size, modification time in ns, inode), "none"
 * when there is no file. Cheap (one lstat), so a poll can tell "unchanged" without reading. Never throws.
 */
export function notebookStamp(path: string): string {
  try {
    const st = lstatSync(path, { bigint: true });
    return `${st.size}-${st.mtimeNs}-${st.ino}`;
  } catch {
    return "none";
  }
}
