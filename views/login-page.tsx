// /login: the admin token, once per browser.
import { Layout } from "./layout.tsx";

/** The sign-in form; `error` is shown above it after a wrong token. */
export function LoginPage(props: { version: string; next: string; error?: string }) {
  return (
    <Layout title="Sign in" version={props.version} signedIn={false}>
      <h2>Sign in</h2>
      {props.error && (
        <p class="error" role="alert">
          {props.error}
        </p>
      )}
      <form method="post" action="/login" class="login">
        <input type="hidden" name="next" value={props.next} />
        <label>
          Admin token <input type="password" name="token" autocomplete="current-password" required autofocus />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        The admin token was printed when the server first started (or set with <code>ADMIN_TOKEN</code>); <code>mlops reset-admin-token</code> makes a new one.
      </p>
    </Layout>
  );
}
