// The model page's "Try it": a form of the serving version's inputs, prefilled with the rows it was checked on (else
// zeros), that sends a real predict request and shows the answer, its latency and the same request as curl. The
// behaviour is the Alpine component in public/try-it.js; the page renders its markup and configuration.
import type { TryItForm } from "../src/models/try-it-form.ts";

export type TryItProps = {
  model: string;
  /** The version serving, or null. */
  version: number | null;
  /** The form of that version's inputs; null when they cannot be laid out as fields. */
  form: TryItForm | null;
  /** The predict path (fetched by the page) and its absolute URL (for curl). */
  path: string;
  url: string;
  /** Whether PREDICT_TOKEN is set: curl then sends it, as $PREDICT_TOKEN. */
  withToken: boolean;
  /** The body of the form's first rows and the curl line sending it, shown before any edit. */
  body: string;
  curl: string;
};

/** The scripts the Try it form needs, for the page's head: the component first, then Alpine (which starts it). */
export function TryItScripts() {
  return (
    <>
      <script src="/static/try-it.js" defer></script>
      <script src="/static/alpine.min.js" defer></script>
    </>
  );
}

/** The Try it section. */
export function TryIt(props: TryItProps) {
  if (props.version === null)
    return (
      <section id="try-it" class="try-it">
        <h3>Try it</h3>
        <p class="muted">Not serving: deploy a version to try it here.</p>
      </section>
    );
  if (!props.form)
    return (
      <section id="try-it" class="try-it">
        <h3>Try it</h3>
        <p class="muted">v{props.version}'s inputs cannot be laid out as fields here; send it a request as shown under Inputs.</p>
      </section>
    );
  const { form } = props;
  const config = { layout: form.layout, columns: form.columns, rows: form.rows, path: props.path, url: props.url, withToken: props.withToken };
  return (
    <section id="try-it" class="try-it" x-data="tryIt" data-try-it={JSON.stringify(config)}>
      <h3>Try it</h3>
      <p class="muted" id="try-it-source">
        v{props.version} ·{" "}
        {form.sampled
          ? `prefilled with ${form.rows.length === 1 ? "a row" : `${form.rows.length} rows`} it was checked on`
          : "prefilled with zeros (no sample rows were kept for this version)"}
        {form.layout === "records" ? " · one field per input" : ""}
      </p>
      <div class="try-it-table">
        <table class="try-it-rows">
          <thead>
            <tr>
              <th>#</th>
              {form.columns.map((c) => (
                <th>
                  <code>{c.name}</code> <span class="muted">{c.type}</span>
                </th>
              ))}
              <th></th>
            </tr>
          </thead>
          <tbody>
            <template x-for="(row, r) in rows" x-bind:key="r">
              <tr>
                <td x-text="r + 1"></td>
                <template x-for="(col, i) in cfg.columns" x-bind:key="i">
                  <td>
                    <input
                      type="text"
                      x-model="row[i]"
                      x-bind:aria-label="col.name + ' (row ' + (r + 1) + ')'"
                      x-bind:name="'r' + r + 'c' + i"
                      autocomplete="off"
                    />
                  </td>
                </template>
                <td>
                  <button type="button" class="try-it-remove" x-on:click="removeRow(r)" x-bind:disabled="rows.length < 2" title="remove this row">
                    ×
                  </button>
                </td>
              </tr>
            </template>
          </tbody>
        </table>
      </div>
      <p class="try-it-buttons">
        <button type="button" id="try-it-add" x-on:click="addRow()">
          Add row
        </button>
        <button type="button" id="try-it-send" x-on:click="send()" x-bind:disabled="busy">
          Predict
        </button>
        <span id="try-it-latency" class="muted" x-text="latency"></span>
      </p>
      <p id="try-it-error" class="error" role="alert" x-cloak x-show="error" x-text="error"></p>
      <pre id="try-it-answer" x-cloak x-show="answer" x-text="answer"></pre>
      <div class="try-it-curl">
        <pre id="try-it-curl" x-ref="curl" x-text="curl()">
          {props.curl}
        </pre>
        <button type="button" id="try-it-copy" x-on:click="copy()" x-text="copied ? 'Copied' : 'Copy'">
          Copy
        </button>
      </div>
    </section>
  );
}
