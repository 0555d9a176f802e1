// Test support: executed notebooks written by hand, in the shape papermill writes them (cells with metadata.papermill,
// the injected-parameters cell after the parameters cell, outputs of every kind), and where a pipeline keeps one.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { notebookOutputs } from "../pipeline/notebook-outputs.ts";
import { pipelineDir } from "../pipeline/run-pipeline.ts";

/** A 4×3 red PNG and JPEG, as a notebook stores them (base64). */
export const TINY_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAFElEQVR4nGM8ISfHAANMDEgAhQMAJtoBCkAAOw8AAAAASUVORK5CYII=";
export const TINY_JPEG =
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAADAAQDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDkKKKK8U/TD//Z";
export const TINY_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10" fill="blue"/></svg>';

type Cell = Record<string, unknown>;

/** papermill's metadata of a cell that ran for `duration` seconds (status "completed" unless given). */
export function papermillMeta(duration: number, extra: Record<string, unknown> = {}) {
  return { start_time: "2026-12-05T10:00:00.000000", end_time: "2026-12-05T10:00:01.000000", duration, status: "completed", exception: false, ...extra };
}

/** A code cell as papermill leaves it. */
export function codeCell(
  source: string,
  opts: { tags?: string[]; count?: number | null; outputs?: unknown[]; duration?: number; papermill?: Record<string, unknown> } = {},
): Cell {
  return {
    cell_type: "code",
    execution_count: opts.count ?? null,
    metadata: { tags: opts.tags ?? [], papermill: papermillMeta(opts.duration ?? 0.5, opts.papermill) },
    outputs: opts.outputs ?? [],
    source,
  };
}

/** A markdown cell. */
export function markdownCell(source: string): Cell {
  return { cell_type: "markdown", metadata: { tags: [] }, source };
}

/** An executed notebook (nbformat 4) with `cells`. */
export function executedNotebook(cells: Cell[]): Record<string, unknown> {
  return { nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } }, cells };
}

/**
 * A notebook of every output kind: markdown, a parameters cell and papermill's injected-parameters cell, stream text
 * on stdout and stderr, a pandas-like HTML table, PNG, JPEG and SVG images, a text/plain result, and a failed cell
 * whose traceback is coloured with ANSI codes. Its pushed cells are numbered 1 to 6.
 */
export function everyOutputNotebook(): Record<string, unknown> {
  return executedNotebook([
    markdownCell("# Iris training\n\nA *short* run with [docs](https://example.com/docs)."),
    codeCell("epochs = 1", { tags: ["parameters"], count: 1, duration: 0.012 }),
    codeCell("# Parameters\nepochs = 3\n", { tags: ["injected-parameters"], count: 2, duration: 0.01 }),
    codeCell("print('training')\nimport sys; print('warn', file=sys.stderr)", {
      tags: ["mlops:training"],
      count: 3,
      duration: 2.5,
      outputs: [
        { output_type: "stream", name: "stdout", text: ["training\n", "epoch 1\n"] },
        { output_type: "stream", name: "stderr", text: "warn\n" },
        {
          output_type: "execute_result",
          execution_count: 3,
          metadata: {},
          data: {
            "text/html":
              '<div><style scoped>.dataframe { color: red }</style><table border="1" class="dataframe"><thead><tr><th></th><th>sepal_length</th></tr></thead><tbody><tr><th>0</th><td>5.1</td></tr></tbody></table></div>',
            "text/plain": "   sepal_length\n0           5.1",
          },
        },
      ],
    }),
    codeCell("plots()", {
      count: 4,
      outputs: [
        { output_type: "display_data", metadata: {}, data: { "image/png": `${TINY_PNG}\n`, "text/plain": "<Figure size 640x480>" } },
        { output_type: "display_data", metadata: {}, data: { "image/jpeg": TINY_JPEG, "text/plain": "<PIL.Image>" } },
        { output_type: "display_data", metadata: {}, data: { "image/svg+xml": TINY_SVG, "text/plain": "<SVG>" } },
        { output_type: "execute_result", execution_count: 4, metadata: {}, data: { "text/plain": "{'accuracy': 0.96}" } },
      ],
    }),
    codeCell("raise ValueError('bad shape')", {
      tags: ["mlops:evaluate"],
      count: 5,
      duration: 0.03,
      papermill: { exception: true },
      outputs: [
        {
          output_type: "error",
          ename: "ValueError",
          evalue: "bad shape",
          traceback: [
            "\u001b[0;31m---------------------------------------------------------------------------\u001b[0m",
            "\u001b[0;31mValueError\u001b[0m                                Traceback (most recent call last)",
            "\u001b[0;31mValueError\u001b[0m: bad shape",
          ],
        },
      ],
    }),
    codeCell("print('never')", { count: null, papermill: { status: "pending", duration: null, start_time: null, end_time: null } }),
  ]);
}

/** Write `content` (an object as JSON, or raw text) as pipeline `id`'s executed notebook under `dataDir`; returns its path. */
export function writeExecutedNotebook(dataDir: string, id: number, content: unknown): string {
  const file = notebookOutputs(pipelineDir(dataDir, id)).executed;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}
