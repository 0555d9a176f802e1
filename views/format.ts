// Number and time formats shared by the pages.

/** A metric value for people: 4 significant digits (more when the whole part needs them), no trailing zeros. */
export function formatMetric(value: number): string {
  const whole = Math.abs(value) >= 1 ? Math.floor(Math.log10(Math.abs(value))) + 1 : 0;
  return String(Number(value.toPrecision(Math.min(100, Math.max(4, whole)))));
}

/** A stored UTC timestamp (ISO 8601) to the minute: "2026-12-02 14:03 UTC". */
export function formatTime(iso: string): string {
  return `${iso.slice(0, 16).replace("T", " ")} UTC`;
}
