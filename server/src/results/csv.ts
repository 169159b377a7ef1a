// Results as CSV (RFC 4180: comma-separated, CRLF line ends, fields quoted when they
// hold a comma, quote or line break). Pure, with no Node imports, so the webview's
// export uses the same function as anything else. Text from the recipe (model and task
// names) that a spreadsheet would run as a formula (= + - @ at the start) gets a
// leading apostrophe.
import type { Metrics, PointValues, RunResults, SimilarityMatrix } from './schema.ts';

export const CSV_COLUMNS = [
  'evaluation', 'kind', 'model', 'point', 'split', 'task', 'role', 'metric', 'value', 'normalized', 'delta_vs_base', 'accuracy', 'loss', 'perplexity', 'examples', 'cached',
] as const;

type Row = Readonly<Partial<Record<(typeof CSV_COLUMNS)[number], string | number | boolean | undefined>>>;

/** One row per (model, split, task): references, every sweep point (validation) and the chosen points (test). */
export function resultsToCsv(results: RunResults): string {
  const rows: Row[] = [];
  for (const evaluation of results.evaluations) {
    const role = new Map(evaluation.tasks.map((t) => [t.name, t]));
    const metricOf = (task: string): Row => {
      const info = role.get(task);
      return { task, role: info?.role, metric: info?.metric };
    };
    const measured = (task: string, m: Metrics): Row => {
      const info = role.get(task);
      return { value: info ? m[info.metric] : undefined, accuracy: m.accuracy, loss: m.loss, perplexity: m.perplexity, examples: m.examples, cached: m.cached ?? false };
    };
    for (const r of evaluation.references) {
      for (const [split, m] of [['validation', r.validation], ['test', r.test]] as const) {
        rows.push({ evaluation: evaluation.id, kind: r.kind, model: r.model, point: '', split, ...metricOf(r.task), ...measured(r.task, m) });
      }
    }
    for (const p of evaluation.points) {
      for (const [task, m] of Object.entries(p.metrics)) {
        rows.push({ evaluation: evaluation.id, kind: 'sweep', model: p.model, point: pointText(p.point), split: 'validation', ...metricOf(task), ...measured(task, m), normalized: p.normalized[task] });
      }
    }
    for (const c of evaluation.chosen) {
      for (const [task, m] of Object.entries(c.test)) {
        rows.push({ evaluation: evaluation.id, kind: 'chosen', model: c.model, point: pointText(c.point), split: 'test', ...metricOf(task), ...measured(task, m), normalized: c.normalized[task], delta_vs_base: c.deltaVsBase[task] });
      }
    }
  }
  return toCsv(CSV_COLUMNS, rows.map((row) => CSV_COLUMNS.map((c) => row[c])));
}

/** The similarity matrix as CSV: a header of vector names, then one row per vector (name, norm, cosines). */
export function similarityToCsv(similarity: SimilarityMatrix): string {
  return toCsv(['vector', 'norm', ...similarity.vectors], similarity.vectors.map((name, i) => [name, similarity.norms[i], ...similarity.cosine[i]!]));
}

/** `lam=0.35; mu=1` (empty for a model without sweeps). */
export function pointText(point: PointValues): string {
  return Object.entries(point).map(([name, value]) => `${name}=${value}`).join('; ');
}

function toCsv(header: readonly string[], rows: readonly (readonly (string | number | boolean | undefined)[])[]): string {
  return [header.map(field), ...rows.map((r) => r.map(field))].map((r) => r.join(',')).join('\r\n') + '\r\n';
}

function field(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
