import { describe, expect, test } from "bun:test";
import { resourcesFor } from "./ray-resources.ts";

describe("resourcesFor (the repository's runner_resources under the notebook's mlops.resources)", () => {
  test("both empty or absent: nothing asked", () => {
    expect(resourcesFor(null, {})).toEqual({});
    expect(resourcesFor(undefined, undefined)).toEqual({});
    expect(resourcesFor({}, {})).toEqual({});
  });

  test("each key the repository names is asked for when the notebook names none", () => {
    const repo = { num_cpus: 2, num_gpus: 1, memory_mb: 4096, resources: { trainer: 1 } };
    expect(resourcesFor(repo, {})).toEqual(repo);
  });

  test("each key the notebook names is asked for when the repository has none", () => {
    const notebook = { num_cpus: 0.5, num_gpus: 0, memory_mb: 512, resources: { big: 2 } };
    expect(resourcesFor(null, notebook)).toEqual(notebook);
  });

  test.each([
    ["num_cpus", { num_cpus: 4 }, { num_cpus: 1 }],
    ["num_gpus", { num_gpus: 2 }, { num_gpus: 0 }],
    ["memory_mb", { memory_mb: 8192 }, { memory_mb: 1024 }],
  ] as const)("%s: the notebook's value wins, other keys of the repository stay", (_key, repo, notebook) => {
    expect(resourcesFor({ ...repo, resources: { trainer: 1 } }, notebook)).toEqual({ ...notebook, resources: { trainer: 1 } });
  });

  test("a notebook's resources object replaces the repository's whole resources object", () => {
    expect(resourcesFor({ num_cpus: 2, resources: { trainer: 1, ssd: 1 } }, { resources: { big: 1 } })).toEqual({ num_cpus: 2, resources: { big: 1 } });
    // An empty object still replaces: the notebook asks for no custom resource at all.
    expect(resourcesFor({ resources: { trainer: 1 } }, { resources: {} })).toEqual({ resources: {} });
  });

  test("a key the notebook's object holds as undefined leaves the repository's value", () => {
    expect(resourcesFor({ num_cpus: 2 }, { num_cpus: undefined })).toEqual({ num_cpus: 2 });
  });

  test("the inputs are not changed", () => {
    const repo = { num_cpus: 2, resources: { trainer: 1 } };
    const notebook = { num_cpus: 1 };
    resourcesFor(repo, notebook);
    expect(repo).toEqual({ num_cpus: 2, resources: { trainer: 1 } });
    expect(notebook).toEqual({ num_cpus: 1 });
  });
});
