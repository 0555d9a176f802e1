// One model's page: its name and the section its actions refresh (Try it included).
import { Layout } from "./layout.tsx";
import type { ChartGate } from "./metrics-chart.tsx";
import { ModelSection, type ModelDetail } from "./model-section.tsx";
import { type TryItProps, TryItScripts } from "./try-it.tsx";

/** The page of one model. */
export function ModelPage(props: { version: string; model: ModelDetail; gate: ChartGate | null; tryIt: TryItProps }) {
  return (
    // Alpine loads on every model page: an action may swap in a Try it form the page did not have.
    <Layout title={props.model.name} version={props.version} head={<TryItScripts />}>
      <p>
        <a href="/models">Models</a> /
      </p>
      <h2>{props.model.name}</h2>
      <ModelSection model={props.model} gate={props.gate} tryIt={props.tryIt} />
    </Layout>
  );
}
