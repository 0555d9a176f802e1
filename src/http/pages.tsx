// Server-rendered pages: sign-in, the home page, and (behind the page session) the pipeline and model pages.
import { Hono, type Context } from "hono";
import { every } from "hono/combine";
import { deleteCookie, setCookie } from "hono/cookie";
import { HomeHealth } from "../../views/home-health.tsx";
import { HomePage } from "../../views/home-page.tsx";
import { ErrorPage } from "../../views/error-page.tsx";
import { LoginPage } from "../../views/login-page.tsx";
import { SESSION_SECONDS } from "../auth/page-sessions.ts";
import { isAdminToken, requirePageSession, safeNext, SESSION_COOKIE, sessionIdOf } from "./page-auth.ts";
import { systemOverview } from "../overview/system-overview.ts";
import { pipelineJson } from "../pipeline/pipeline-view.ts";
import { RECENT_WINDOW_MINUTES } from "../serving/recent-requests.ts";
import type { PageDeps } from "./page-deps.ts";
import { modelPageRoutes } from "./model-pages.tsx";
import { notebookPageRoutes } from "./notebook-pages.tsx";
import { pipelinePageRoutes } from "./pipeline-pages.tsx";
import { repoPageRoutes } from "./repo-pages.tsx";
import { securePages } from "./page-security.ts";
import { mountStaticAssets } from "./static-assets.ts";

/** Routes for /login, /logout, /static/* and the pages; every page but /login needs a session. */
export function pageRoutes(deps: PageDeps) {
  const app = new Hono();
  mountStaticAssets(app);
  app.get("/login", securePages, (c) => c.html(<LoginPage version={deps.version} next={safeNext(c.req.query("next"))} />));
  app.post("/login", securePages, async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token.trim() : "";
    const next = safeNext(typeof form.next === "string" ? form.next : undefined);
    if (!isAdminToken(token, deps.adminTokenSha256)) {
      return c.html(<LoginPage version={deps.version} next={next} error="That is not the admin token." />, 401);
    }
    // Behind a TLS proxy the request arrives as http: PUBLIC_URL says what the browser sees.
    const secure = deps.config.publicUrl.startsWith("https:") || new URL(c.req.url).protocol === "https:";
    setCookie(c, SESSION_COOKIE, deps.pageSessions.create(), { httpOnly: true, sameSite: "Strict", path: "/", maxAge: SESSION_SECONDS, secure });
    return c.redirect(next, 303);
  });
  app.post("/logout", (c) => {
    deps.pageSessions.revoke(sessionIdOf(c));
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/login", 303);
  });

  // The guard goes on each page route, not use("*"): a catch-all middleware would also run for the API and
  // predict paths mounted beside the pages, and for unknown paths.
  // It also gives each page its Content-Security-Policy (securePages).
  const guard = every(securePages, requirePageSession(deps.pageSessions));
  const overview = () => systemOverview(deps);
  app.get("/", guard, (c) => {
    const url = new URL(c.req.url);
    const recent = deps.pipelineStore.list({ limit: 5 }).map((p) => pipelineJson(p));
    return c.html(<HomePage version={deps.version} baseUrl={url.origin} overview={overview()} windowMinutes={RECENT_WINDOW_MINUTES} recent={recent} />);
  });
  // The health part alone, which the home page polls.
  app.get("/home/health", guard, (c) => c.html(<HomeHealth overview={overview()} windowMinutes={RECENT_WINDOW_MINUTES} />));
  app.route("/", modelPageRoutes(deps, guard));
  app.route("/", pipelinePageRoutes(deps, guard));
  app.route("/", notebookPageRoutes(deps, guard));
  app.route("/", repoPageRoutes(deps, guard));
  return app;
}

/** Whether an error for this request should be HTML: a browser navigation or an htmx request, never the JSON API. */
export function wantsHtml(c: Context): boolean {
  if (c.req.path.startsWith("/api/")) return false;
  return c.req.header("hx-request") === "true" || (c.req.header("accept") ?? "").includes("text/html");
}

/** An error as a whole page, or for htmx as a fragment swapped where the answer would have gone. */
export function htmlError(version: string, status: number, message: string, fragment: boolean) {
  if (fragment) {
    return (
      <p class="error" role="alert">
        {message}
      </p>
    );
  }
  return <ErrorPage version={version} status={status} message={message} />;
}
