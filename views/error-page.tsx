// What a page request that failed shows: the status and the message a user can act on.
import { Layout } from "./layout.tsx";

export function ErrorPage(props: { version: string; status: number; message: string }) {
  return (
    <Layout title={`Error ${props.status}`} version={props.version}>
      <h2>Error {props.status}</h2>
      <p class="error" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/">Back to the home page</a>
      </p>
    </Layout>
  );
}
