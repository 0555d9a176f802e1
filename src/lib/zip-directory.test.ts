import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ZipError, zipDirectory } from "./zip-directory.ts";

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** What Python's zipfile (the module Ray unpacks working dirs with) reads from the zip: name → {sha, mode, dir}. */
function readWithPython(zip: Uint8Array): Record<string, { sha: string; mode: number; dir: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "zip-read-"));
  const file = join(dir, "p.zip");
  writeFileSync(file, zip);
  const script = `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
bad = z.testzip()
if bad is not None:
    sys.exit("corrupt entry: " + bad)
print(json.dumps({i.filename: {"sha": hashlib.sha256(z.read(i)).hexdigest(), "mode": i.external_attr >> 16, "dir": i.is_dir()} for i in z.infolist()}))
`;
  const run = Bun.spawnSync(["python3", "-c", script, file]);
  rmSync(dir, { recursive: true, force: true });
  if (run.exitCode !== 0) throw new Error(`python could not read the zip: ${run.stderr.toString()}`);
  return JSON.parse(run.stdout.toString());
}

const compressible = "the same line again\n".repeat(500);
const binary = new Uint8Array(4096).map((_, i) => (i * 7919) % 256);

/** A directory with every kind of thing zipDirectory meets; `outside` is a file beside it, not in it. */
function makeTree(order: "forward" | "reverse" = "forward"): { dir: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), "zip-tree-"));
  const dir = join(base, "tree");
  const outside = join(base, "secret.txt");
  writeFileSync(outside, "not yours\n");
  const steps: (() => void)[] = [
    () => mkdirSync(join(dir, "sub", "deeper"), { recursive: true }),
    () => mkdirSync(join(dir, "empty"), { recursive: true }),
    () => writeFileSync(join(dir, "train.py"), "print('hi')\n"),
    () => writeFileSync(join(dir, "sub", "data.bin"), binary),
    () => writeFileSync(join(dir, "sub", "deeper", "big.txt"), compressible),
    () => writeFileSync(join(dir, "sub", "empty.txt"), ""),
    () => writeFileSync(join(dir, "sub", "naïve ünïcode.txt"), "ü\n"),
    () => {
      writeFileSync(join(dir, "run.sh"), "#!/bin/sh\necho run\n");
      chmodSync(join(dir, "run.sh"), 0o755);
    },
    () => symlinkSync("train.py", join(dir, "link-inside.py")),
    () => symlinkSync("sub/deeper", join(dir, "link-dir")),
    () => symlinkSync(outside, join(dir, "link-outside.txt")),
    () => symlinkSync("..", join(dir, "sub", "link-up")),
    () => symlinkSync("missing.txt", join(dir, "dangling.txt")),
  ];
  mkdirSync(dir, { recursive: true });
  for (const step of order === "forward" ? steps : [...steps].reverse()) {
    try {
      step();
    } catch {
      // In reverse, a file comes before its folder: make the folders first and run the step again.
      mkdirSync(join(dir, "sub", "deeper"), { recursive: true });
      step();
    }
  }
  return { dir, outside };
}

test("Python's zipfile reads back every file, the executable bit and empty folders; symlinks inside are followed, those leading out are left out", () => {
  const { dir } = makeTree();
  const zip = zipDirectory(dir, { "mlops_runner.py": "print('runner')\n", "sub/empty.txt": new Uint8Array([1, 2, 3]) });
  const read = readWithPython(zip);
  const file = (content: Uint8Array | string, mode = 0o100644) => ({ sha: sha(content), mode, dir: false });
  expect(read).toEqual({
    "empty/": { sha: sha(""), mode: 0o40755, dir: true },
    "link-dir/big.txt": file(compressible),
    "link-inside.py": file("print('hi')\n"),
    "mlops_runner.py": file("print('runner')\n"),
    "run.sh": file("#!/bin/sh\necho run\n", 0o100755),
    "sub/data.bin": file(binary),
    "sub/deeper/big.txt": file(compressible),
    // The extra entry replaced the file of the same path.
    "sub/empty.txt": file(new Uint8Array([1, 2, 3])),
    "sub/naïve ünïcode.txt": file("ü\n"),
    "train.py": file("print('hi')\n"),
  });
  // Stored in sorted order; the compressible file was deflated (the zip is smaller than what it holds).
  expect(Object.keys(read)).toEqual(Object.keys(read).sort());
  expect(zip.length).toBeLessThan(compressible.length);
  expect(new TextDecoder().decode(zip)).not.toContain("not yours");
}, 30_000);

test("the same files give the same bytes, whatever their times and the order they were made in", () => {
  const a = makeTree("forward");
  const b = makeTree("reverse");
  utimesSync(join(b.dir, "train.py"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
  const first = zipDirectory(a.dir, { "x.py": "1" });
  expect(zipDirectory(a.dir, { "x.py": "1" })).toEqual(first);
  expect(zipDirectory(b.dir, { "x.py": "1" })).toEqual(first);
  // ... and different files give different bytes.
  writeFileSync(join(b.dir, "train.py"), "print('changed')\n");
  expect(zipDirectory(b.dir, { "x.py": "1" })).not.toEqual(first);
});

test("skip leaves out a path and everything below it", () => {
  const { dir } = makeTree();
  const read = readWithPython(zipDirectory(dir, {}, { skip: (path, isDir) => (path === "sub" && isDir) || path === "run.sh" }));
  expect(Object.keys(read).sort()).toEqual(["empty/", "link-dir/big.txt", "link-inside.py", "train.py"]);
});

test("more bytes or entries than allowed are refused with a ZipError", () => {
  const { dir } = makeTree();
  expect(() => zipDirectory(dir, {}, { maxBytes: 1000 })).toThrow(ZipError);
  expect(() => zipDirectory(dir, {}, { maxBytes: 1000 })).toThrow(/more than 1000 bytes/);
  expect(() => zipDirectory(dir, {}, { maxEntries: 3 })).toThrow(/more than 3 entries/);
  // An extra entry counts too.
  expect(() => zipDirectory(dir, { "huge.bin": new Uint8Array(2000) }, { maxBytes: 1999 })).toThrow(ZipError);
  // Within the limits the same call works.
  expect(zipDirectory(dir, {}, { maxBytes: 100_000, maxEntries: 20 }).length).toBeGreaterThan(0);
});

test("an extra entry whose name is absolute or climbs out is refused", () => {
  const { dir } = makeTree();
  for (const name of ["/etc/passwd", "../x.py", "a/../../x.py", "", "a//b", "a\\b", "./x"]) {
    expect(() => zipDirectory(dir, { [name]: "x" })).toThrow(ZipError);
  }
});

test("an empty directory gives an empty zip Python can open", () => {
  const dir = mkdtempSync(join(tmpdir(), "zip-empty-"));
  expect(readWithPython(zipDirectory(dir))).toEqual({});
});
