// /repos: the registered repositories with their actions, the form to register one, and how to set up GitHub's webhook.
import { Layout } from "./layout.tsx";
import { RepoSection, type RepoSectionProps } from "./repo-section.tsx";

/** What GitHub's "Add webhook" form needs. `fromRequest`: no PUBLIC_URL, so the URL is this page's origin. */
export type WebhookSetupData = { url: string; secret: string; fromRequest: boolean };

/** The Repositories page. */
export function ReposPage(props: RepoSectionProps & { version: string; webhook: WebhookSetupData }) {
  return (
    <Layout title="Repositories" version={props.version}>
      <h2>Repositories</h2>
      <RepoSection repos={props.repos} defaults={props.defaults} />
      <WebhookSetup {...props.webhook} />
    </Layout>
  );
}

function WebhookSetup(props: WebhookSetupData) {
  return (
    <section id="webhook-setup" class="webhook-setup">
      <h3>GitHub webhook setup</h3>
      <p>
        On GitHub, in each registered repository: <em>Settings → Webhooks → Add webhook</em>, with
      </p>
      <dl class="facts">
        <dt>Payload URL</dt>
        <dd>
          <code id="webhook-url">{props.url}</code>
        </dd>
        <dt>Content type</dt>
        <dd>
          <code>application/json</code>
        </dd>
        <dt>Secret</dt>
        <dd>
          <details>
            <summary>show the secret</summary>
            <code id="webhook-secret">{props.secret}</code>
          </details>
        </dd>
        <dt>Events</dt>
        <dd>Just the push event.</dd>
      </dl>
      {props.fromRequest && <p class="muted">This URL is the address this page was opened at: set PUBLIC_URL when GitHub reaches the server at another one.</p>}
    </section>
  );
}
