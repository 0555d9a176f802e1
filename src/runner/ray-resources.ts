// What a Ray job asks of the cluster: the repository's `runner_resources` and a notebook's metadata `mlops.resources`
// (docs/notebook-contract.md), both shaped {"num_cpus": 1, "num_gpus": 0, "memory_mb": 2048, "resources": {"trainer": 1}},
// every key optional. The notebook comes from a push: the shape is checked and a bad one fails the pipeline with the reason.
import { readFileSync } from "node:fs";
import { z } from "zod";

const amount = z.number().finite().min(0).max(1_000_000);
/** The shape, as error messages and hints show it. */
export const RAY_RESOURCES_EXAMPLE = '{"num_cpus": 1, "num_gpus": 0, "memory_mb": 2048, "resources": {"trainer": 1}}';
const objectErrors = {
  error: (issue: { code?: string; keys?: string[] }) =>
    issue.code === "invalid_type"
      ? `must be a JSON object such as ${RAY_RESOURCES_EXAMPLE}, every key optional`
      : issue.code === "unrecognized_keys"
        ? `unknown key ${issue.keys?.join(", ")}; allowed: num_cpus, num_gpus, memory_mb, resources`
        : undefined,
};
/** What a Ray job may ask for: unknown keys refused, amounts finite and not negative. */
export const rayResourcesSchema = z.strictObject(
  {
    num_cpus: amount.optional(),
    num_gpus: amount.optional(),
    memory_mb: z
      .number()
      .int()
      .min(1)
      .max(1024 * 1024 * 1024)
      .optional(),
    resources: z.record(z.string().min(1).max(200), amount).optional(),
  },
  objectErrors,
);

export type RayResources = z.infer<typeof rayResourcesSchema>;

/** The resources notebook `file` asks for in its metadata (`{}` when it names none); throws Error naming what is wrong. */
export function notebookResources(file: string): RayResources {
  const nb = JSON.parse(readFileSync(file, "utf8")) as { metadata?: { mlops?: { resources?: unknown } } };
  const asked = nb.metadata?.mlops?.resources;
  if (asked === undefined) return {};
  const parsed = rayResourcesSchema.safeParse(asked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`the notebook's metadata mlops.resources is not usable: ${issue.path.join(".") || "it"}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * What a job asks for: the repository's resources with the notebook's on top, per top-level key (a notebook's
 * `resources` object replaces the repository's whole `resources` object; the two are not merged). Either may be
 * absent; both absent: `{}`.
 */
export function resourcesFor(repo: RayResources | null | undefined, notebook: RayResources | null | undefined): RayResources {
  const merged: RayResources = {};
  for (const asked of [repo, notebook]) {
    for (const [key, value] of Object.entries(asked ?? {})) {
      // An explicit undefined in the notebook's object would otherwise erase the repository's value.
      if (value !== undefined) Object.assign(merged, { [key]: value });
    }
  }
  return merged;
}
