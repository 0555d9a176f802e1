import { expect, test } from "bun:test";
import { ansiToHtml } from "./ansi.ts";

test("IPython's traceback colours become spans with classes, and no escape character is left", () => {
  const line = "\u001b[0;31mValueError\u001b[0m: bad \u001b[1;32mvalue\u001b[0m";
  const html = ansiToHtml(line);
  expect(html).toBe('<span class="ansi-red">ValueError</span>: bad <span class="ansi-green ansi-bold">value</span>');
  expect(html).not.toContain("\u001b");
});

test("256-colour and true-colour codes are consumed with their arguments; other sequences are dropped", () => {
  expect(ansiToHtml("\u001b[38;5;9mx\u001b[39m y")).toBe('<span class="ansi-bright-red">x</span> y');
  expect(ansiToHtml("\u001b[38;5;200mx\u001b[0m")).toBe("x");
  expect(ansiToHtml("\u001b[38;2;1;2;3mx\u001b[0m\u001b[2K\u001b]0;title\u0007z\u001b")).toBe("xz");
  expect(ansiToHtml("\u001b[?25lhidden cursor")).toBe("hidden cursor");
});

test("text between the codes is escaped, codes cannot smuggle markup", () => {
  const html = ansiToHtml('\u001b[31m<script>alert(1)</script>\u001b[0m<img src=x onerror="alert(1)">');
  expect(html).not.toContain("<script");
  expect(html).not.toContain("<img");
  expect(html).toContain("&lt;script&gt;");
});
