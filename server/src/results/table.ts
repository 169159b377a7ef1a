// The results as text for a terminal: per evaluation, a table of tasks x models with
// test metrics at the chosen point (absolute, normalized, change against the base),
// targets and controls marked, the chosen sweep values and why, and a sparkline of
// each task's validation metric along a one-dimensional sweep. Then the similarity
// of the task vectors, the posteriors estimated, the outputs written, and the notes. Strings from the results (names,
// paths, notes) have their control characters escaped: the table draws only what tvr writes.
import { withVisibleControls } from '../display-text.ts';
import { pointText } from './csv.ts';
import type { EvaluationResult, Metrics, MetricName, RunResults, SweepPointResult, TaskInfo } from './schema.ts';

export interface TableOptions {
  /** Wraps text in a style (e.g. node:util styleText); identity by default. */
  readonly style?: (format: 'bold' | 'dim' | 'red' | 'green' | 'yellow', text: string) => string;
}

const SPARKS = '▁▂▃▄▅▆▇█';

export function renderResults(fromFile: RunResults, options: TableOptions = {}): string {
  const results = withVisibleControls(fromFile);
  const style = options.style ?? ((_: string, text: string) => text);
  const out: string[] = [];
  for (const evaluation of results.evaluations) out.push(...renderEvaluation(evaluation, style), '');
  if (results.similarity && results.similarity.vectors.length > 0) {
    const s = results.similarity;
    out.push(style('bold', 'Task vector similarity (cosine)'));
    out.push(...alignRows([
      ['', ...s.vectors, 'norm'],
      ...s.vectors.map((name, i) => [name, ...s.cosine[i]!.map((c) => c.toFixed(2)), formatNumber(s.norms[i]!)]),
    ], ['left', ...s.vectors.map(() => 'right' as const), 'right']).map((l) => `  ${l}`), '');
  }
  for (const p of results.posteriors ?? []) {
    out.push(style('bold', `Posterior ${p.name} on ${p.task} (${p.documentsUsed} validation document${p.documentsUsed === 1 ? '' : 's'}${p.topk !== undefined ? `, top ${p.topk}` : ''})`));
    out.push(...alignRows(p.models.map((model, i) => [model, p.weights[i]!.toFixed(4)]), ['left', 'right']).map((l) => `  ${l}`), '');
  }
  for (const o of results.outputs) {
    const at = pointText(o.point);
    out.push(`wrote ${o.path} (${FORMAT_WORDS[o.format] ?? o.format}, ${o.tensors} tensors, ${formatBytes(o.bytes)})${at ? ` at ${at}` : ''}`);
  }
  for (const note of results.notes) out.push(style('dim', `note: ${note}`));
  const counts = results.counts ? `; ${results.counts.evaluated} evaluations run, ${results.counts.cached} from the cache` : '';
  const status = results.status === 'done' ? style('green', 'done') : results.status === 'running' ? style('yellow', 'running') : style('red', results.status);
  out.push(`${status}${results.error ? `: ${results.error}` : ''}${counts}`);
  return out.join('\n') + '\n';
}

type Style = NonNullable<TableOptions['style']>;

/**
 * Tasks x models at the chosen points, on the test split: a header row, then one row per
 * task (base, fine-tuned, and per edited model the metric, normalized and change vs base).
 */
export function evaluationTable(e: EvaluationResult): string[][] {
  const base = new Map(e.references.filter((r) => r.kind === 'base').map((r) => [r.task, r.test]));
  const finetuned = new Map(e.references.filter((r) => r.kind === 'finetuned').map((r) => [r.task, r]));
  const header = ['task', 'role', 'metric', `base${e.base ? ` (${e.base})` : ''}`, 'fine-tuned'];
  for (const c of e.chosen) header.push(c.model, 'norm.', 'vs base');
  const rows: string[][] = [header];
  for (const t of e.tasks) {
    const row = [t.name, t.role, t.metric, show(base.get(t.name), t.metric), show(finetuned.get(t.name)?.test, t.metric)];
    for (const c of e.chosen) {
      row.push(show(c.test[t.name], t.metric), c.normalized[t.name] === undefined ? '-' : `${(c.normalized[t.name]! * 100).toFixed(1)}%`, delta(c.deltaVsBase[t.name], t.metric));
    }
    rows.push(row);
  }
  return rows;
}

function renderEvaluation(e: EvaluationResult, style: Style): string[] {
  const out: string[] = [];
  out.push(style('bold', `Evaluation ${e.id}${e.line ? ` (line ${e.line})` : ''}: ${e.objective}`) + ` - ${e.objectiveDescription}`);
  for (const c of e.chosen) {
    const at = pointText(c.point);
    out.push(`  ${c.model}${at ? ` at ${at}` : ''}: ${c.reason}`);
  }
  const rows = evaluationTable(e);
  const align = rows[0]!.map((_, i) => (i < 3 ? 'left' as const : 'right' as const));
  const lines = alignRows(rows, align);
  out.push(`  ${style('dim', 'test split; sweep values chosen on the validation split')}`);
  out.push(`  ${style('bold', lines[0]!)}`, ...lines.slice(1).map((l, i) => `  ${e.tasks[i]!.role === 'target' ? l : style('dim', l)}`));
  out.push(...sweepSummary(e));
  return out;
}

/** Per edited model: the points evaluated, the chosen one, and a sparkline of each task along a one-dimensional sweep. */
export function sweepSummary(e: EvaluationResult): string[] {
  const out: string[] = [];
  for (const c of e.chosen) {
    const points = e.points.filter((p) => p.model === c.model);
    const axes = Object.keys(c.point);
    if (axes.length === 0) continue;
    const admissible = points.filter((p) => p.admissible).length;
    const constraint = e.objective === 'forget' ? `, ${admissible} admissible` : '';
    out.push(`  sweep of ${c.model}: ${points.length} points on validation${constraint}; chosen ${pointText(c.point)}`);
    if (axes.length !== 1) continue;
    const axis = axes[0]!;
    const ordered = [...points].sort((a, b) => a.point[axis]! - b.point[axis]!);
    const first = ordered[0]?.point[axis];
    const last = ordered[ordered.length - 1]?.point[axis];
    for (const t of e.tasks) out.push(`    ${t.name.padEnd(Math.max(...e.tasks.map((x) => x.name.length)))} ${sparkline(ordered, t, c.point[axis]!, axis)}  (${axis} ${first}..${last})`);
  }
  return out;
}

/** One character per point from low to high metric, the chosen point in brackets. */
function sparkline(points: readonly SweepPointResult[], task: TaskInfo, chosen: number, axis: string): string {
  const values = points.map((p) => p.metrics[task.name]?.[task.metric]);
  const known = values.filter((v): v is number => v !== undefined);
  if (known.length === 0) return '';
  const lo = Math.min(...known);
  const hi = Math.max(...known);
  return points.map((p, i) => {
    const v = values[i];
    const c = v === undefined ? ' ' : SPARKS[hi === lo ? 3 : Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1))]!;
    return p.point[axis] === chosen ? `[${c}]` : c;
  }).join('') + ` ${task.metric} ${formatMetric(lo, task.metric)}..${formatMetric(hi, task.metric)}`;
}

function show(m: Metrics | undefined, metric: MetricName): string {
  const v = m?.[metric];
  return v === undefined ? '-' : formatMetric(v, metric);
}

function formatMetric(v: number, metric: MetricName): string {
  return metric === 'accuracy' ? `${(v * 100).toFixed(2)}%` : formatNumber(v);
}

function delta(d: number | undefined, metric: MetricName): string {
  if (d === undefined) return '-';
  const sign = d > 0 ? '+' : d < 0 ? '-' : '';
  return metric === 'accuracy' ? `${sign}${Math.abs(d * 100).toFixed(2)}pp` : `${sign}${formatNumber(Math.abs(d))}`;
}

/** How output formats read in the table (results files keep the short names). */
const FORMAT_WORDS: Readonly<Record<string, string>> = {
  'hf-model-folder': 'Hugging Face model folder: config, tokenizer, card, safetensors',
  'safetensors-sharded': 'sharded safetensors',
  'tfjs-layers': 'TensorFlow.js LayersModel',
};

function formatNumber(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function alignRows(rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)));
  return rows.map((r) => r.map((cell, i) => {
    const pad = ' '.repeat(widths[i]! - [...cell].length);
    return (align[i] ?? 'left') === 'left' ? cell + pad : pad + cell;
  }).join('  ').trimEnd());
}
