// One model's page: its name, the Try it form, and the section its actions refresh.
import { Layout } from "./layout.tsx";
import type { ChartGate } from "./metrics-chart.tsx";
import { ModelSection, type ModelDetail } from "./model-section.tsx";
import { TryIt, type TryItProps, TryItScripts } from "./try-it.tsx";

/** The page of one model. */
export function ModelPage(props: { version: string; model: ModelDetail; gate: ChartGate | null; tryIt: TryItProps }) {
  return (
    <Layout title={props.model.name} version={props.version} head={props.tryIt.form && props.tryIt.version !== null ? <TryItScripts /> : undefined}>
      <p>
        <a href="/models">Models</a> /
      </p>
      <h2>{props.model.name}</h2>
      <TryIt {...props.tryIt} />
      <ModelSection model={props.model} gate={props.gate} />
    </Layout>
  );
}
