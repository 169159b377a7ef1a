// Results as CSV in long form (one row per evaluation, model, task, split and sweep
// point; one column per sweep variable), which spreadsheets and data frames read
// directly. RFC 4180: comma-separated, CRLF line ends, fields quoted when they hold a
// comma, quote or line break. Pure, with no Node imports, so the webview's export uses
// it too. Text that a spreadsheet would run as a formula (`looksLikeFormula`) gets a
// leading apostrophe: names stay data.
import { looksLikeFormula } from '../display-text.ts';
import type { Metrics, PointValues, RunResults, SimilarityMatrix, TaskInfo } from './schema.ts';

type Cell = string | number | boolean | undefined;

export const CSV_FIXED_COLUMNS = ['evaluation', 'objective', 'kind', 'model', 'task', 'role', 'metric', 'split'] as const;
export const CSV_VALUE_COLUMNS = ['value', 'accuracy', 'loss', 'perplexity', 'normalized', 'delta_vs_base', 'admissible', 'examples', 'seconds', 'cached'] as const;

interface CsvRow {
  readonly fixed: readonly Cell[];
  readonly point: PointValues;
  readonly metrics: Metrics | undefined;
  readonly task: TaskInfo;
  readonly normalized?: number | undefined;
  readonly delta?: number | undefined;
  readonly admissible?: boolean;
}

/** One CSV field (RFC 4180), formula-safe. */
export function csvField(value: Cell): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = looksLikeFormula(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Sweep variables in the order the recipe declares them, then any others the points name. */
function sweepColumns(results: RunResults): string[] {
  const names = results.sweeps.map((sweep) => sweep.name);
  for (const evaluation of results.evaluations) {
    for (const point of [...evaluation.points.map((p) => p.point), ...evaluation.chosen.map((c) => c.point)]) {
      for (const name of Object.keys(point)) if (!names.includes(name)) names.push(name);
    }
  }
  return names;
}

function csvRows(results: RunResults): CsvRow[] {
  const rows: CsvRow[] = [];
  for (const evaluation of results.evaluations) {
    const lead = (kind: string, model: string, task: TaskInfo, split: string): Cell[] =>
      [evaluation.id, evaluation.objective, kind, model, task.name, task.role, task.metric, split];
    for (const task of evaluation.tasks) {
      for (const reference of evaluation.references.filter((r) => r.task === task.name)) {
        rows.push({ fixed: lead(reference.kind, reference.model, task, 'validation'), point: {}, metrics: reference.validation, task });
        rows.push({ fixed: lead(reference.kind, reference.model, task, 'test'), point: {}, metrics: reference.test, task });
      }
    }
    for (const point of evaluation.points) {
      for (const task of evaluation.tasks) {
        rows.push({
          fixed: lead('point', point.model, task, point.split), point: point.point, metrics: point.metrics[task.name], task,
          normalized: point.normalized[task.name], admissible: point.admissible,
        });
      }
    }
    for (const chosen of evaluation.chosen) {
      for (const task of evaluation.tasks) {
        rows.push({
          fixed: lead('chosen', chosen.model, task, 'test'), point: chosen.point, metrics: chosen.test[task.name], task,
          normalized: chosen.normalized[task.name], delta: chosen.deltaVsBase[task.name],
        });
      }
    }
  }
  return rows;
}

/** References (both splits), every sweep point (validation) and the chosen points (test). */
export function resultsToCsv(results: RunResults): string {
  const sweeps = sweepColumns(results);
  const header = [...CSV_FIXED_COLUMNS, ...sweeps, ...CSV_VALUE_COLUMNS];
  const lines = [header.map(csvField).join(',')];
  for (const row of csvRows(results)) {
    const m = row.metrics;
    const cells: Cell[] = [
      ...row.fixed,
      ...sweeps.map((name) => row.point[name]),
      m?.[row.task.metric], m?.accuracy, m?.loss, m?.perplexity, row.normalized, row.delta, row.admissible, m?.examples, m?.seconds, m?.cached,
    ];
    lines.push(cells.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The similarity matrix as CSV: a header of vector names, then one row per vector (name, norm, cosines). */
export function similarityToCsv(similarity: SimilarityMatrix): string {
  const rows: Cell[][] = [['vector', 'norm', ...similarity.vectors], ...similarity.vectors.map((name, i) => [name, similarity.norms[i], ...similarity.cosine[i]!])];
  return `${rows.map((r) => r.map(csvField).join(',')).join('\r\n')}\r\n`;
}

/** `lam=0.35; mu=1` (empty for a model without sweeps). */
export function pointText(point: PointValues): string {
  return Object.entries(point).map(([name, value]) => `${name}=${value}`).join('; ');
}
