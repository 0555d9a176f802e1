import { describe, expect, test } from "bun:test";
import { type ChartGate, type ChartVersion, MetricsCharts } from "./metrics-chart.tsx";

const v = (version: number, metrics: Record<string, number>, extra: Partial<ChartVersion> = {}): ChartVersion => ({
  version,
  metrics,
  status: "registered",
  commit: `${version}`.repeat(40).slice(0, 40),
  pipelineId: version + 100,
  ...extra,
});
const render = (versions: ChartVersion[], serving: number | null = null, gate: ChartGate | null = null) =>
  String(<MetricsCharts versions={versions} serving={serving} gate={gate} />);

/** Each chart's metric and SVG. */
const charts = (html: string) =>
  [...html.matchAll(/<svg class="chart metric-chart" data-metric="([^"]+)"[\s\S]*?<\/svg>/g)].map((m) => ({ metric: m[1]!, svg: m[0] }));
const yLabels = (svg: string) => [...svg.matchAll(/<text x="52" y="[^"]+" text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]!);
const tickY = (svg: string) => [...svg.matchAll(/<g class="y-tick"><line x1="58" y1="([^"]+)"/g)].map((m) => Number(m[1]));
/** Points: version, value, class, y, tooltip and link. */
const points = (svg: string) =>
  [
    ...svg.matchAll(
      /<(a|g) (?:href="([^"]*)" )?class="(point[^"]*)" data-version="(\d+)" data-value="([^"]+)"><title>([^<]*)<\/title>(<circle [^>]*cy="([^"]+)"|<path d="M[^,]+,([^L]+)L)/g,
    ),
  ].map((m) => ({ href: m[2] ?? null, cls: m[3]!, version: Number(m[4]), value: Number(m[5]), title: m[6]!, y: Number(m[8] ?? Number(m[9]) + 4) }));

describe("MetricsCharts", () => {
  test("one chart per metric, each on its own scale: a loss of 200 and an accuracy of 0.9 are both legible", () => {
    const html = render([v(1, { accuracy: 0.91, loss: 210 }), v(2, { accuracy: 0.95, loss: 180 })]);
    expect(charts(html).map((c) => c.metric)).toEqual(["accuracy", "loss"]);
    const [acc, loss] = charts(html);
    expect(yLabels(acc!.svg)).toEqual(["0.90", "0.92", "0.94", "0.96"]);
    expect(yLabels(loss!.svg)).toEqual(["180", "190", "200", "210"]);
    // The two accuracy points are far apart on their chart (not squashed into one pixel by the loss's scale).
    const [a1, a2] = points(acc!.svg);
    expect(a1!.y - a2!.y).toBeGreaterThan(50);
  });

  test("each point's tooltip has the exact value, version, short commit and pipeline, and links to the pipeline", () => {
    const [chart] = charts(render([v(3, { accuracy: 0.9333333333 }, { commit: "abcdef0123456789abcdef0123456789abcdef01", pipelineId: 42 })]));
    expect(points(chart!.svg)).toEqual([
      {
        href: "/pipelines/42",
        cls: "point",
        version: 3,
        value: 0.9333333333,
        title: "v3 · accuracy = 0.9333333333 · commit abcdef0 · pipeline #42",
        y: expect.any(Number),
      },
    ]);
  });

  test("one version: the point sits between distinct ticks, not on four ticks all labelled 0.9333", () => {
    const [chart] = charts(render([v(1, { accuracy: 0.9333 })]));
    const labels = yLabels(chart!.svg);
    expect(labels).toEqual(["0.85", "0.90", "0.95", "1.00"]);
    const [p] = points(chart!.svg);
    const ys = tickY(chart!.svg);
    expect(p!.y).toBeLessThan(ys[1]!); // above 0.90
    expect(p!.y).toBeGreaterThan(ys[2]!); // below 0.95
  });

  test("equal values over versions, and negative values, get round distinct ticks enclosing them", () => {
    const [flat, neg] = charts(render([v(1, { a: 5, b: -3.2 }), v(2, { a: 5, b: -0.4 }), v(3, { a: 5, b: -1 })]));
    expect(new Set(yLabels(flat!.svg)).size).toBe(yLabels(flat!.svg).length);
    expect(yLabels(neg!.svg)).toEqual(["-4", "-3", "-2", "-1", "0"]);
  });

  test("huge values are labelled short", () => {
    const [chart] = charts(render([v(1, { rows: 1.2e12 }), v(2, { rows: 4.9e12 })]));
    expect(yLabels(chart!.svg)).toEqual(["0", "2e+12", "4e+12", "6e+12"]);
  });

  test("the deploy gate is a labelled line on its metric's chart only, in range even when every version is far above it", () => {
    const html = render([v(1, { accuracy: 0.97, f1: 0.96 }), v(2, { accuracy: 0.98, f1: 0.97 })], null, { metric: "accuracy", threshold: 0.7 });
    const [acc, f1] = charts(html);
    expect(acc!.svg).toContain('<g class="threshold" data-threshold="0.7">');
    expect(acc!.svg).toContain(">deploy gate ≥ 0.7</text>");
    expect(f1!.svg).not.toContain('class="threshold"');
    const y = Number(acc!.svg.match(/<g class="threshold" data-threshold="0.7"><line x1="58" y1="([^"]+)"/)![1]);
    const ys = tickY(acc!.svg);
    expect(y).toBeLessThanOrEqual(Math.max(...ys));
    expect(y).toBeGreaterThanOrEqual(Math.min(...ys));
    for (const p of points(acc!.svg)) expect(p.y).toBeLessThan(y); // both versions drawn above the gate
    expect(html).toContain("deploy gate: accuracy ≥ 0.7</text>"); // in the legend
  });

  test("the serving version is marked, rejected versions are crosses, and the legend says so", () => {
    const html = render([v(1, { accuracy: 0.9 }), v(2, { accuracy: 0.4 }, { status: "rejected" }), v(3, { accuracy: 0.92 }, { pipelineId: null })], 1);
    const [chart] = charts(html);
    expect(points(chart!.svg).map((p) => [p.version, p.cls, p.href])).toEqual([
      [1, "point serving", "/pipelines/101"],
      [2, "point rejected", "/pipelines/102"],
      [3, "point", null],
    ]);
    expect(points(chart!.svg)[1]!.title).toEndWith("· rejected");
    expect(chart!.svg).toContain('<g class="serving-marker">');
    expect(html).toContain(">serving</text>");
    expect(html).toContain(">rejected</text>");
  });

  test("absent metrics leave a version out of that chart only; NaN is never drawn; no metrics at all is a sentence", () => {
    const html = render([v(1, { accuracy: 0.9 }), v(2, { loss: 1.5 }), v(3, { accuracy: 0.8, loss: Number.NaN })]);
    const [acc, loss] = charts(html);
    expect(points(acc!.svg).map((p) => p.version)).toEqual([1, 3]);
    expect(points(loss!.svg).map((p) => p.version)).toEqual([2]);
    expect(html).not.toContain("NaN");
    expect(render([v(1, {}), v(2, { x: Number.NaN })])).toBe('<p class="muted">No metrics reported yet.</p>');
  });

  test("many versions get at most seven version labels, the first and last among them", () => {
    const [chart] = charts(render(Array.from({ length: 40 }, (_, i) => v(i + 1, { a: i }))));
    const labels = [...chart!.svg.matchAll(/class="x-tick">v(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(labels.length).toBeLessThanOrEqual(7);
    expect(labels[0]).toBe(1);
    expect(labels.at(-1)).toBe(40);
  });
});
