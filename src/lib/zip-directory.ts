// A deterministic zip of a directory: the same files give the same bytes (entries sorted, timestamps fixed, no
// extra fields), so a content-addressed name (a hash of the bytes, as Ray names uploaded working dirs) stays stable.
// Symlinks are followed only when they stay inside the directory; sizes and entry counts are bounded before
// anything is read. Imports nothing of the app.
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";

export type ZipOptions = {
  /** Most uncompressed bytes of all entries together (default 100 MiB). */
  maxBytes?: number;
  /** Most entries (default 10,000). */
  maxEntries?: number;
  /** Leave out a path (relative, "/"-separated) and, for a directory, everything below it. */
  skip?: (path: string, isDirectory: boolean) => boolean;
};

/** The directory cannot be zipped within the limits, or an extra entry's name is not a plain relative path. */
export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipError";
  }
}

const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 10_000;
// Without ZIP64 a zip holds at most 65,535 entries and 4 GiB offsets; the limits keep well inside both.
const HARD_MAX_BYTES = 2 ** 32 - 1 - 64 * 1024 * 1024;
const HARD_MAX_ENTRIES = 65_535;
// 1980-01-01 00:00:00, the earliest MS-DOS date: no clock or file time leaks into the bytes.
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
// Bit 11: names are UTF-8.
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
// Made by Unix (3), spec version 2.0: the high 16 bits of the external attributes are then the Unix mode.
const VERSION_MADE_BY = (3 << 8) | 20;
const VERSION_NEEDED = 20;

type Entry = { name: string; data: Uint8Array<ArrayBuffer>; mode: number; directory: boolean };

/**
 * Zip `dir` (recursively) plus `extra` entries (path → content; an extra entry replaces a file of the same path).
 * Entries are sorted by name; regular files keep only their executable bit (0755/0644); empty directories are
 * kept as directory entries; symlinks are followed when their target is inside `dir` (cycles are cut) and skipped
 * otherwise; sockets, fifos and devices are skipped. Throws ZipError when the limits are exceeded or an extra
 * name is absolute, empty, or climbs out with "..".
 */
export function zipDirectory(dir: string, extra: Record<string, Uint8Array | string> = {}, opts: ZipOptions = {}): Uint8Array {
  const maxBytes = Math.min(opts.maxBytes ?? DEFAULT_MAX_BYTES, HARD_MAX_BYTES);
  const maxEntries = Math.min(opts.maxEntries ?? DEFAULT_MAX_ENTRIES, HARD_MAX_ENTRIES);
  const extras = new Map<string, Uint8Array<ArrayBuffer>>();
  for (const [name, content] of Object.entries(extra)) {
    extras.set(checkedName(name), typeof content === "string" ? new TextEncoder().encode(content) : new Uint8Array(content));
  }
  const entries = new Map<string, Entry>();
  let total = 0;
  let entryCount = 0;
  // Called once per entry before it is read or kept.
  const count = (bytes: number) => {
    total += bytes;
    entryCount++;
    if (total > maxBytes) throw new ZipError(`${dir} holds more than ${maxBytes} bytes to zip`);
    if (entryCount > maxEntries) throw new ZipError(`${dir} holds more than ${maxEntries} entries to zip`);
  };
  for (const data of extras.values()) count(data.length);

  const root = realpathSync(dir);
  const walk = (real: string, name: string, ancestors: Set<string>) => {
    for (const child of readdirSync(real).sort()) {
      const path = name ? `${name}/${child}` : child;
      const file = join(real, child);
      const link = lstatSync(file);
      let target = file;
      if (link.isSymbolicLink()) {
        try {
          target = realpathSync(file);
        } catch {
          continue; // dangling
        }
        if (!isInside(root, target)) continue;
      }
      const st = link.isSymbolicLink() ? statSync(target) : link;
      if (st.isDirectory()) {
        if (ancestors.has(target) || opts.skip?.(path, true)) continue;
        ancestors.add(target);
        const before = entries.size;
        walk(target, path, ancestors);
        ancestors.delete(target);
        // Like Ray's own packaging: a directory is an entry of its own only when nothing inside it is.
        if (entries.size === before && ![...extras.keys()].some((e) => e.startsWith(`${path}/`))) {
          count(0);
          entries.set(`${path}/`, { name: `${path}/`, data: new Uint8Array(0), mode: 0o40755, directory: true });
        }
      } else if (st.isFile()) {
        if (extras.has(path) || opts.skip?.(path, false)) continue;
        // Counted from the size before reading, so a huge file is refused without being read.
        count(st.size);
        const data = new Uint8Array(readFileSync(target));
        // A file that grew between stat and read still counts in full.
        total += data.length - st.size;
        if (total > maxBytes) throw new ZipError(`${dir} holds more than ${maxBytes} bytes to zip`);
        entries.set(path, { name: path, data, mode: st.mode & 0o111 ? 0o100755 : 0o100644, directory: false });
      }
    }
  };
  walk(root, "", new Set([root]));
  for (const [name, data] of extras) entries.set(name, { name, data, mode: 0o100644, directory: false });
  return encode([...entries.values()].sort((a, b) => compareBytes(a.name, b.name)));
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep);
}

function checkedName(name: string): string {
  const parts = name.split("/");
  if (name === "" || name.startsWith("/") || name.includes("\\") || name.includes("\0") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new ZipError(`extra zip entry ${JSON.stringify(name)} is not a plain relative path`);
  }
  return name;
}

// Sorting by UTF-8 bytes, not UTF-16 code units, keeps the order the same whatever produced the names.
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function encode(entries: Entry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = new TextEncoder().encode(e.name);
    const crc = Bun.hash.crc32(e.data) >>> 0;
    let method = METHOD_STORED;
    let body = e.data;
    if (!e.directory && e.data.length > 0) {
      const deflated = Bun.deflateSync(e.data, { level: 9 });
      if (deflated.length < e.data.length) {
        method = METHOD_DEFLATED;
        body = deflated;
      }
    }
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, VERSION_NEEDED, true);
    local.setUint16(6, FLAG_UTF8, true);
    local.setUint16(8, method, true);
    local.setUint16(10, DOS_TIME, true);
    local.setUint16(12, DOS_DATE, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, body.length, true);
    local.setUint32(22, e.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);
    locals.push(new Uint8Array(local.buffer), name, body);

    const central = new DataView(new ArrayBuffer(46));
    central.setUint32(0, 0x02014b50, true);
    central.setUint16(4, VERSION_MADE_BY, true);
    central.setUint16(6, VERSION_NEEDED, true);
    central.setUint16(8, FLAG_UTF8, true);
    central.setUint16(10, method, true);
    central.setUint16(12, DOS_TIME, true);
    central.setUint16(14, DOS_DATE, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, body.length, true);
    central.setUint32(24, e.data.length, true);
    central.setUint16(28, name.length, true);
    // Extra field, comment, disk number, internal attributes: all zero.
    central.setUint32(38, ((e.mode << 16) | (e.directory ? 0x10 : 0)) >>> 0, true);
    central.setUint32(42, offset, true);
    centrals.push(new Uint8Array(central.buffer), name);
    offset += 30 + name.length + body.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  return concat([...locals, ...centrals, new Uint8Array(end.buffer)]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
