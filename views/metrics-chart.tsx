// Metrics over versions as inline SVG: one line per metric, a point per version with a tooltip, axes and a legend.
import { formatMetric } from "./format.ts";

export type ChartVersion = { version: number; metrics: Record<string, number> };

const WIDTH = 640;
const PLOT = { left: 56, right: 16, top: 12, height: 200 };
const AXIS_BOTTOM = PLOT.top + PLOT.height;
const LEGEND_TOP = AXIS_BOTTOM + 48;
const LEGEND_LINE = 18;
const COLORS = ["#0969da", "#1a7f37", "#cf222e", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#57606a"];

/** The chart for these versions (any order); a sentence instead when no version reported a metric. */
export function MetricsChart(props: { versions: ChartVersion[] }) {
  const versions = [...props.versions].sort((a, b) => a.version - b.version);
  const names = [...new Set(versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  const values = versions.flatMap((v) => Object.values(v.metrics));
  if (!names.length || !versions.length) return <p class="muted">No metrics reported yet.</p>;

  const x = linear(versions[0]!.version, versions.at(-1)!.version, PLOT.left, WIDTH - PLOT.right);
  const yTicks = valueTicks(Math.min(...values), Math.max(...values));
  const y = linear(yTicks[0]!, yTicks.at(-1)!, AXIS_BOTTOM, PLOT.top);
  const xTicks = versionTicks(versions[0]!.version, versions.at(-1)!.version);
  const height = LEGEND_TOP + names.length * LEGEND_LINE;

  return (
    <svg id="metrics-chart" class="chart" viewBox={`0 0 ${WIDTH} ${height}`} width={WIDTH} height={height} role="img" aria-label="metrics over versions">
      <g class="axes">
        <line x1={PLOT.left} y1={AXIS_BOTTOM} x2={WIDTH - PLOT.right} y2={AXIS_BOTTOM} />
        <line x1={PLOT.left} y1={PLOT.top} x2={PLOT.left} y2={AXIS_BOTTOM} />
        {yTicks.map((t) => (
          <text x={PLOT.left - 6} y={round(y(t)) + 4} text-anchor="end">
            {formatMetric(t)}
          </text>
        ))}
        {xTicks.map((v) => (
          <text x={round(x(v))} y={AXIS_BOTTOM + 16} text-anchor="middle">
            v{v}
          </text>
        ))}
        <text x={(PLOT.left + WIDTH - PLOT.right) / 2} y={AXIS_BOTTOM + 34} text-anchor="middle" class="axis-label">
          version
        </text>
        <text x={14} y={PLOT.top + PLOT.height / 2} text-anchor="middle" class="axis-label" transform={`rotate(-90 14 ${PLOT.top + PLOT.height / 2})`}>
          value
        </text>
      </g>
      {names.map((name, i) => {
        const color = COLORS[i % COLORS.length]!;
        const points = versions.flatMap((v) => (name in v.metrics ? [{ version: v.version, value: v.metrics[name]! }] : []));
        return (
          <g class="series" data-metric={name}>
            <polyline points={points.map((p) => `${round(x(p.version))},${round(y(p.value))}`).join(" ")} fill="none" stroke={color} stroke-width="2" />
            {points.map((p) => (
              <circle cx={round(x(p.version))} cy={round(y(p.value))} r="4" fill={color} data-version={p.version} data-metric={name} data-value={p.value}>
                <title>{`v${p.version} ${name} ${formatMetric(p.value)}`}</title>
              </circle>
            ))}
            <g class="legend">
              <rect x={PLOT.left} y={LEGEND_TOP + i * LEGEND_LINE - 10} width="12" height="12" fill={color} />
              <text x={PLOT.left + 18} y={LEGEND_TOP + i * LEGEND_LINE}>
                {name}
              </text>
            </g>
          </g>
        );
      })}
    </svg>
  );
}

// Maps [d0, d1] onto [r0, r1]; a single-point domain lands in the middle.
function linear(d0: number, d1: number, r0: number, r1: number) {
  return (v: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0));
}

// Round-numbered ticks (steps of 1, 2 or 5 × 10^n) that enclose [min, max]; a flat series gets a band around it.
function valueTicks(min: number, max: number): number[] {
  if (min === max) [min, max] = [min - (Math.abs(min) * 0.1 || 1), max + (Math.abs(max) * 0.1 || 1)];
  const rough = (max - min) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= rough) ?? 10) * magnitude;
  const first = Math.floor(min / step) * step;
  const count = Math.ceil((max - first) / step - 1e-9); // the epsilon keeps float error from adding a tick past max
  return Array.from({ length: count + 1 }, (_, i) => Number((first + i * step).toPrecision(12)));
}

// At most about ten labelled versions, whatever the count.
function versionTicks(first: number, last: number): number[] {
  const step = Math.max(1, Math.ceil((last - first) / 10));
  const ticks: number[] = [];
  for (let v = first; v <= last; v += step) ticks.push(v);
  return ticks;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
