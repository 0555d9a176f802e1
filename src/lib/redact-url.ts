// Credentials in URLs (http://user:pass@host, a token in a clone URL) are for connecting only: whatever prints or
// stores a URL, or text that may hold one (git's stderr, an error message), passes it through redactUrl first.

const REDACTED = "***";

/**
 * `text` with the user:password part of every URL in it (`//<userinfo>@`) replaced by `***`; text without one is
 * returned unchanged. Linear in the length of `text` (no pattern that backtracks). Idempotent.
 */
export function redactUrl(text: string): string {
  let out = "";
  let from = 0;
  let search = 0;
  for (;;) {
    const at = text.indexOf("//", search);
    if (at < 0) break;
    let i = at + 2;
    while (i < text.length && !ends(text.charCodeAt(i))) i++;
    if (text[i] === "@" && i > at + 2 && text.slice(at + 2, i) !== REDACTED) {
      out += `${text.slice(from, at + 2)}${REDACTED}`;
      from = i;
    }
    // The scanned stretch holds no "/", so the next "//" starts at or after where the scan stopped.
    search = Math.max(i, at + 1);
  }
  return out + text.slice(from);
}

// Where a URL's authority ends: "/", "@", whitespace, or characters that close a URL in text (quotes, brackets).
function ends(c: number): boolean {
  return c === 0x2f || c === 0x40 || c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3e || c === 0x3c || c === 0x29 || c === 0x5d || c === 0x60;
}

/**
 * `url` without its user:password, and those as MLflow's client reads them from the environment
 * (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD), so a notebook can connect without the credentials being
 * written into its parameters (and from there into the executed notebook). A URL without credentials, or one that
 * does not parse, comes back as it is with no credentials.
 */
export function splitUrlCredentials(url: string): { url: string; username?: string; password?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url };
  }
  if (!parsed.username && !parsed.password) return { url };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.toString().replace(/\/$/, url.endsWith("/") ? "/" : ""), username, ...(password && { password }) };
}
