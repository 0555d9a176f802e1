// The page frame every page shares.
import type { Child } from "hono/jsx";

/** An HTML page with the header and the stylesheet. */
export function Layout(props: { title: string; version: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{props.title} · mlops</title>
        <link rel="stylesheet" href="/static/app.css" />
      </head>
      <body>
        <header>
          <h1>mlops</h1>
          <span class="version">{props.version}</span>
        </header>
        <main>{props.children}</main>
      </body>
    </html>
  );
}
