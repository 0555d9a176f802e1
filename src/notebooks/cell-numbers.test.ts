import { describe, expect, test } from "bun:test";
import { describeFailedCell, findFailedCell } from "../runner/notebook-errors.ts";
import {
  cellOutlineOf,
  cellTags,
  executedCellNumbers,
  injectedCellPosition,
  papermillAddedCell,
  papermillCellLabel,
  pushedCellNumbers,
  type CellOutline,
} from "./cell-numbers.ts";

const outline = (...tags: string[][]): CellOutline => ({ cells: tags.map((t) => ({ tags: t })) });

describe("papermill's cell numbers mapped to the notebook as pushed", () => {
  test("with a parameters cell, the injected cell follows it and is not counted", () => {
    const o = outline(["mlops:config"], ["parameters"], ["mlops:training"], []);
    expect(injectedCellPosition(o)).toEqual({ index: 2, replaces: false });
    expect([1, 2, 3, 4, 5].map((n) => papermillCellLabel(o, n))).toEqual([
      { number: 1, tags: ["mlops:config"] },
      { number: 2, tags: ["parameters"] },
      { number: null, tags: ["injected-parameters"] },
      { number: 3, tags: ["mlops:training"] },
      { number: 4, tags: [] },
    ]);
    expect(papermillCellLabel(o, 6)).toBeUndefined();
    expect(papermillCellLabel(o, 0)).toBeUndefined();
  });

  test("without a parameters cell, the injected cell comes first", () => {
    const o = outline(["mlops:config"], ["mlops:training"]);
    expect(injectedCellPosition(o)).toEqual({ index: 0, replaces: false });
    expect([1, 2, 3].map((n) => papermillCellLabel(o, n))).toEqual([
      { number: null, tags: ["injected-parameters"] },
      { number: 1, tags: ["mlops:config"] },
      { number: 2, tags: ["mlops:training"] },
    ]);
  });

  test("a pushed notebook that already holds an injected cell has it replaced, as papermill does", () => {
    const o = outline(["mlops:config"], ["injected-parameters"], ["mlops:training"]);
    expect(injectedCellPosition(o)).toEqual({ index: 1, replaces: true });
    expect([1, 2, 3].map((n) => papermillCellLabel(o, n)?.number)).toEqual([1, null, 2]);
  });

  test("numbers agree with the failure reason's cell number (notebook-errors.ts) on an executed notebook", () => {
    // The executed notebook as papermill writes it: a markdown cell, the parameters cell, the injected one, the cell that raised.
    const pushed = {
      cells: [
        { cell_type: "markdown", metadata: {}, source: "# Title" },
        { cell_type: "code", metadata: { tags: ["parameters"] }, source: "X = 1" },
        { cell_type: "code", metadata: { tags: ["mlops:training"] }, source: "raise ValueError('no')" },
      ],
    };
    const executed = {
      cells: [
        pushed.cells[0],
        pushed.cells[1],
        { cell_type: "code", metadata: { tags: ["injected-parameters"] }, source: "X = 2", outputs: [] },
        { ...pushed.cells[2], outputs: [{ output_type: "error", ename: "ValueError", evalue: "no", traceback: [] }] },
      ],
    };
    const failed = findFailedCell(executed)!;
    expect(describeFailedCell(failed)).toStartWith("cell 3 of the notebook [mlops:training]");
    // papermill logs the failing cell as its 4th.
    expect(papermillCellLabel(cellOutlineOf(pushed), 4)).toEqual({ number: failed.index + 1, tags: ["mlops:training"] });
  });
});

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
