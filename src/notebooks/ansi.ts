// ANSI colour codes (IPython colours its tracebacks) turned into escaped HTML spans with classes; every other escape
// sequence is dropped. Classes rather than inline styles: the notebook page's Content-Security-Policy allows no
// inline style. Imports nothing of the app.
import { escapeHTML, stripANSI } from "bun";

const COLOURS = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"] as const;
// CSI sequences (ESC [ params final), whatever their final byte; only SGR (final "m") is kept as styling.
const CSI = /\u001b\[([0-9;?]*)([@-~])/g;

type Style = { fg?: string; bg?: string; bold: boolean; italic: boolean; underline: boolean };

function applySgr(style: Style, params: string): Style {
  const codes = params === "" ? [0] : params.split(";").map((p) => (p === "" ? 0 : Number(p)));
  let s = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) s = { bold: false, italic: false, underline: false };
    else if (c === 1) s.bold = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 22) s.bold = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c >= 30 && c <= 37) s.fg = COLOURS[c - 30];
    else if (c >= 90 && c <= 97) s.fg = `bright-${COLOURS[c - 90]}`;
    else if (c === 39) s.fg = undefined;
    else if (c >= 40 && c <= 47) s.bg = COLOURS[c - 40];
    else if (c >= 100 && c <= 107) s.bg = `bright-${COLOURS[c - 100]}`;
    else if (c === 49) s.bg = undefined;
    else if (c === 38 || c === 48) {
      // 256-colour (5;n) and true-colour (2;r;g;b): the first 16 of the 256 map onto the classes, the rest are left plain.
      const mode = codes[i + 1];
      const n = codes[i + 2];
      let colour: string | undefined;
      if (mode === 5 && n !== undefined) colour = n < 8 ? COLOURS[n] : n < 16 ? `bright-${COLOURS[n - 8]}` : undefined;
      if (c === 38) s.fg = colour;
      else s.bg = colour;
      i += mode === 5 ? 2 : mode === 2 ? 4 : 1;
    }
  }
  return s;
}

function classes(s: Style): string {
  const list = [s.fg && `ansi-${s.fg}`, s.bg && `ansi-bg-${s.bg}`, s.bold && "ansi-bold", s.italic && "ansi-italic", s.underline && "ansi-underline"];
  return list.filter(Boolean).join(" ");
}

/** `text` as escaped HTML, its SGR colours as `<span class="ansi-…">`, every other ANSI/control sequence removed. Never throws. */
export function ansiToHtml(text: string): string {
  let style: Style = { bold: false, italic: false, underline: false };
  let out = "";
  let last = 0;
  const emit = (chunk: string) => {
    // Whatever escape sequences are left (OSC, lone ESC, other CSI) are not shown.
    const plain = stripANSI(chunk).replace(/\u001b/g, "");
    if (plain === "") return;
    const cls = classes(style);
    out += cls ? `<span class="${cls}">${escapeHTML(plain)}</span>` : escapeHTML(plain);
  };
  for (const m of text.matchAll(CSI)) {
    emit(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === "m" && !m[1]!.includes("?")) style = applySgr(style, m[1]!);
  }
  emit(text.slice(last));
  return out;
}
