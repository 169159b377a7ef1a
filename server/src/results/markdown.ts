// Results as Markdown (for the README's example tables): per evaluation, the chosen
// sweep values, then the same tasks x models table as the terminal shows. Every name and
// value from the results file is escaped (`display-text.ts`): a file cannot add markup.
import { markdownCode, markdownFence, markdownText } from '../display-text.ts';
import { pointText } from './csv.ts';
import type { EvaluationResult, RunResults } from './schema.ts';
import { evaluationTable, sweepSummary } from './table.ts';

export function evaluationMarkdown(e: EvaluationResult): string {
  const chosen = e.chosen.map((c) => `${markdownCode(c.model)}${pointText(c.point) ? ` at ${markdownText(pointText(c.point).replaceAll('; ', ', '))}` : ''}`).join('; ');
  const [header, ...rows] = evaluationTable(e);
  const align = header!.map((_, i) => (i < 3 ? '---' : '---:'));
  const sweeps = sweepSummary(e);
  return [
    `Objective ${markdownCode(e.objective)}: ${markdownText(e.objectiveDescription)}. Chosen on the validation split: ${chosen}. Test split:`,
    '',
    `| ${header!.map(markdownText).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(markdownText).join(' | ')} |`),
    ...(sweeps.length > 0 ? ['', 'Validation metric along each sweep (the chosen point in brackets):', '', markdownFence(sweeps.map((l) => l.trimStart()).join('\n'), 'text')] : []),
  ].join('\n');
}

export function resultsMarkdown(results: RunResults): string {
  const parts = results.evaluations.map(evaluationMarkdown);
  const s = results.similarity;
  if (s && s.vectors.length > 1) {
    parts.push([
      'Cosine similarity of the task vectors (norms in the last column):',
      '',
      `| | ${s.vectors.map(markdownText).join(' | ')} | norm |`,
      `|---|${s.vectors.map(() => '---:').join('|')}|---:|`,
      ...s.vectors.map((v, i) => `| ${markdownText(v)} | ${s.cosine[i]!.map((c) => c.toFixed(2)).join(' | ')} | ${s.norms[i]!.toFixed(2)} |`),
    ].join('\n'));
  }
  for (const p of results.posteriors ?? []) {
    parts.push([
      `Posterior ${markdownCode(p.name)} estimated on ${p.documentsUsed} validation documents of ${markdownCode(p.task)}${p.topk !== undefined ? ` (top ${p.topk} kept)` : ''}:`,
      '',
      '| model | weight |',
      '|---|---:|',
      ...p.models.map((model, i) => `| ${markdownText(model)} | ${p.weights[i]!.toFixed(4)} |`),
    ].join('\n'));
  }
  return parts.join('\n\n');
}
