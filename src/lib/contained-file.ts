// Files that pushed code wrote (or chose) are read by the server only when they are plain files inside the place
// they belong: a symlink could point the server at its own database, a FIFO would block its one thread forever.
// Imports nothing of the app.
import { lstatSync, realpathSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";

/** Why a file that pushed code controls was not read. */
export class UncontainedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UncontainedFileError";
  }
}

/**
 * Check that `path` is a regular file (not a symlink, directory, FIFO, socket or device) of at most `maxBytes`,
 * reached from `root` without passing through a symlink. Returns its size; throws UncontainedFileError saying what
 * is wrong, or the fs error (ENOENT) when it does not exist. Check after the code that wrote it has stopped.
 */
export function containedFileSize(path: string, root: string, maxBytes: number, what = "the file"): number {
  const rel = relative(root, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) throw new UncontainedFileError(`${what} is outside its directory`);
  const st = lstatSync(path);
  if (st.isSymbolicLink()) throw new UncontainedFileError(`${what} is a symbolic link; it must be a regular file`);
  if (!st.isFile()) throw new UncontainedFileError(`${what} is not a regular file`);
  if (realpathSync(path) !== join(realpathSync(root), rel))
    throw new UncontainedFileError(`${what} is reached through a symbolic link; it must be a regular file in its directory`);
  if (st.size > maxBytes) throw new UncontainedFileError(`${what} is ${st.size} bytes, more than the ${maxBytes} allowed`);
  return st.size;
}
