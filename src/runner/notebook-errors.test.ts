import { describe, expect, test } from "bun:test";
import { describeFailedCell, findFailedCell } from "./notebook-errors.ts";

// Shaped like papermill 2.7's output notebook for a failing run: an error banner cell on top, the injected
// parameters after the `parameters` cell, a banner before the failed cell, and the error output with ANSI codes.
const banner = { cell_type: "markdown", metadata: { tags: ["papermill-error-cell-tag"] }, source: ["<span>An Exception was encountered</span>"] };
const executed = {
  cells: [
    banner,
    { cell_type: "markdown", metadata: { tags: [] }, source: "# Title" },
    { cell_type: "code", execution_count: 1, metadata: { tags: ["parameters"], papermill: { exception: false } }, outputs: [], source: ["A = 1"] },
    { cell_type: "code", execution_count: 2, metadata: { tags: ["injected-parameters"], papermill: { exception: false } }, outputs: [], source: ["A = 2"] },
    banner,
    {
      cell_type: "code",
      execution_count: 3,
      metadata: { tags: ["mlops:training"], papermill: { exception: true, status: "failed" } },
      outputs: [
        { name: "stdout", output_type: "stream", text: ["training\n"] },
        {
          output_type: "error",
          ename: "ValueError",
          evalue: "bad value é",
          traceback: [
            "\u001b[31m----\u001b[39m",
            "\u001b[36mCell\u001b[39m \u001b[32mIn[3]\u001b[39m, line 2\n",
            "\u001b[31mValueError\u001b[39m: bad value é",
          ],
        },
      ],
      source: ["l1\n", "l2\n", "l3\n", "l4\n", "l5\n", "l6\n", "l7\n", "l8\n", "l9\n", "l10"],
    },
    { cell_type: "code", execution_count: null, metadata: { papermill: { exception: null, status: "pending" } }, outputs: [], source: "print(1)" },
  ],
};

describe("findFailedCell", () => {
  test("finds the error cell, counting cells as in the pushed notebook, with plain-text traceback", () => {
    expect(findFailedCell(executed)).toEqual({
      index: 2,
      executionCount: 3,
      tags: ["mlops:training"],
      source: "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8",
      ename: "ValueError",
      evalue: "bad value é",
      traceback: "----\nCell In[3], line 2\nValueError: bad value é",
    });
  });

  test("a cell flagged by papermill without an error output (interrupted) is still reported", () => {
    const nb = { cells: [{ cell_type: "code", execution_count: 1, metadata: { papermill: { exception: true } }, outputs: [], source: "x" }] };
    expect(findFailedCell(nb)).toMatchObject({ index: 0, ename: "CellExecutionError", traceback: "" });
  });

  test("undefined for a clean notebook and for anything that is not a notebook", () => {
    expect(findFailedCell({ cells: [executed.cells[2]] })).toBeUndefined();
    for (const junk of [null, 42, "x", [], {}, { cells: "no" }, { cells: [null, 1, { metadata: 3 }] }]) expect(findFailedCell(junk)).toBeUndefined();
  });

  test("describeFailedCell names the cell from 1, its tags and the exception", () => {
    expect(describeFailedCell(findFailedCell(executed)!)).toBe("cell 3 of the notebook [mlops:training] raised ValueError: bad value é");
  });
});
