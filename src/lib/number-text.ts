// Decimal number text (CSV cells, form fields) → numbers, scanned once left to right: request bodies are hostile, and
// the regular expression this replaces (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/) backtracked quadratically over a long run of digits.

/**
 * The number `s` spells (no surrounding spaces), or null when it is not one. Accepts exactly what
 * /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/ accepts (an optional sign, digits with an optional point, or a point then
 * digits, then an optional exponent), in time linear in the cell's length.
 */
export function parseNumberText(s: string): number | null {
  const n = s.length;
  let i = 0;
  if (i < n && (s[i] === "+" || s[i] === "-")) i++;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intDigits = i - intStart;
  let fracDigits = 0;
  if (i < n && s[i] === ".") {
    i++;
    const fracStart = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    fracDigits = i - fracStart;
  }
  // "5." is a number, "." and ".e1" are not.
  if (intDigits === 0 && fracDigits === 0) return null;
  if (i < n && (s[i] === "e" || s[i] === "E")) {
    i++;
    if (i < n && (s[i] === "+" || s[i] === "-")) i++;
    const expStart = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === expStart) return null;
  }
  return i === n ? Number(s) : null;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
