// Test support: a stand-in for GitHub's REST API (the one thing that cannot run here) on a loopback port. It
// records every request and answers 201 with the created object, or the statuses a test scripted for a path.
import { eventually } from "./eventually.ts";

export type RecordedRequest = {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The parsed JSON body (null when none or not JSON). */
  body: unknown;
  /** The status the stand-in answered. */
  answered: number;
};

export type GitHubStandIn = {
  /** http://127.0.0.1:<port>, the GITHUB_API_URL to give the server. */
  url: string;
  /** Every request so far, in arrival order. */
  requests: RecordedRequest[];
  /**
   * Answer the next requests whose path starts with `pathPrefix` (and whose body `when` accepts) with `statuses` in
   * turn, then 201; `forever` repeats the last one.
   */
  script(pathPrefix: string, statuses: number[], opts?: { forever?: boolean; when?: (body: unknown) => boolean }): void;
  /** The requests whose path starts with `pathPrefix`. */
  received(pathPrefix: string): RecordedRequest[];
  /** Poll until `done(received(pathPrefix))`; returns those requests. Throws, listing them, after `timeoutMs`. */
  waitFor(pathPrefix: string, done: (requests: RecordedRequest[]) => boolean, timeoutMs?: number): Promise<RecordedRequest[]>;
  stop(): Promise<void>;
};

// GitHub's own messages for the statuses tests use.
const MESSAGES: Record<number, string> = {
  401: "Bad credentials",
  403: "Resource not accessible by integration",
  404: "Not Found",
  422: "Validation Failed",
  500: "Server Error",
};

/** Start a stand-in GitHub API on a free loopback port. */
export function startGitHubStandIn(): GitHubStandIn {
  const requests: RecordedRequest[] = [];
  const scripts: { prefix: string; statuses: number[]; forever: boolean; when?: (body: unknown) => boolean }[] = [];
  let nextId = 1;

  const answerFor = (path: string, body: unknown): number => {
    const s = scripts.find((x) => path.startsWith(x.prefix) && x.statuses.length > 0 && (x.when?.(body) ?? true));
    if (!s) return 201;
    return s.forever && s.statuses.length === 1 ? s.statuses[0]! : s.statuses.shift()!;
  };

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const text = await req.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        // recorded as null: a test asserting on the body will say so
      }
      const answered = answerFor(path, body);
      requests.push({ method: req.method, path, headers: req.headers.toJSON(), body, answered });
      if (answered >= 400)
        return Response.json({ message: MESSAGES[answered] ?? "Error", documentation_url: "https://docs.github.com/rest" }, { status: answered });
      return Response.json({ id: nextId++, ...(body as object) }, { status: answered });
    },
  });

  const received = (prefix: string) => requests.filter((r) => r.path.startsWith(prefix));
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    script(prefix, statuses, opts = {}) {
      scripts.unshift({ prefix, statuses: [...statuses], forever: opts.forever ?? false, when: opts.when });
    },
    received,
    async waitFor(prefix, done, timeoutMs = 30_000) {
      try {
        return await eventually(() => done(received(prefix)) && received(prefix), { what: `requests under ${prefix}`, timeoutMs, everyMs: 25 });
      } catch {
        const seen = received(prefix).map((r) => ({ answered: r.answered, body: r.body }));
        throw new Error(`the GitHub stand-in did not receive what the test waited for under ${prefix}; it received ${JSON.stringify(seen)}`);
      }
    },
    stop: () => server.stop(true),
  };
}
