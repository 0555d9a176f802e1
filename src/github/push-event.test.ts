import { describe, expect, test } from "bun:test";
import { classifyPush, pushPayloadSchema } from "./push-event.ts";

const SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const ZERO = "0".repeat(40);
const base = {
  ref: "refs/heads/main",
  before: ZERO,
  after: SHA,
  created: true,
  deleted: false,
  repository: { full_name: "o/r", clone_url: "https://github.com/o/r.git" },
};
const repo = { full_name: "o/r", branch: "main" };

describe("classifyPush", () => {
  const cases: [string, Record<string, unknown>, typeof repo | undefined, ReturnType<typeof classifyPush>][] = [
    ["registered branch", {}, repo, { action: "run", branch: "main" }],
    ["unregistered repository", {}, undefined, { action: "ignore", reason: "repository o/r is not registered" }],
    ["other branch", { ref: "refs/heads/dev" }, repo, { action: "ignore", reason: "push to branch dev: the registered branch is main" }],
    ["tag", { ref: "refs/tags/v1" }, repo, { action: "ignore", reason: "tag push (v1): only pushes to branch main run pipelines" }],
    [
      "tag deletion",
      { ref: "refs/tags/v1", deleted: true, after: ZERO },
      repo,
      { action: "ignore", reason: "tag push (v1 deleted): only pushes to branch main run pipelines" },
    ],
    ["branch deletion", { deleted: true, after: ZERO }, repo, { action: "ignore", reason: "branch deletion: branch main was deleted" }],
    ["zero after without the flag", { after: ZERO }, repo, { action: "ignore", reason: "branch deletion: branch main was deleted" }],
    ["branch with slashes", { ref: "refs/heads/release/v1" }, { full_name: "o/r", branch: "release/v1" }, { action: "run", branch: "release/v1" }],
  ];
  for (const [name, change, r, expected] of cases) {
    test(name, () => expect(classifyPush(pushPayloadSchema.parse({ ...base, ...change }), r)).toEqual(expected));
  }

  test("the schema keeps what we use and fills defaults", () => {
    const p = pushPayloadSchema.parse({ ...base, commits: [{ id: SHA, added: ["a.ipynb"] }], extra: 1 });
    expect(p.commits[0]).toEqual({ id: SHA, message: "", added: ["a.ipynb"], modified: [], removed: [] });
    expect(p.head_commit).toBeNull();
    expect("extra" in p).toBe(false);
    expect(pushPayloadSchema.safeParse({ ...base, after: "main" }).success).toBe(false);
  });
});
