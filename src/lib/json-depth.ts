// How deeply a JSON text nests, found in one pass before it is parsed: JSON.parse takes time in proportion to nesting
// that no model needs (half a second for 10 MB of `[`), and walking a deep result recursively overflows the stack.

import { UnprocessableError } from "./errors.ts";

/** The deepest nesting a request body's JSON may have: far more than any tensor's rank plus the request's own objects. */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` (JSON, or text that may not be) opens lists or objects more than `max` levels deep. Linear; strings are skipped. */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: brackets inside it do not nest; a backslash escapes the next character.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** Throws UnprocessableError (422) naming `what` when `text` nests deeper than MAX_JSON_DEPTH; call it before JSON.parse. */
export function refuseDeepJson(text: string, what: string): void {
  if (jsonNestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new UnprocessableError(`${what} nests lists or objects more than ${MAX_JSON_DEPTH} levels deep; no model input has that many dimensions`, {
      max_depth: MAX_JSON_DEPTH,
    });
  }
}
