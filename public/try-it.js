// The model page's "Try it" form as the Alpine component "tryIt" (views/try-it.tsx renders its markup and its
// configuration in data-try-it). A file of its own, not inline script, so a Content-Security-Policy can keep
// script-src to this server. It builds request bodies by the rules of src/models/try-it-form.ts (coerce, tryItBody,
// curlLine), sends them as the page (the X-Mlops-Page header lets the signed-in session predict under PREDICT_TOKEN)
// and shows the answer or the API's error, with the latency.
document.addEventListener("alpine:init", () => {
  window.Alpine.data("tryIt", () => ({
    cfg: { columns: [], rows: [], layout: "rows", path: "", url: "", withToken: false },
    rows: [],
    busy: false,
    answer: "",
    latency: "",
    error: "",
    copied: false,

    init() {
      this.cfg = JSON.parse(this.$el.dataset.tryIt);
      this.rows = this.cfg.rows.map((r) => [...r]);
    },

    coerce(value, type) {
      if (type === "string") return value;
      if (type === "bool") return value === "true" ? true : value === "false" ? false : value;
      const n = Number(value);
      return value.trim() !== "" && Number.isFinite(n) ? n : value;
    },

    body() {
      const cols = this.cfg.columns;
      if (this.cfg.layout === "rows") return { inputs: this.rows.map((r) => r.map((v, i) => this.coerce(v, cols[i].type))) };
      return { inputs: this.rows.map((r) => Object.fromEntries(cols.map((c, i) => [c.name, this.coerce(r[i] ?? "", c.type)]))) };
    },

    curl() {
      const quote = (s) => `'${s.replaceAll("'", "'\\''")}'`;
      const auth = this.cfg.withToken ? ' -H "Authorization: Bearer $PREDICT_TOKEN"' : "";
      return `curl -X POST ${quote(this.cfg.url)} -H 'Content-Type: application/json'${auth} -d ${quote(JSON.stringify(this.body()))}`;
    },

    addRow() {
      const last = this.rows[this.rows.length - 1];
      this.rows.push(last ? [...last] : this.cfg.columns.map((c) => (c.type === "string" ? "" : c.type === "bool" ? "false" : "0")));
    },

    removeRow(i) {
      if (this.rows.length > 1) this.rows.splice(i, 1);
    },

    async send() {
      this.busy = true;
      this.answer = "";
      this.error = "";
      this.latency = "";
      const started = performance.now();
      try {
        const res = await fetch(this.cfg.path, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Mlops-Page": "try-it" },
          body: JSON.stringify(this.body()),
        });
        const text = await res.text();
        this.latency = `${(performance.now() - started).toFixed(1)} ms`;
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: shown as it came
        }
        if (res.ok && json) this.answer = this.show(json);
        else this.error = `${res.status}: ${json && typeof json.error === "string" ? json.error : text}`;
      } catch (e) {
        this.error = `the request did not complete: ${e instanceof Error ? e.message : String(e)}`;
      } finally {
        this.busy = false;
      }
    },

    // One line per field of the answer: still JSON, and predictions of a few rows stay readable at a glance.
    show(json) {
      if (typeof json !== "object" || json === null || Array.isArray(json)) return JSON.stringify(json);
      const lines = Object.entries(json).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
      return `{\n${lines.join(",\n")}\n}`;
    },

    async copy() {
      const text = this.curl();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        // No clipboard API outside secure contexts: copy the selected text instead.
        const range = document.createRange();
        range.selectNodeContents(this.$refs.curl);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
      }
      this.copied = true;
      setTimeout(() => {
        this.copied = false;
      }, 1500);
    },
  }));
});
