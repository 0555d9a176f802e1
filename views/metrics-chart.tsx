// Metrics over versions as inline SVG, one small chart per metric (so a loss of 200 and an accuracy of 0.9 are each
// legible): round ticks, the deploy gate's threshold on its metric's chart, the serving version marked, rejected
// versions drawn as crosses, and per point a tooltip with the exact value, commit and pipeline (a link to it).
import { niceTicks } from "./chart-ticks.ts";

export type ChartVersion = {
  version: number;
  metrics: Record<string, number>;
  /** "serving", "rejected", "registered", ... as the versions table shows it. */
  status: string;
  commit: string | null;
  pipelineId: number | null;
};
/** The deploy gate: a version deploys when `metric` ≥ `threshold`. */
export type ChartGate = { metric: string; threshold: number };

const WIDTH = 320;
const PLOT = { left: 58, right: 14, top: 30, height: 110 };
const AXIS_BOTTOM = PLOT.top + PLOT.height;
const HEIGHT = AXIS_BOTTOM + 22;
const RIGHT = WIDTH - PLOT.right;

type Point = { v: ChartVersion; value: number; x: number; y: number };

/** One chart per metric any version reported (sorted by name); a sentence instead when none did. */
export function MetricsCharts(props: { versions: ChartVersion[]; serving: number | null; gate: ChartGate | null }) {
  const versions = [...props.versions].sort((a, b) => a.version - b.version);
  const names = [...new Set(versions.flatMap((v) => Object.keys(v.metrics).filter((k) => Number.isFinite(v.metrics[k]))))].sort();
  if (!names.length) return <p class="muted">No metrics reported yet.</p>;
  const x = linear(versions[0]!.version, versions.at(-1)!.version, PLOT.left + 8, RIGHT - 8);
  return (
    <div id="metrics-charts">
      <ChartLegend gate={props.gate} />
      <div class="charts">
        {names.map((name) => (
          <MetricChart name={name} versions={versions} x={x} serving={props.serving} threshold={props.gate?.metric === name ? props.gate.threshold : null} />
        ))}
      </div>
    </div>
  );
}

/** The chart of one metric; `x` places a version (shared by every chart so they line up). */
export function MetricChart(props: {
  name: string;
  versions: ChartVersion[];
  x: (version: number) => number;
  serving: number | null;
  threshold: number | null;
}) {
  const { name, x, threshold } = props;
  const measured = props.versions.flatMap((v) => (Number.isFinite(v.metrics[name]) ? [{ v, value: v.metrics[name]! }] : []));
  const bounds = measured.map((p) => p.value).concat(threshold === null ? [] : [threshold]);
  const ticks = niceTicks(Math.min(...bounds), Math.max(...bounds), 3);
  const y = linear(ticks.values[0]!, ticks.values.at(-1)!, AXIS_BOTTOM, PLOT.top);
  const points: Point[] = measured.map((p) => ({ ...p, x: round(x(p.v.version)), y: round(y(p.value)) }));
  const servingX = props.serving !== null && props.versions.some((v) => v.version === props.serving) ? round(x(props.serving)) : null;
  return (
    <svg
      class="chart metric-chart"
      data-metric={name}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      width={WIDTH}
      height={HEIGHT}
      role="img"
      aria-label={`${name} over versions`}
    >
      <text x={PLOT.left} y={13} class="chart-title">
        {name}
      </text>
      <g class="axes">
        <line x1={PLOT.left} y1={AXIS_BOTTOM} x2={RIGHT} y2={AXIS_BOTTOM} />
        <line x1={PLOT.left} y1={PLOT.top} x2={PLOT.left} y2={AXIS_BOTTOM} />
        {ticks.values.map((t, i) => (
          <g class="y-tick">
            <line x1={PLOT.left} y1={round(y(t))} x2={RIGHT} y2={round(y(t))} class="grid" />
            <text x={PLOT.left - 6} y={round(y(t)) + 4} text-anchor="end">
              {ticks.labels[i]}
            </text>
          </g>
        ))}
        {versionTicks(props.versions.map((v) => v.version)).map((v) => (
          <text x={round(x(v))} y={AXIS_BOTTOM + 15} text-anchor="middle" class="x-tick">
            v{v}
          </text>
        ))}
      </g>
      {servingX !== null && (
        <g class="serving-marker">
          <line x1={servingX} y1={PLOT.top} x2={servingX} y2={AXIS_BOTTOM} />
          <text x={servingX} y={PLOT.top - 3} text-anchor="middle">
            serving
          </text>
        </g>
      )}
      {threshold !== null && (
        <g class="threshold" data-threshold={threshold}>
          <line x1={PLOT.left} y1={round(y(threshold))} x2={RIGHT} y2={round(y(threshold))} />
          <text x={RIGHT} y={round(y(threshold)) - 4} text-anchor="end">
            {`deploy gate ≥ ${threshold}`}
          </text>
          <title>{`versions deploy when ${name} ≥ ${threshold}`}</title>
        </g>
      )}
      <polyline class="series" points={points.map((p) => `${p.x},${p.y}`).join(" ")} />
      {points.map((p) => (
        <ChartPoint point={p} name={name} serving={p.v.version === props.serving} />
      ))}
    </svg>
  );
}

/** A point with its tooltip; linked to the pipeline that made it when there is one. */
function ChartPoint(props: { point: Point; name: string; serving: boolean }) {
  const { v, value, x, y } = props.point;
  const rejected = v.status === "rejected";
  const cls = `point${rejected ? " rejected" : ""}${props.serving ? " serving" : ""}`;
  const title = [
    `v${v.version}`,
    `${props.name} = ${value}`,
    v.commit ? `commit ${v.commit.slice(0, 7)}` : null,
    v.pipelineId !== null ? `pipeline #${v.pipelineId}` : null,
    rejected ? "rejected" : props.serving ? "serving" : null,
  ]
    .filter(Boolean)
    .join(" · ");
  const shape = rejected ? (
    <path d={`M${x - 4},${y - 4}L${x + 4},${y + 4}M${x - 4},${y + 4}L${x + 4},${y - 4}`} class="mark" />
  ) : (
    <circle cx={x} cy={y} r={props.serving ? 5.5 : 3.5} class="mark" />
  );
  const attrs = { class: cls, "data-version": v.version, "data-value": value };
  if (v.pipelineId === null)
    return (
      <g {...attrs}>
        <title>{title}</title>
        {shape}
      </g>
    );
  return (
    <a href={`/pipelines/${v.pipelineId}`} {...attrs}>
      <title>{title}</title>
      {shape}
    </a>
  );
}

/** What the marks mean, once above the charts. */
function ChartLegend(props: { gate: ChartGate | null }) {
  return (
    <svg class="chart-legend" viewBox="0 0 440 20" width="440" height="20" role="img" aria-label="legend">
      <circle cx="8" cy="10" r="3.5" class="legend-point" />
      <text x="16" y="14">
        version
      </text>
      <circle cx="80" cy="10" r="5.5" class="legend-serving" />
      <text x="90" y="14">
        serving
      </text>
      <path d="M156,6L164,14M156,14L164,6" class="legend-rejected" />
      <text x="170" y="14">
        rejected
      </text>
      {props.gate && (
        <>
          <line x1="240" y1="10" x2="262" y2="10" class="legend-threshold" />
          <text x="268" y="14">{`deploy gate: ${props.gate.metric} ≥ ${props.gate.threshold}`}</text>
        </>
      )}
    </svg>
  );
}

// Maps [d0, d1] onto [r0, r1]; a single-point domain lands in the middle.
function linear(d0: number, d1: number, r0: number, r1: number) {
  return (v: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0));
}

// At most about six labelled versions, whatever the count, always the first and the last.
function versionTicks(versions: number[]): number[] {
  if (!versions.length) return [];
  const first = versions[0]!;
  const last = versions.at(-1)!;
  const step = Math.max(1, Math.ceil((last - first) / 5));
  const ticks: number[] = [];
  for (let v = first; v < last; v += step) ticks.push(v);
  if (last - (ticks.at(-1) ?? -Infinity) < step / 2 && ticks.length) ticks.pop();
  ticks.push(last);
  return ticks;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
