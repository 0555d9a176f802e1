import { describe, expect, test } from "bun:test";
import { notebooksToRun } from "./notebook-paths.ts";

const tree = ["a.ipynb", "nb/b.ipynb", "nb/deep/c.ipynb", "nb/.ipynb_checkpoints/b-checkpoint.ipynb", "nb/data.csv", "README.md"];

describe("notebooksToRun", () => {
  const cases: [string, readonly string[] | "all", string, string[]][] = [
    ["all files, default glob", "all", "**/*.ipynb", ["a.ipynb", "nb/b.ipynb", "nb/deep/c.ipynb"]],
    ["all files, one folder", "all", "nb/*.ipynb", ["nb/b.ipynb"]],
    ["changed only", ["nb/deep/c.ipynb", "README.md"], "**/*.ipynb", ["nb/deep/c.ipynb"]],
    ["removed notebook excluded", ["gone.ipynb", "a.ipynb"], "**/*.ipynb", ["a.ipynb"]],
    ["glob that matches non-notebooks", "all", "nb/*", ["nb/b.ipynb"]],
    ["checkpoint copies never run", ["nb/.ipynb_checkpoints/b-checkpoint.ipynb"], "**/*.ipynb", []],
    ["duplicates collapse, sorted", ["nb/b.ipynb", "a.ipynb", "nb/b.ipynb"], "**/*.ipynb", ["a.ipynb", "nb/b.ipynb"]],
    ["nothing changed", [], "**/*.ipynb", []],
  ];
  for (const [name, changed, glob, expected] of cases) {
    test(name, () => expect(notebooksToRun(changed, tree, glob)).toEqual(expected));
  }
});
