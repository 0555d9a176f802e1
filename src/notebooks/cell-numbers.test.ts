import { expect, test } from "bun:test";
import { cellTags, executedCellNumbers, papermillAddedCell, pushedCellNumbers } from "./cell-numbers.ts";

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

test("the numbers of the cells as papermill will run them, from the pushed notebook (where it puts the injected cell)", () => {
  const md = { cell_type: "markdown", metadata: {} };
  // After the first `parameters` cell.
  expect(executedCellNumbers([md, cell(["parameters"]), cell(), cell(["parameters"])])).toEqual([1, 2, null, 3, 4]);
  // First, without a `parameters` cell.
  expect(executedCellNumbers([md, cell()])).toEqual([null, 1, 2]);
  // In place of a cell already tagged injected-parameters (a pushed notebook that was executed before).
  expect(executedCellNumbers([cell(["parameters"]), cell(["injected-parameters"]), cell()])).toEqual([1, null, 2]);
  // The same numbers the executed notebook gives once papermill wrote it.
  const pushed = [md, cell(["parameters"]), cell(["mlops:training"])];
  const executed = [md, cell(["parameters"]), cell(["injected-parameters"]), cell(["mlops:training"])];
  expect(executedCellNumbers(pushed)).toEqual(pushedCellNumbers(executed));
  expect(executedCellNumbers("x")).toEqual([]);
});
