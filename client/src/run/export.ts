// Export of run results: JSON as the results file has it, and CSV in long form (one row per
// model, task, split and sweep point), which spreadsheets and data frames read directly.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Metrics, PointValues, RunResults, TaskInfo } from '../../../server/src/results/schema.ts';
import type { ExportFormat } from './panel-messages.ts';

type Cell = string | number | boolean | undefined;

const fixedColumns = ['evaluation', 'objective', 'kind', 'model', 'task', 'role', 'metric', 'split'] as const;
const valueColumns = ['value', 'accuracy', 'loss', 'perplexity', 'normalized', 'delta_vs_base', 'admissible', 'examples', 'seconds', 'cached'] as const;

interface CsvRow {
  readonly fixed: readonly Cell[];
  readonly point: PointValues;
  readonly metrics: Metrics | undefined;
  readonly task: TaskInfo;
  readonly normalized?: number | undefined;
  readonly delta?: number | undefined;
  readonly admissible?: boolean;
}

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would read as a formula (a leading
 * = + - @ tab or CR) gets a leading apostrophe: names come from files and must stay data.
 */
export function csvField(value: Cell): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

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

export function resultsToCsv(results: RunResults): string {
  const sweeps = sweepColumns(results);
  const header = [...fixedColumns, ...sweeps, ...valueColumns];
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

export function resultsToJson(results: RunResults): string {
  return `${JSON.stringify(results, null, 2)}\n`;
}

export function exportText(results: RunResults, format: ExportFormat): string {
  return format === 'csv' ? resultsToCsv(results) : resultsToJson(results);
}

/** Writes beside the target under a temporary name, then renames: a reader never sees half a file. */
export function writeFileAtomic(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
