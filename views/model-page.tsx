// One model's page: its name and the section its actions refresh.
import { Layout } from "./layout.tsx";
import type { ChartGate } from "./metrics-chart.tsx";
import { ModelSection, type ModelDetail } from "./model-section.tsx";

/** The page of one model. */
export function ModelPage(props: { version: string; model: ModelDetail; gate: ChartGate | null }) {
  return (
    <Layout title={props.model.name} version={props.version}>
      <p>
        <a href="/models">Models</a> /
      </p>
      <h2>{props.model.name}</h2>
      <ModelSection model={props.model} gate={props.gate} />
    </Layout>
  );
}
