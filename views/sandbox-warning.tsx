// The warning shown on pipeline pages while pushed code does not run in the sandbox.
import type { SandboxStatus } from "../src/sandbox/notebook-sandbox.ts";

/** Nothing when the sandbox is active; else a banner saying notebooks run with the server's rights, and why. */
export function SandboxWarning(props: { sandbox: SandboxStatus }) {
  if (props.sandbox.active) return null;
  return (
    <p class="warning sandbox-warning" role="alert">
      Notebooks are not sandboxed: a pushed notebook runs with this server's rights and can read its secrets and files. {props.sandbox.problem}
    </p>
  );
}
