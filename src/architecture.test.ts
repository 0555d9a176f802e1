// The import graph of src/ and views/ keeps its shape: no file-level circle (type-only imports count), nothing in
// lib, db or queue reaching above them, and no http file touching the database. Tests and test helpers aside; the
// files at the root of src/ are the composition layer and may import anything.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

const isTestSupport = (path: string) => /\.test\.tsx?$|\.fixture\.ts$/.test(path) || path.startsWith("src/testing/");

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(name) && !isTestSupport(path) ? [path] : [];
  });
}

// `import ... from "./x.ts"`, `import type`, `export ... from`; relative specifiers only (packages are not ours).
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)"/g;

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles("src"), ...sourceFiles("views")]) {
    const text = readFileSync(join(ROOT, file), "utf8");
    const targets = [...text.matchAll(IMPORT)].map((m) => relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!))).filter((t) => /\.tsx?$/.test(t));
    graph.set(file, targets);
  }
  return graph;
}

/** Every group of files that import each other round in a circle (Tarjan's strongly connected components). */
function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(group.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const folder = (path: string) => (path.startsWith("src/") && path.split("/").length > 2 ? path.split("/")[1]! : "root");

// What each low layer may import besides itself.
const ALLOWED_BELOW: Record<string, string[]> = { lib: [], db: ["lib"], queue: ["db", "lib"] };

describe("import graph", () => {
  const graph = importGraph();

  test("reads the whole tree (a sanity check on the parser)", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("src/server.ts")).toContain("src/app.ts");
    expect(graph.get("src/http/pages.tsx")).toContain("src/http/page-deps.ts");
  });

  test("has no circles, type-only imports included", () => {
    expect(circles(graph)).toEqual([]);
  });

  test("lib, db and queue import nothing above them", () => {
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const allowed = ALLOWED_BELOW[folder(file)];
      if (!allowed) continue;
      for (const t of targets) if (folder(t) !== folder(file) && !allowed.includes(folder(t))) wrong.push(`${file} → ${t}`);
    }
    expect(wrong).toEqual([]);
  });

  test("no http file imports the database layer", () => {
    const wrong = [...graph].flatMap(([file, targets]) =>
      folder(file) === "http" ? targets.filter((t) => folder(t) === "db").map((t) => `${file} → ${t}`) : [],
    );
    expect(wrong).toEqual([]);
  });

  test("finds a circle when there is one (the checker itself)", () => {
    const made = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(circles(made)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });
});
