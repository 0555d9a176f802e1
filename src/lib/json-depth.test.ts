import { describe, expect, test } from "bun:test";
import { jsonNestsDeeperThan } from "./json-depth.ts";

describe("jsonNestsDeeperThan", () => {
  const cases: [string, number, boolean][] = [
    ["[]", 1, false],
    ["[[]]", 1, true],
    ['{"a": [[1, 2], [3, 4]]}', 3, false],
    ['{"a": [[1, 2], [3, 4]]}', 2, true],
    ['["[[[[", "{{{{"]', 1, false],
    ['["a\\"[[[["]', 1, false],
    ['["a\\\\", [[]]]', 2, true],
    ["[1], [2], [3]", 1, false],
    ["not json at all", 0, false],
  ];
  test.each(cases)("%p deeper than %p: %p", (text, max, deeper) => {
    expect(jsonNestsDeeperThan(text, max)).toBe(deeper);
  });

  test("ten million levels are found without parsing them", () => {
    expect(jsonNestsDeeperThan("[".repeat(10_000_000), 64)).toBe(true);
    expect(jsonNestsDeeperThan(`[${"[1,2,3,4],".repeat(1_000_000)}[1,2,3,4]]`, 2)).toBe(false);
  });
});
