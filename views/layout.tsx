// The page frame every page shares: header with navigation, the stylesheet, htmx and its SSE extension.
import { raw } from "hono/html";
import type { Child } from "hono/jsx";

export type LayoutProps = {
  title: string;
  version: string;
  children: Child /** false on /login: no navigation before signing in */;
  signedIn?: boolean;
  head?: Child /** page-only scripts */;
};

/** An HTML page with the header, navigation and scripts. */
export function Layout(props: LayoutProps) {
  const signedIn = props.signedIn ?? true;
  // The doctype keeps browsers out of quirks mode.
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · mlops</title>
          <link rel="stylesheet" href="/static/app.css" />
          {props.head}
        </head>
        <body>
          <header>
            <h1>
              <a href="/">mlops</a>
            </h1>
            {signedIn && (
              <nav>
                <a href="/">Home</a>
                <a href="/pipelines">Pipelines</a>
                <a href="/repos">Repositories</a>
                <a href="/models">Models</a>
              </nav>
            )}
            <span class="version">{props.version}</span>
            {signedIn && (
              <form method="post" action="/logout" class="logout">
                <button type="submit">Sign out</button>
              </form>
            )}
          </header>
          <main>{props.children}</main>
          {/* Not deferred, and last: htmx sets the page up at DOMContentLoaded only when it runs while the document is
              still loading, by which time the SSE extension has run too. Deferred, htmx ran after parsing and set the
              page up on a timer that could fire before a slower extension file arrived, leaving the log unconnected. */}
          <script src="/static/htmx.min.js"></script>
          <script src="/static/hx-sse.min.js"></script>
        </body>
      </html>
    </>
  );
}
