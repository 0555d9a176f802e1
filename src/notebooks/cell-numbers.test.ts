import { expect, test } from "bun:test";
import { cellTags, papermillAddedCell, pushedCellNumbers } from "./cell-numbers.ts";

const cell = (tags?: unknown) => ({ cell_type: "code", source: "", metadata: tags === undefined ? {} : { tags } });

test("cells are numbered from 1 in the order of the pushed notebook; papermill's added cells get no number", () => {
  const cells = [cell(), cell(["parameters"]), cell(["injected-parameters"]), cell(["mlops:training"]), cell(["papermill-error-cell-tag"]), cell()];
  expect(pushedCellNumbers(cells)).toEqual([1, 2, null, 3, null, 4]);
});

test("the error banner papermill puts first does not shift the numbers", () => {
  expect(pushedCellNumbers([cell(["papermill-error-cell-tag"]), cell(), cell(["injected-parameters"]), cell()])).toEqual([null, 1, null, 2]);
});

test("what papermill added a cell as, and tags read defensively", () => {
  expect(papermillAddedCell(cell(["injected-parameters"]))).toBe("injected parameters");
  expect(papermillAddedCell(cell(["papermill-error-cell-tag"]))).toBe("papermill error");
  expect(papermillAddedCell(cell(["parameters"]))).toBeUndefined();
  // Hostile shapes: tags that are not strings, metadata that is not an object, a cell that is not an object.
  expect(cellTags(cell([1, "a", null, { x: 1 }]))).toEqual(["a"]);
  expect(cellTags({ metadata: "x" })).toEqual([]);
  expect(cellTags(null)).toEqual([]);
  expect(papermillAddedCell(cell(["__proto__", "constructor"]))).toBeUndefined();
  expect(pushedCellNumbers("not cells")).toEqual([]);
  expect(pushedCellNumbers([null, 7, cell()])).toEqual([1, 2, 3]);
});
