// The part of the Repositories page its actions refresh: the message box, the list with Run now / Remove, and the form.
import type { Repo } from "../src/repos/repo-store.ts";
import { StatusBadge, When } from "./pipeline-format.tsx";

/** A repository as the page lists it: its deploy policy resolved, and its newest pipeline if any. */
export type RepoSummary = Repo & {
  /** The threshold the deploy gate uses: the repository's own, or the server default when it has none. */
  threshold: number;
  thresholdIsDefault: boolean;
  newest: { id: number; status: string; created_at: string } | null;
};

/** What an empty form field stands for, shown as placeholders. */
export type RepoDefaults = {
  branch: string;
  notebookGlob: string;
  deployMetric: string;
  threshold: number;
  autoDeploy: boolean;
  /** The shape of `runner_resources`, shown as the hint of its fields. */
  resourcesExample: string;
};

export type RepoSectionProps = { repos: RepoSummary[]; defaults: RepoDefaults };

// A refused action (4xx, or 503 when git cannot be reached) shows its message in #repo-error; JSX cannot spell
// an attribute name part that starts with a digit, hence the spread.
const errorsToBox = { "hx-status:4xx": "target:#repo-error swap:innerHTML", "hx-status:5xx": "target:#repo-error swap:innerHTML" };

/** `<section id="repo-section">`, swapped whole (outerHTML) by Register and Remove; the page embeds it. */
export function RepoSection(props: RepoSectionProps) {
  const d = props.defaults;
  return (
    <section id="repo-section">
      <div id="repo-error"></div>
      {props.repos.length ? (
        <table class="repos">
          <thead>
            <tr>
              <th>repository</th>
              <th>clone URL</th>
              <th>branch</th>
              <th>notebooks</th>
              <th>deploy when</th>
              <th>runner resources (Ray)</th>
              <th>newest pipeline</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {props.repos.map((r) => (
              <RepoRow repo={r} resourcesExample={d.resourcesExample} />
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">No repository yet: register one below, then add the webhook on GitHub.</p>
      )}
      {!d.autoDeploy && <p class="muted">AUTO_DEPLOY_ON_SUCCESS is off: a version that passes is registered, and deployed from its model page.</p>}
      <h3>Register a repository</h3>
      <form class="repo-form" hx-post="/repos" hx-target="#repo-section" hx-swap="outerHTML" {...errorsToBox}>
        <label>
          Full name <input type="text" name="full_name" required placeholder="owner/name" autocomplete="off" />
        </label>
        <label>
          Clone URL <input type="text" name="clone_url" placeholder="https://github.com/owner/name.git" autocomplete="off" />
        </label>
        <label>
          Branch <input type="text" name="branch" placeholder={d.branch} />
        </label>
        <label>
          Notebook glob <input type="text" name="notebook_glob" placeholder={d.notebookGlob} />
        </label>
        <label>
          Deploy metric <input type="text" name="deploy_metric" placeholder={d.deployMetric} />
        </label>
        <label>
          Deploy threshold <input type="number" name="deploy_threshold" min="0" max="1" step="any" placeholder={`server default (${d.threshold})`} />
        </label>
        <label>
          Runner resources (Ray) <textarea name="runner_resources" rows={2} placeholder={d.resourcesExample}></textarea>
        </label>
        <p class="muted">Empty fields take the value shown in grey.</p>
        <button type="submit">Register</button>
      </form>
      <ResourcesHint example={d.resourcesExample} />
    </section>
  );
}

function ResourcesHint(props: { example: string }) {
  return (
    <p class="muted resources-hint">
      Runner resources (Ray): what the repository's notebooks ask of the cluster with RUNNER_BACKEND=ray, a JSON object such as <code>{props.example}</code>,
      every key optional; empty: none. A notebook's metadata <code>mlops.resources</code> wins, key by key.
    </p>
  );
}

function RepoRow(props: { repo: RepoSummary; resourcesExample: string }) {
  const r = props.repo;
  const resources = r.runner_resources ? JSON.stringify(r.runner_resources) : "";
  return (
    <tr data-repo-id={String(r.id)}>
      <td class="repo-name">{r.full_name}</td>
      <td>
        <code>{r.clone_url}</code>
      </td>
      <td>
        <code>{r.branch}</code>
      </td>
      <td>
        <code>{r.notebook_glob}</code>
      </td>
      <td class="policy">
        <code>{r.deploy_metric}</code> ≥ {r.threshold}
        {r.thresholdIsDefault && <span class="muted"> (server default)</span>}
      </td>
      <td class="runner-resources">
        <details>
          <summary>{resources ? <code>{resources}</code> : <span class="muted">none</span>}</summary>
          <form class="resources-form" hx-post={`/repos/${r.id}/resources`} hx-target="#repo-section" hx-swap="outerHTML" {...errorsToBox}>
            <textarea name="runner_resources" rows={3} placeholder={props.resourcesExample} aria-label={`runner resources (Ray) of ${r.full_name}`}>
              {resources}
            </textarea>
            <button type="submit" title="empty: none">
              Save
            </button>
          </form>
        </details>
      </td>
      <td>
        {r.newest ? (
          <>
            <a href={`/pipelines/${r.newest.id}`}>#{r.newest.id}</a> <StatusBadge status={r.newest.status} /> <When iso={r.newest.created_at} />
          </>
        ) : (
          <span class="muted">none yet</span>
        )}
      </td>
      <td class="repo-actions">
        <button
          class="run"
          hx-post={`/repos/${r.id}/run`}
          hx-target="#repo-error"
          hx-swap="innerHTML"
          title={`run the notebooks at the head of ${r.branch} now`}
        >
          Run now
        </button>
        <button
          class="remove danger"
          hx-post={`/repos/${r.id}/delete`}
          hx-target="#repo-section"
          hx-swap="outerHTML"
          hx-confirm={`Remove ${r.full_name}? Its pipelines are kept; pushes to it are ignored from now on.`}
          {...errorsToBox}
        >
          Remove
        </button>
      </td>
    </tr>
  );
}

/** The answer to Run now when nothing was started: no notebook matched, or none had mlops:* cell tags. */
export function NothingToRun(props: { repo: Pick<Repo, "full_name" | "branch" | "notebook_glob">; untagged: number }) {
  const r = props.repo;
  return (
    <p class="notice" role="status">
      No pipeline started for {r.full_name}: {props.untagged ? `${props.untagged} notebook(s) on ${r.branch} match ` : `no notebook on ${r.branch} matches `}
      <code>{r.notebook_glob}</code>
      {props.untagged ? " but have no mlops:* cell tags." : "."}
    </p>
  );
}
