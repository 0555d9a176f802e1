// Where both commands (`mlops serve`, `mlops replica`) open their port and close it again.
import { withAbsoluteUrl } from "./absolute-url.ts";

/** How long a stop waits for in-flight requests (predictions) to finish before it cuts their connections. */
const HTTP_DRAIN_MS = 5_000;

export type Listening = {
  /** Where to reach it, for logs: http://<host>:<port>, with a wildcard host shown as localhost. */
  url: string;
  port: number;
  /** Close the listening socket and wait for in-flight requests, but not for ever (HTTP_DRAIN_MS): then cut them. */
  stop(): Promise<void>;
};

/** Listen on `host`:`port` (0: a free one) with `fetch`, which sees an absolute URL on every request. */
export function listen(opts: { port: number; host: string; fetch: (req: Request, server: Bun.Server<undefined>) => Response | Promise<Response> }): Listening {
  // Every route caps its own body and answers 413 in JSON; Bun's own cap (128 MB unless set) would answer a bare 413
  // first, and cut artifact uploads short before their token is even looked at.
  const server = Bun.serve({
    port: opts.port,
    hostname: opts.host,
    fetch: withAbsoluteUrl(opts.fetch),
    idleTimeout: 60,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  const shownHost = opts.host === "0.0.0.0" || opts.host === "::" ? "localhost" : opts.host;
  return {
    url: `http://${shownHost}:${server.port}`,
    port: server.port ?? opts.port,
    async stop() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = await Promise.race([server.stop().then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), HTTP_DRAIN_MS)))]);
      clearTimeout(timer);
      if (late) await server.stop(true);
    },
  };
}
