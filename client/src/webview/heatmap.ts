// Cosine similarities between the recipe's task vectors as a heatmap with the values
// written in the cells. Task vectors are usually close to orthogonal, so the colour scale
// spans the largest off-diagonal magnitude (the diagonal, always 1, is clamped) rather
// than -1..1, which would paint every cell the same.
import * as Plot from '@observablehq/plot';
import type { SimilarityMatrix } from '../../../server/src/results/schema.ts';
import { h } from './dom.ts';
import { fixed, formatCosine, missing } from './format.ts';
import { withNonce } from './plot-figure.ts';
import type { ChartContext } from './sweep-chart.ts';

interface Cell {
  readonly row: string;
  readonly column: string;
  readonly cosine: number;
}

/** The colour scale's half-width: the largest |cosine| off the diagonal, at least 0.05. */
function colourSpan(matrix: SimilarityMatrix): number {
  let span = 0.05;
  matrix.cosine.forEach((row, i) => row.forEach((value, j) => {
    if (i !== j && Number.isFinite(value)) span = Math.max(span, Math.abs(value));
  }));
  return Math.min(1, span);
}

/** Rough label width in pixels at the chart's font size: enough to size margins. */
function labelWidth(names: readonly string[]): number {
  return 12 + Math.max(0, ...names.map((name) => name.length)) * 6.5;
}

function formatNorm(norm: number | undefined): string {
  return norm !== undefined && Number.isFinite(norm) ? fixed(norm, 2) : missing;
}

export function renderHeatmap(matrix: SimilarityMatrix, context: ChartContext): HTMLElement {
  const names = matrix.vectors;
  const cells: Cell[] = names.flatMap((row, i) => names.map((column, j) => ({ row, column, cosine: matrix.cosine[i]?.[j] ?? Number.NaN })));
  const span = colourSpan(matrix);
  const margin = Math.min(220, labelWidth(names));
  const size = Math.min(context.width - margin, Math.max(160, names.length * 64));
  // Column labels wider than their cells are turned so they do not run into each other.
  const rotate = labelWidth(names) > size / Math.max(1, names.length);
  const marginTop = rotate ? Math.min(160, 20 + labelWidth(names) * 0.6) : 30;
  // A turned label runs up and to the right of its column.
  const marginRight = rotate ? Math.min(200, labelWidth(names) * 0.8) : 10;
  const describe = (cell: Cell): string => `cos(${cell.row}, ${cell.column}) = ${formatCosine(cell.cosine)}`;
  const figure = Plot.plot({
    width: size + margin + marginRight,
    height: size + marginTop + 10,
    marginLeft: margin,
    marginTop,
    marginRight,
    marginBottom: 10,
    x: { domain: names, label: null, axis: 'top', tickRotate: rotate ? -35 : 0 },
    y: { domain: names, label: null },
    color: {
      type: 'linear', domain: [-span, 0, span], range: [context.theme.negative, context.theme.background, context.theme.positive],
      clamp: true, legend: true, label: 'cosine similarity', tickFormat: formatCosine,
    },
    marks: [
      Plot.cell(cells, { x: 'column', y: 'row', fill: 'cosine', inset: 0.5, ariaLabel: describe, title: describe, ariaDescription: 'similarity cells' }),
      Plot.text(cells, { x: 'column', y: 'row', text: (cell: Cell) => formatCosine(cell.cosine), fill: 'currentColor', ariaDescription: 'similarity values' }),
    ],
  });
  const norms = h('p', { class: 'norms muted' },
    ...names.flatMap((name, i) => [i > 0 ? ' \u00b7 ' : '', h('span', { class: 'norm', attrs: { 'data-vector': name } }, `\u2016${name}\u2016 = ${formatNorm(matrix.norms[i])}`)]));
  return h('figure', { class: 'heatmap' }, withNonce(figure, context.nonce), norms);
}
