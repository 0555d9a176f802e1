// What a model takes, read from the stored signature of the version shown: each input with its type and shape, and a
// request body of that shape to start from (records for a model with one input per column, rows otherwise).
import type { versionJson } from "../src/models/model-view.ts";

type Version = ReturnType<typeof versionJson>;
type Input = { name: string; type: string; shape: (number | null)[] };

/** The inputs of the serving version (else the newest); nothing when no version has a stored signature. */
export function ModelInputs(props: { model: string; versions: Version[]; serving: number | null }) {
  const version = props.versions.find((v) => v.version === props.serving) ?? props.versions[0];
  const inputs = version ? inputsOf(version.signature) : null;
  if (!version || !inputs?.length) return null;
  return (
    <div id="model-inputs">
      <h3>Inputs (v{version.version})</h3>
      <table class="inputs">
        <thead>
          <tr>
            <th>name</th>
            <th>type</th>
            <th>shape</th>
          </tr>
        </thead>
        <tbody>
          {inputs.map((i) => (
            <tr>
              <td>
                <code>{i.name}</code>
              </td>
              <td>{i.type}</td>
              <td>[{i.shape.map((d) => d ?? "?").join(", ")}]</td>
            </tr>
          ))}
        </tbody>
      </table>
      <pre>{`POST /models/${props.model}/predict\n${exampleBody(inputs)}`}</pre>
    </div>
  );
}

// The signature column holds what the register phase read from the model; older rows may hold none.
function inputsOf(signature: unknown): Input[] | null {
  const inputs = (signature as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) return null;
  return inputs.filter((i): i is Input => typeof i?.name === "string" && typeof i?.type === "string" && Array.isArray(i?.shape));
}

function exampleBody(inputs: Input[]): string {
  const [only, ...others] = inputs;
  const width = only?.shape[1];
  if (only && !others.length && only.shape.length === 2 && width !== 1) {
    const row = typeof width === "number" ? new Array(width).fill(0).join(", ") : "0, ...";
    return `{"inputs": [[${row}]]}`;
  }
  const record = inputs.map((i) => `${JSON.stringify(i.name)}: ${i.type === "string" ? '""' : i.type === "bool" ? "false" : "0"}`).join(", ");
  return `{"inputs": [{${record}}]}`;
}
