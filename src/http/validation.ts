// Shared request-validation pieces: the zod-validator hook that turns issues into one clear 400, and common params.
import { z } from "zod";
import { BadRequestError, UnprocessableError } from "../lib/errors.ts";

type ValidationResult = { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } };

/** zValidator hook: on failure throw BadRequestError naming each field and what is wrong. */
export function onInvalid(result: ValidationResult): void {
  if (result.success || !result.error) return;
  const problems = result.error.issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message));
  throw new BadRequestError(`invalid request: ${problems.join("; ")}`, { problems });
}

/**
 * zValidator hook like `onInvalid` (the same words), except that a body whose only problems lie inside `field` is a
 * 422 (UnprocessableError): the request is well formed, but that field's value cannot be used.
 */
export function onInvalidWithin(field: string) {
  return (result: ValidationResult): void => {
    if (result.success || !result.error) return;
    const issues = result.error.issues;
    if (!issues.every((i) => i.path[0] === field)) return onInvalid(result);
    const problems = issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`);
    throw new UnprocessableError(`invalid request: ${problems.join("; ")}`, { problems });
  };
}

/** `:id` as a positive integer. */
export const idParam = z.object({ id: z.coerce.number().int().positive({ message: "must be a positive whole number" }) });
