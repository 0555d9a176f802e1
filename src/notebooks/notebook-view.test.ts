import { expect, test } from "bun:test";
import { codeCell, executedNotebook, markdownCell, TINY_PNG } from "../testing/executed-notebooks.ts";
import { notebookView } from "./notebook-view.ts";

test("images pasted into markdown (cell attachments) are shown as data: URIs; other attachments and unknown names are not", () => {
  const cell = {
    ...markdownCell("![plot](attachment:plot.png) ![svg](attachment:drawing.svg) ![gone](attachment:missing.png)"),
    attachments: { "plot.png": { "image/png": TINY_PNG }, "drawing.svg": { "image/svg+xml": "<svg onload=alert(1)></svg>" } },
  };
  const html = notebookView(executedNotebook([cell])).cells[0]!.markdownHtml!;
  expect(html).toContain(`<img src="data:image/png;base64,${TINY_PNG}" alt="plot" />`);
  expect(html).not.toContain("svg");
  expect(html).not.toContain("missing");
  expect(html.match(/<img/g)).toHaveLength(1);
});

test("any JSON shape gives a view without throwing", () => {
  for (const nb of [null, 1, "x", [], { cells: "x" }, { cells: [null, 1, "s", { cell_type: "code", outputs: "x", source: 5, metadata: [] }] }]) {
    expect(() => notebookView(nb)).not.toThrow();
  }
  const view = notebookView({
    cells: [{ cell_type: "code", outputs: [null, { output_type: "error" }, { output_type: "display_data", data: { "image/png": "not base64!" } }] }],
  });
  expect(view.cells[0]!.outputs).toEqual([{ kind: "error", ename: "", evalue: "", tracebackHtml: "", truncated: false }]);
  expect(view.failedPosition).toBe(0);
});

test("the page budget is shared: once spent, later outputs are left out, and the view says it was cut", () => {
  const cells = [1, 2, 3].map((i) => codeCell("", { outputs: [{ output_type: "stream", name: "stdout", text: "y".repeat(60) }] }));
  const view = notebookView(executedNotebook(cells), { outputText: 50, pageText: 100, outputImage: 10, pageImage: 10 });
  expect(view.cells.map((c) => c.outputs[0]!.kind)).toEqual(["stream", "stream", "omitted"]);
  expect(view.cells[0]!.outputs[0]).toMatchObject({ text: "y".repeat(50), truncated: true });
  expect(view.truncated).toBe(true);
});

test("an exception's name and message and a cell's tags are cut to one-liners", () => {
  const huge = "e".repeat(50_000);
  const cell = codeCell("", { tags: Array.from({ length: 100 }, () => huge), outputs: [{ output_type: "error", ename: huge, evalue: huge, traceback: [] }] });
  const view = notebookView(executedNotebook([cell])).cells[0]!;
  expect(view.tags).toHaveLength(20);
  expect(view.tags[0]).toHaveLength(1001);
  expect(view.outputs[0]).toMatchObject({ kind: "error", ename: `${"e".repeat(1000)}…`, evalue: `${"e".repeat(1000)}…` });
});
