import { describe, expect, test } from "bun:test";
import { checkContract, isPipelineNotebook, readStringAssignment } from "./notebook-contract.ts";

const cell = (tags: string[], source: string | string[] = "") => ({ cell_type: "code", metadata: { tags }, source, outputs: [] });
const nb = (...cells: object[]) => JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells });
const full = (config: string | string[]) => nb(cell(["mlops:config"], config), cell(["mlops:preprocessing"]), cell(["mlops:training"]), cell(["mlops:export"]));

describe("checkContract", () => {
  test("a complete notebook yields the model name and version", () => {
    expect(checkContract(full(['MODEL_NAME = "iris"\n', "VERSION = '1.2.0'  # semver\n"]))).toEqual({
      ok: true,
      modelName: "iris",
      version: "1.2.0",
      tags: ["mlops:config", "mlops:preprocessing", "mlops:training", "mlops:export"],
    });
  });

  const bad: [string, string, RegExp][] = [
    ["not JSON", "{not json", /not valid notebook JSON/],
    ["JSON but not a notebook", '{"hello": 1}', /not valid notebook JSON/],
    [
      "missing tags",
      nb(cell(["mlops:config"], 'MODEL_NAME = "x"\nVERSION = "1"'), cell(["mlops:training"])),
      /missing required cell tags: mlops:preprocessing, mlops:export/,
    ],
    ["no MODEL_NAME", full('VERSION = "1"'), /no MODEL_NAME/],
    ["MODEL_NAME not a literal", full('MODEL_NAME = make_name()\nVERSION = "1"'), /no MODEL_NAME/],
    ["MODEL_NAME unusable", full('MODEL_NAME = "../etc"\nVERSION = "1"'), /is not usable/],
    ["no VERSION", full('MODEL_NAME = "iris"'), /no VERSION/],
  ];
  for (const [name, text, reason] of bad) {
    test(`${name} → refused with the reason`, () => {
      const r = checkContract(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    });
  }
});

describe("isPipelineNotebook", () => {
  test("untagged notebooks are not pipelines; tagged or unreadable ones are", () => {
    expect(isPipelineNotebook(nb(cell([]), cell(["parameters"])))).toBe(false);
    expect(isPipelineNotebook(nb(cell(["mlops:training"])))).toBe(true);
    expect(isPipelineNotebook("garbage")).toBe(true);
  });
});

describe("readStringAssignment", () => {
  test("reads only top-level string literals", () => {
    expect(readStringAssignment('  MODEL_NAME = "indented"', "MODEL_NAME")).toBeUndefined();
    expect(readStringAssignment('MODEL_NAME: str = "typed"', "MODEL_NAME")).toBe("typed");
    expect(readStringAssignment('MODEL_NAME_X = "other"', "MODEL_NAME")).toBeUndefined();
    expect(readStringAssignment('MODEL_NAME = "a\\"b"', "MODEL_NAME")).toBe('a"b');
  });
});
