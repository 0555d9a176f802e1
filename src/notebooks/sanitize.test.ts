import { describe, expect, test } from "bun:test";
import { renderNotebookMarkdown, sanitizeNotebookHtml } from "./sanitize.ts";

// Hostile inputs and what must not survive them. Each is checked on the HTML path and inside markdown (where raw
// HTML passes through marked and must be caught by the same sanitizer).
const HOSTILE: [string, string, RegExp][] = [
  ["script", "<script>alert(1)</script>after", /<script|alert/i],
  ["img onerror", "<img src=x onerror=alert(1)>", /onerror|<img/i],
  ["javascript: link", '<a href="javascript:alert(1)">x</a>', /javascript:|href/i],
  ["javascript: link in disguise", '<a href=" JaVa&#x09;ScRiPt:alert(1)">x</a>', /script:|href/i],
  ["svg script", "<svg onload=alert(1)><script>alert(1)</script></svg>", /<svg|<script|alert|onload/i],
  ["svg image", '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">', /<img|svg/i],
  ["remote image", '<img src="http://127.0.0.1:9/leak">', /<img|127\.0\.0\.1/],
  ["protocol-relative image", '<img src="//evil.example/x.png">', /<img|evil/],
  ["htmx attributes", '<div hx-get="/logout" hx-trigger="load" hx-on:click="alert(1)">d</div>', /hx-|logout|alert/],
  ["Alpine attributes", '<div x-data="{a:1}" x-init="alert(1)" @click="alert(2)" :class="x">d</div>', /x-data|x-init|@click|:class|alert/],
  ["style url()", '<p style="background:url(http://127.0.0.1:9/leak)">p</p><style>p{background:url(http://127.0.0.1:9/x)}</style>', /style|url\(|127/],
  ["data:text/html link", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', /data:|href/],
  ["iframe", '<iframe src="https://example.com" srcdoc="<script>alert(1)</script>"></iframe>', /iframe|srcdoc|alert/],
  ["form", '<form action="https://evil.example"><input name=token><button formaction="/logout">go</button></form>', /<form|<input|<button|formaction|evil/],
  ["nested tags", "<<script>script>alert(1)<</script>/script>", /<script/i],
  ["malformed tags", '<img """><script>alert(1)</script>"><b <script>alert(2)</script>', /<script|<img/i],
  ["meta refresh and base", '<meta http-equiv="refresh" content="0;url=https://evil.example"><base href="https://evil.example/">', /<meta|<base|evil/],
  ["object and embed", '<object data="x.swf"></object><embed src="x.swf">', /<object|<embed|swf/],
  ["event handler on allowed tag", '<table onmouseover="alert(1)"><tr><td onclick="alert(2)">1</td></tr></table>', /onmouse|onclick|alert/],
  ["id and name (DOM clobbering)", '<a id="htmx" name="config">x</a><img name="body" src="data:image/png;base64,AAAA">', /id=|name=/],
];

describe("sanitizeNotebookHtml", () => {
  for (const [what, input, forbidden] of HOSTILE) {
    test(`${what}: nothing active survives`, () => {
      expect(sanitizeNotebookHtml(input)).not.toMatch(forbidden);
      expect(renderNotebookMarkdown(`Some text\n\n${input}\n\nmore`)).not.toMatch(forbidden);
    });
  }

  test("what a notebook legitimately shows is kept: pandas tables, raster images, safe links", () => {
    const pandas =
      '<div><style scoped>.dataframe tbody tr th { vertical-align: top; }</style><table border="1" class="dataframe"><thead><tr style="text-align: right;"><th></th><th>petal</th></tr></thead><tbody><tr><th>0</th><td>1.4</td></tr></tbody></table></div>';
    expect(sanitizeNotebookHtml(pandas)).toBe(
      '<div><table class="dataframe"><thead><tr><th></th><th>petal</th></tr></thead><tbody><tr><th>0</th><td>1.4</td></tr></tbody></table></div>',
    );
    expect(sanitizeNotebookHtml('<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot">')).toBe(
      '<img src="data:image/png;base64,iVBORw0KGgo=" alt="plot" />',
    );
    expect(sanitizeNotebookHtml('<a href="https://example.com/doc">doc</a>')).toBe(
      '<a href="https://example.com/doc" rel="noopener noreferrer nofollow">doc</a>',
    );
    expect(sanitizeNotebookHtml('<a href="#results" rel="opener">r</a>')).toBe('<a href="#results" rel="noopener noreferrer nofollow">r</a>');
    expect(sanitizeNotebookHtml('<a href="/logout">relative</a>')).toBe('<a rel="noopener noreferrer nofollow">relative</a>');
  });
});

describe("renderNotebookMarkdown", () => {
  test("markdown is rendered: headings, emphasis, code, tables, links", () => {
    const html = renderNotebookMarkdown("# Iris\n\nSome *emphasis* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com)");
    expect(html).toContain("<h1>Iris</h1>");
    expect(html).toContain("<em>emphasis</em>");
    expect(html).toContain("<code>code</code>");
    expect(html).toContain("<td>2</td>");
    expect(html).toContain('<a href="https://example.com" rel="noopener noreferrer nofollow">docs</a>');
  });

  test("markdown links and images to unsafe places lose their target", () => {
    const html = renderNotebookMarkdown("[x](javascript:alert(1)) ![leak](http://127.0.0.1:9/leak.png) [d](data:text/html,hi)");
    expect(html).not.toMatch(/javascript|127\.0\.0\.1|<img|data:/);
  });
});
