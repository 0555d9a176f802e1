import { describe, expect, test } from "bun:test";
import type { LogLine } from "../pipeline/pipeline-store.ts";
import { CellLogGrouper, failedCellGroup, groupCellLog, papermillMarker } from "./cell-log.ts";
import type { CellOutline } from "./cell-numbers.ts";

// Exactly as papermill prints them: f"Executing Cell {n:-<40}", f"Ending Cell {n:-<43}".
const executing = (n: number) => `Executing Cell ${String(n).padEnd(40, "-")}`;
const ending = (n: number) => `Ending Cell ${String(n).padEnd(43, "-")}`;

/** Log lines with seq 1.. and `at` one second apart unless given. */
function lines(...items: [string, string, number?][]): LogLine[] {
  return items.map(([stream, line, at], i) => ({ seq: i + 1, stream, line, at: at ?? 1_000 * (i + 1) }));
}

const outline: CellOutline = { cells: [{ tags: ["mlops:config"] }, { tags: ["parameters"] }, { tags: ["mlops:training"] }] };

describe("papermill's cell markers", () => {
  test("are read from exact Executing/Ending lines on the notebook's streams only", () => {
    expect(papermillMarker({ stream: "stderr", line: executing(1) })).toEqual({ kind: "start", cell: 1 });
    expect(papermillMarker({ stream: "stderr", line: ending(12) })).toEqual({ kind: "end", cell: 12 });
    // Ray's job log mixes papermill's log into stdout.
    expect(papermillMarker({ stream: "stdout", line: executing(7) })).toEqual({ kind: "start", cell: 7 });
    for (const line of [
      "Executing Cell 1",
      `${executing(1)}-`,
      `Executing Cell 1${"-".repeat(38)}`,
      ` ${executing(1)}`,
      "Executing Cell x---------------------------------------",
      ending(1).replace("Ending", "ending"),
      `Ending Cell 1${"-".repeat(39)}`,
    ])
      expect([line, papermillMarker({ stream: "stderr", line })]).toEqual([line, undefined]);
    expect(papermillMarker({ stream: "mlops", line: executing(1) })).toBeUndefined();
  });
});

describe("grouping a log by cell", () => {
  test("cells become groups with their number, tags and duration; lines before and after stay in their own groups", () => {
    const log = lines(
      ["mlops", "download: fetched abc"],
      ["mlops", "notebook contract ok"],
      ["stderr", "Input notebook does not contain a cell with tag 'parameters'"],
      ["stderr", executing(1), 10_000],
      ["stderr", "config loaded", 10_100],
      ["stderr", ending(1), 10_250],
      ["stderr", executing(2), 10_300],
      ["stderr", ending(2), 10_310],
      ["stderr", executing(3), 10_400],
      ["stderr", ending(3), 10_500],
      ["stderr", executing(4), 11_000],
      ["stderr", "epoch 1", 12_000],
      ["stdout", "epoch 2", 13_000],
      ["stderr", ending(4), 14_500],
      ["mlops", "notebook finished: succeeded in 4.5 s"],
    );
    const groups = groupCellLog(log, outline);
    expect(groups.map((g) => g.kind)).toEqual(["lines", "cell", "cell", "cell", "cell", "lines"]);
    const [before, c1, c2, injected, c4, after] = groups;
    expect(before).toEqual({ kind: "lines", key: 1, lines: log.slice(0, 3) });
    expect(c1).toEqual({ kind: "cell", key: 4, cell: 1, label: { number: 1, tags: ["mlops:config"] }, startedAt: 10_000, endedAt: 10_250, lines: [log[4]!] });
    expect(c2).toMatchObject({ cell: 2, label: { number: 2, tags: ["parameters"] }, lines: [] });
    expect(injected).toMatchObject({ cell: 3, label: { number: null, tags: ["injected-parameters"] }, startedAt: 10_400, endedAt: 10_500 });
    expect(c4).toMatchObject({ key: 11, cell: 4, label: { number: 3, tags: ["mlops:training"] }, startedAt: 11_000, endedAt: 14_500 });
    expect(c4!.lines.map((l) => l.line)).toEqual(["epoch 1", "epoch 2"]);
    expect(after).toEqual({ kind: "lines", key: 15, lines: [log[14]!] });
    // No marker line is in any group.
    expect(groups.flatMap((g) => g.lines).some((l) => papermillMarker(l))).toBe(false);
  });

  test("without the notebook's outline, cells keep papermill's count and no label", () => {
    const [cell] = groupCellLog(lines(["stderr", executing(2)], ["stderr", "x"]), undefined);
    expect(cell).toEqual({ kind: "cell", key: 1, cell: 2, startedAt: 1_000, lines: [lines(["stderr", executing(2)], ["stderr", "x"])[1]!] });
  });

  test("a failed cell is found by its number in the pushed notebook; the running cell has no end", () => {
    const log = lines(
      ["stderr", executing(1)],
      ["stderr", ending(1)],
      ["stderr", executing(2)],
      ["stderr", ending(2)],
      ["stderr", executing(3)],
      ["stderr", ending(3)],
      ["stderr", executing(4)],
      ["stderr", "training…"],
      ["stderr", ending(4)],
      ["stderr", "Traceback (most recent call last):"],
    );
    const groups = groupCellLog(log, outline);
    // The cell tagged mlops:training is the 3rd of the pushed notebook (index 2), papermill's 4th.
    expect(failedCellGroup(groups, 2)).toMatchObject({ cell: 4, key: 7 });
    expect(failedCellGroup(groups, 5)).toBeUndefined();
    expect(groups.at(-1)).toMatchObject({ kind: "lines", lines: [{ line: "Traceback (most recent call last):" }] });

    const running = groupCellLog(log.slice(0, 8), outline).at(-1)!;
    expect(running).toMatchObject({ kind: "cell", cell: 4 });
    expect("endedAt" in running).toBe(false);
  });

  test("the platform speaking during a cell leaves it unfinished; a run started again (a stop requeued it) opens new groups", () => {
    const log = lines(
      ["stderr", executing(1)],
      ["stderr", "first attempt"],
      ["mlops", "stopped by a server shutdown; queued again"],
      ["stderr", executing(1)],
      ["stderr", ending(1)],
    );
    const grouper = new CellLogGrouper(outline);
    const steps = log.map((l) => grouper.push(l));
    expect(steps[2]).toMatchObject({ type: "line", opened: true, unfinished: { key: 1, unfinished: true } });
    const groups = grouper.groups;
    expect(groups.map((g) => [g.kind, g.key, g.kind === "cell" ? (g.endedAt ?? g.unfinished) : null])).toEqual([
      ["cell", 1, true],
      ["lines", 3, null],
      ["cell", 4, 5_000],
    ]);
    expect(groups[0]!.lines.map((l) => l.line)).toEqual(["first attempt"]);
    expect(failedCellGroup(groups, 0)?.key).toBe(4);
  });

  test("an Ending line that closes no open cell stays a line", () => {
    const groups = groupCellLog(lines(["stderr", ending(3)], ["stderr", executing(1)], ["stderr", ending(2)]), outline);
    expect(groups.map((g) => [g.kind, g.lines.map((l) => l.line)])).toEqual([
      ["lines", [ending(3)]],
      ["cell", [ending(2)]],
    ]);
  });

  test("step by step, the grouper says where each line goes (what the live stream renders)", () => {
    const g = new CellLogGrouper(outline, false);
    const log = lines(["mlops", "a"], ["mlops", "b"], ["stderr", executing(1)], ["stderr", "c"], ["stderr", ending(1)], ["mlops", "d"]);
    const steps = log.map((l) => g.push(l));
    expect(steps.map((s) => [s.type, s.group.key, s.type === "line" ? s.opened : null])).toEqual([
      ["line", 1, true],
      ["line", 1, false],
      ["cell-start", 3, null],
      ["line", 3, false],
      ["cell-end", 3, null],
      ["line", 6, true],
    ]);
    // Without keepLines the groups hold no lines (a live stream needs only where the next one goes).
    expect(g.groups.flatMap((x) => x.lines)).toEqual([]);
  });
});
