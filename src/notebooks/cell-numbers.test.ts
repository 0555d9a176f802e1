import { describe, expect, test } from "bun:test";
import { describeFailedCell, findFailedCell } from "../runner/notebook-errors.ts";
import { cellOutlineOf, injectedCellPosition, papermillCellLabel, type CellOutline } from "./cell-numbers.ts";

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
