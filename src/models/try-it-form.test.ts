import { describe, expect, test } from "bun:test";
import { coerce, curlLine, MAX_TRY_IT_COLUMNS, tryItBody, tryItForm } from "./try-it-form.ts";

const sig = (...inputs: [string, string, (number | null)[]][]) => ({ inputs: inputs.map(([name, type, shape]) => ({ name, type, shape })), outputs: [] });

describe("tryItForm", () => {
  test("inputs the form cannot lay out: none, unknown or huge width, several inputs not one value per row", () => {
    for (const s of [
      null,
      {},
      sig(),
      sig(["input", "float32", [null, null]]),
      sig(["input", "float32", [null, MAX_TRY_IT_COLUMNS + 1]]),
      sig(["image", "float32", [null, 3, 8, 8]]),
      sig(["a", "float32", [null, 1]], ["b", "float32", [null, 2]]),
    ])
      expect(tryItForm(s, null)).toBeNull();
  });

  test("a single input of one value per row ([N]) is a record with that name; bool zeros are false", () => {
    expect(tryItForm(sig(["flag", "bool", [null]]), null)).toEqual({
      layout: "records",
      columns: [{ name: "flag", type: "bool" }],
      rows: [["false"]],
      sampled: false,
    });
  });

  test("sample rows are text in the fields; records missing a column are left out", () => {
    const form = tryItForm(sig(["n", "int64", [null, 1]], ["s", "string", [null, 1]]), [{ n: 3, s: "x" }, { n: 4 }]);
    expect(form).toEqual({
      layout: "records",
      columns: [
        { name: "n", type: "int64" },
        { name: "s", type: "string" },
      ],
      rows: [["3", "x"]],
      sampled: true,
    });
  });
});

describe("request bodies and curl", () => {
  test("fields become numbers and booleans where the type says so; anything else is sent as typed, for the API to refuse", () => {
    expect(["1.5", " 2 ", "", "abc", "1e3", "NaN"].map((v) => coerce(v, "float32"))).toEqual([1.5, 2, "", "abc", 1000, "NaN"]);
    expect(["true", "false", "yes"].map((v) => coerce(v, "bool"))).toEqual([true, false, "yes"]);
    expect(coerce("42", "string")).toBe("42");
    const columns = [
      { name: "a", type: "float32" },
      { name: "b", type: "string" },
    ];
    expect(tryItBody({ layout: "records", columns, rows: [["1", "2"]] })).toEqual({ inputs: [{ a: 1, b: "2" }] });
    expect(tryItBody({ layout: "rows", columns, rows: [["1", "2"]] })).toEqual({ inputs: [[1, "2"]] });
  });

  test("the curl line quotes for the shell, including quotes in the body, and never holds a token", () => {
    const line = curlLine("http://h/models/m/predict", `{"inputs":[{"t":"it's"}]}`, true);
    expect(line).toBe(
      `curl -X POST 'http://h/models/m/predict' -H 'Content-Type: application/json' -H "Authorization: Bearer $PREDICT_TOKEN" -d '{"inputs":[{"t":"it'\\''s"}]}'`,
    );
    const sh = Bun.spawnSync(["sh", "-c", `printf %s ${line.split(" -d ")[1]}`]);
    expect(sh.stdout.toString()).toBe(`{"inputs":[{"t":"it's"}]}`);
  });
});
