// Export of run results: JSON as the results file has it, and CSV in long form (the one
// CSV writer, shared with the CLI: server/src/results/csv.ts).
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { resultsToCsv } from '../../../server/src/results/csv.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import type { ExportFormat } from './panel-messages.ts';

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
