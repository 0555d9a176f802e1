// Structured JSON logs (pino) to stdout; one logger made in main.ts and handed down.
import pino from "pino";

export type Logger = pino.Logger;

/** A JSON logger at `level`; "silent" for tests. */
export function createLogger(level: "debug" | "info" | "warn" | "error" | "silent"): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
