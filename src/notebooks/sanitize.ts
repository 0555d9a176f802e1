// Sanitizing what a notebook wrote as HTML (pandas tables, display(HTML(...))) or markdown before it goes into a
// page: an allowlist of tags and attributes applied by sanitize-html (string level, no DOM emulation, so it compiles
// into the executable), markdown rendered by marked and then sanitized the same way. Nothing that htmx or Alpine would
// act on survives (hx-*, x-*, @*, :* attributes are not on the allowlist), nor styles, event handlers, scripts,
// frames, forms or SVG; links go only to http(s), mailto or an anchor; images only as data: URIs of raster types.
import { marked } from "marked";
import sanitizeHtml from "sanitize-html";

const RASTER_DATA_URI = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$/i;
const SAFE_HREF = /^(https?:|mailto:|#)/i;
const LINK_REL = "noopener noreferrer nofollow";

const TAGS = [
  ..."p div span br hr h1 h2 h3 h4 h5 h6 blockquote pre code em strong b i u s del ins sub sup small mark".split(" "),
  ..."ul ol li dl dt dd table thead tbody tfoot tr th td caption colgroup col a img details summary kbd samp var abbr figure figcaption".split(" "),
];

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: TAGS,
  allowedAttributes: {
    a: ["href", "title", "rel"],
    img: ["src", "alt", "title", "width", "height"],
    th: ["colspan", "rowspan", "align"],
    td: ["colspan", "rowspan", "align"],
    ol: ["start"],
    abbr: ["title"],
    table: ["class"],
    code: ["class"],
  },
  // pandas marks its tables "dataframe"; marked marks fenced code with its language.
  allowedClasses: { table: ["dataframe"], code: ["language-*"] },
  allowedSchemes: ["http", "https", "mailto"],
  allowedSchemesByTag: { img: ["data"] },
  allowProtocolRelative: false,
  allowedStyles: {},
  // Dropped with everything inside them, not just their tags.
  nonTextTags: ["script", "style", "textarea", "option", "noscript", "title", "template", "svg", "math", "iframe", "object", "xmp", "noembed", "noframes"],
  transformTags: {
    a: (tagName, attribs) => {
      const href = attribs.href?.trim();
      const { href: _href, rel: _rel, ...rest } = attribs;
      return { tagName, attribs: href && SAFE_HREF.test(href) ? { ...rest, href, rel: LINK_REL } : { ...rest, rel: LINK_REL } };
    },
  },
  // An image must carry its pixels: anything else would be a request the page makes for the notebook.
  exclusiveFilter: (frame) => frame.tag === "img" && !RASTER_DATA_URI.test(frame.attribs.src ?? ""),
};

/** `html` reduced to the allowlist above; safe to put into a page as is. Never throws. */
export function sanitizeNotebookHtml(html: string): string {
  return sanitizeHtml(html, OPTIONS);
}

/** Markdown (GitHub flavour) rendered to HTML and sanitized like HTML outputs. Never throws. */
export function renderNotebookMarkdown(markdown: string): string {
  let html: string;
  try {
    html = marked.parse(markdown, { async: false, gfm: true });
  } catch {
    return sanitizeNotebookHtml(`<pre>${Bun.escapeHTML(markdown)}</pre>`);
  }
  return sanitizeNotebookHtml(html);
}
