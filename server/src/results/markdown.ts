// Results as Markdown (for the README's example tables): per evaluation, the chosen
// sweep values, then the same tasks x models table as the terminal shows.
import { pointText } from './csv.ts';
import type { EvaluationResult, RunResults } from './schema.ts';
import { evaluationTable, sweepSummary } from './table.ts';

export function evaluationMarkdown(e: EvaluationResult): string {
  const chosen = e.chosen.map((c) => `\`${c.model}\`${pointText(c.point) ? ` at ${pointText(c.point).replaceAll('; ', ', ')}` : ''}`).join('; ');
  const [header, ...rows] = evaluationTable(e);
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const align = header!.map((_, i) => (i < 3 ? '---' : '---:'));
  const sweeps = sweepSummary(e);
  return [
    `Objective \`${e.objective}\`: ${e.objectiveDescription}. Chosen on the validation split: ${chosen}. Test split:`,
    '',
    `| ${header!.map(escape).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`),
    ...(sweeps.length > 0 ? ['', 'Validation metric along each sweep (the chosen point in brackets):', '', '```text', ...sweeps.map((l) => l.trimStart()), '```'] : []),
  ].join('\n');
}

export function resultsMarkdown(results: RunResults): string {
  const parts = results.evaluations.map(evaluationMarkdown);
  const s = results.similarity;
  if (s && s.vectors.length > 1) {
    parts.push([
      'Cosine similarity of the task vectors (norms in the last column):',
      '',
      `| | ${s.vectors.join(' | ')} | norm |`,
      `|---|${s.vectors.map(() => '---:').join('|')}|---:|`,
      ...s.vectors.map((v, i) => `| ${v} | ${s.cosine[i]!.map((c) => c.toFixed(2)).join(' | ')} | ${s.norms[i]!.toFixed(2)} |`),
    ].join('\n'));
  }
  return parts.join('\n\n');
}
