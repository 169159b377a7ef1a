// One line chart per edited model (and per metric, when tasks use different ones): each
// task's validation metric against the sweep coefficient, the base's level as a faint rule,
// and the chosen point marked; better is drawn higher, so loss and perplexity axes run down. Targets are solid lines, controls dashed, as in the legend.
import * as Plot from '@observablehq/plot';
import type { ChosenResult, EvaluationResult, MetricName, PointValues, SweepInfo, TaskInfo } from '../../../server/src/results/schema.ts';
import { h } from './dom.ts';
import { formatCoefficient, formatMetric, formatPoint } from './format.ts';
import { withNonce } from './plot-figure.ts';
import type { Theme } from './theme.ts';

export interface ChartContext {
  readonly theme: Theme;
  readonly nonce: string;
  readonly width: number;
}

interface SweepRow {
  readonly task: string;
  /** The line this value belongs to: the task, plus the other sweep variables' values. */
  readonly series: string;
  readonly role: TaskInfo['role'];
  readonly x: number;
  readonly y: number;
  readonly admissible: boolean;
  readonly point: PointValues;
}

/** The sweep variable on the x axis: the first of the run's sweeps that the points vary. */
function sweepAxis(evaluation: EvaluationResult, sweeps: readonly SweepInfo[]): SweepInfo | undefined {
  return sweeps.find((sweep) => evaluation.points.some((p) => sweep.name in p.point));
}

function samePoint(a: PointValues, b: PointValues): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}

function seriesName(task: string, point: PointValues, axis: string): string {
  const others = Object.fromEntries(Object.entries(point).filter(([name]) => name !== axis));
  return Object.keys(others).length === 0 ? task : `${task} (${formatPoint(others)})`;
}

function sweepRows(evaluation: EvaluationResult, model: string, tasks: readonly TaskInfo[], axis: string): SweepRow[] {
  const rows: SweepRow[] = [];
  for (const result of evaluation.points) {
    const x = result.point[axis];
    if (result.model !== model || x === undefined) continue;
    for (const task of tasks) {
      const y = result.metrics[task.name]?.[task.metric];
      if (y === undefined || !Number.isFinite(y)) continue;
      rows.push({ task: task.name, series: seriesName(task.name, result.point, axis), role: task.role, x, y, admissible: result.admissible, point: result.point });
    }
  }
  // Points arrive in order of usefulness, lines need them in order of the coefficient.
  return rows.sort((a, b) => a.x - b.x);
}

function tickFormat(metric: MetricName): ((value: number) => string) | undefined {
  return metric === 'accuracy' ? (value) => `${Math.round(value * 100)}%` : undefined;
}

function legend(tasks: readonly TaskInfo[], colourOf: (task: string) => string): HTMLElement {
  return h('div', { class: 'legend' }, ...tasks.map((task) => {
    const swatch = h('span', { class: `swatch ${task.role}` });
    swatch.style.borderTopColor = colourOf(task.name);
    return h('span', { class: 'legend-item', attrs: { 'data-task': task.name } }, swatch, `${task.name} (${task.role})`);
  }));
}

function chart(evaluation: EvaluationResult, model: string, metric: MetricName, axis: SweepInfo, context: ChartContext): HTMLElement {
  const tasks = evaluation.tasks.filter((task) => task.metric === metric);
  const lowerIsBetter = tasks.every((task) => !task.higherIsBetter);
  const rows = sweepRows(evaluation, model, tasks, axis.name);
  const chosen: ChosenResult | undefined = evaluation.chosen.find((c) => c.model === model);
  const chosenX = chosen?.point[axis.name];
  const chosenRows = chosen ? rows.filter((row) => samePoint(row.point, chosen.point)) : [];
  const baseRows = tasks.flatMap((task) => {
    const base = evaluation.references.find((r) => r.kind === 'base' && r.task === task.name)?.validation[metric];
    return base === undefined ? [] : [{ task: task.name, y: base }];
  });
  const taskNames = tasks.map((task) => task.name);
  const colours = taskNames.map((_, i) => context.theme.series[i % context.theme.series.length] ?? context.theme.foreground);
  const colourOf = (task: string): string => colours[taskNames.indexOf(task)] ?? context.theme.foreground;
  const pointTitle = (row: SweepRow): string =>
    `${row.series} at ${axis.name} = ${formatCoefficient(row.x)}: ${formatMetric(row.y, metric)}${row.admissible ? '' : ' (not admissible)'}`;
  const line = (role: TaskInfo['role'], dash: string | undefined): Plot.Markish =>
    Plot.line(rows.filter((row) => row.role === role), {
      x: 'x', y: 'y', z: 'series', stroke: 'task', strokeWidth: 2, strokeDasharray: dash,
      ariaLabel: 'series', ariaDescription: 'sweep lines',
    });
  const values = axis.values.length > 0 ? axis.values : rows.map((row) => row.x);
  const figure = Plot.plot({
    width: context.width,
    height: 280,
    marginLeft: 52,
    marginRight: 20,
    marginTop: 24,
    x: { label: axis.name, domain: [Math.min(...values), Math.max(...values)], grid: true },
    // Better is up for every metric: loss and perplexity run downwards (Plot's arrow points to larger values).
    y: { label: `validation ${metric}${lowerIsBetter ? ' (lower is better)' : ''}`, reverse: lowerIsBetter, tickFormat: tickFormat(metric), grid: true, nice: true },
    color: { type: 'ordinal', domain: taskNames, range: colours },
    marks: [
      Plot.ruleY(baseRows, { y: 'y', stroke: 'task', strokeOpacity: 0.6, strokeDasharray: '1,3', ariaDescription: 'base level' }),
      line('target', undefined),
      line('control', '6,4'),
      Plot.dot(rows.filter((row) => row.admissible), { x: 'x', y: 'y', fill: 'task', r: 2.5, title: pointTitle, ariaDescription: 'sweep points' }),
      Plot.dot(rows.filter((row) => !row.admissible), {
        x: 'x', y: 'y', stroke: 'task', fill: context.theme.background, r: 2.5, title: pointTitle, ariaDescription: 'points that break a constraint',
      }),
      chosenX === undefined || !chosen ? null : [
        Plot.ruleX([chosenX], { x: (value: number) => value, stroke: context.theme.foreground, strokeOpacity: 0.5, ariaDescription: 'chosen coefficient' }),
        Plot.dot(chosenRows, {
          x: 'x', y: 'y', r: 6, stroke: 'task', strokeWidth: 2, fill: 'none',
          ariaLabel: (row: SweepRow) => `${row.series}: ${formatMetric(row.y, metric)} at the chosen ${formatPoint(chosen.point)}`,
          ariaDescription: 'chosen point',
        }),
        Plot.text([chosenX], {
          x: (value: number) => value, frameAnchor: 'top', textAnchor: 'start', dx: 4, dy: -14,
          text: () => `chosen ${formatPoint(chosen.point)}`, ariaDescription: 'chosen label',
        }),
      ],
    ],
  });
  const title = `${model}: validation ${metric} against ${axis.name}`;
  return h('figure', { class: 'chart', attrs: { 'data-model': model, 'data-metric': metric } },
    h('h3', {}, title),
    legend(tasks, colourOf),
    withNonce(figure, context.nonce));
}

export function renderSweepCharts(evaluation: EvaluationResult, sweeps: readonly SweepInfo[], context: ChartContext): HTMLElement {
  const axis = sweepAxis(evaluation, sweeps);
  if (!axis) {
    const message = evaluation.points.length === 0 ? 'No sweep points yet.' : 'This evaluation has no sweep: one point per model.';
    return h('p', { class: 'empty charts-empty' }, message);
  }
  const metrics = [...new Set(evaluation.tasks.map((task) => task.metric))];
  return h('div', { class: 'charts' },
    ...evaluation.models.flatMap((model) => metrics.map((metric) => chart(evaluation, model, metric, axis, context))));
}
