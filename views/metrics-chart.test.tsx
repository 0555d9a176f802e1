import { describe, expect, test } from "bun:test";
import { MetricsChart, type ChartVersion } from "./metrics-chart.tsx";

const render = (versions: ChartVersion[]) => String(<MetricsChart versions={versions} />);
const points = (svg: string) => [...svg.matchAll(/<circle cx="([^"]+)" cy="([^"]+)"/g)].map((m) => [Number(m[1]), Number(m[2])] as const);
const yLabels = (svg: string) => [...svg.matchAll(/<text x="50" y="[^"]+" text-anchor="end">([^<]+)<\/text>/g)].map((m) => Number(m[1]));

describe("MetricsChart", () => {
  test("round-numbered value ticks enclose every point", () => {
    const svg = render([
      { version: 1, metrics: { accuracy: 0.913, loss: 0.31 } },
      { version: 2, metrics: { accuracy: 0.957, loss: 0.22 } },
    ]);
    expect(yLabels(svg)).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
    for (const [, cy] of points(svg)) {
      expect(cy).toBeGreaterThanOrEqual(12); // the plot's top
      expect(cy).toBeLessThanOrEqual(212); // its x axis
    }
  });

  test("one version with one value sits in the middle of a band around it", () => {
    const svg = render([{ version: 4, metrics: { r2: 0.5 } }]);
    expect(points(svg)).toEqual([[(56 + 624) / 2, 112]]);
    expect(yLabels(svg)).toEqual([0.45, 0.5, 0.55]);
  });

  test("many versions get about ten version labels; no metrics at all is a sentence, not an empty chart", () => {
    const svg = render(Array.from({ length: 40 }, (_, i) => ({ version: i + 1, metrics: { a: i } })));
    expect(svg.match(/text-anchor="middle">v\d+<\/text>/g)!.length).toBeLessThanOrEqual(11);
    expect(render([{ version: 1, metrics: {} }])).toBe('<p class="muted">No metrics reported yet.</p>');
  });
});
