// The whole panel drawn from one state (the latest results and progress line). Redrawing
// everything on each update keeps the page a pure function of the results file.
import { RESULTS_SCHEMA_VERSION, type EvaluationResult, type RunResults } from '../../../server/src/results/schema.ts';
import type { ExportFormat, PanelState } from '../run/panel-messages.ts';
import { h } from './dom.ts';
import { formatBytes, formatDuration, formatPoint } from './format.ts';
import { renderHeatmap } from './heatmap.ts';
import { renderSweepCharts, type ChartContext } from './sweep-chart.ts';
import { renderResultsTable } from './table.ts';

export interface PageContext extends ChartContext {
  readonly onExport: (format: ExportFormat) => void;
}

function statusHeader(results: RunResults): HTMLElement {
  const duration = formatDuration(results.startedAt, results.finishedAt);
  return h('header', { class: `header status-${results.status}` },
    h('h1', {}, 'tvr results'),
    h('span', { class: 'status-badge', attrs: { role: 'status' } }, results.status),
    h('span', { class: 'recipe-path' }, results.recipe.path),
    h('span', { class: 'meta muted' },
      `backend ${results.backend.name} (${results.backend.reason})`,
      duration && ` \u00b7 ${duration}`));
}

function progressLine(state: PanelState): HTMLElement | undefined {
  if (!state.progress) return undefined;
  const bar = h('progress', { attrs: { max: '1' } });
  if (state.progress.fraction !== undefined) bar.value = state.progress.fraction;
  return h('div', { class: 'progress-line' }, bar, h('span', { class: 'progress-message' }, state.progress.message));
}

function exportButtons(onExport: (format: ExportFormat) => void): HTMLElement {
  const button = (format: ExportFormat, label: string): HTMLButtonElement => {
    const element = h('button', { attrs: { type: 'button', 'data-export': format } }, label);
    element.addEventListener('click', () => onExport(format));
    return element;
  };
  return h('div', { class: 'actions' }, button('csv', 'Export CSV'), button('json', 'Export JSON'));
}

function evaluationSection(evaluation: EvaluationResult, results: RunResults, context: PageContext): HTMLElement {
  const title = results.evaluations.length > 1 ? `Evaluation ${evaluation.id + 1}: ${evaluation.objective}` : `Evaluation: ${evaluation.objective}`;
  return h('section', { class: 'evaluation', attrs: { 'data-evaluation': String(evaluation.id) } },
    h('h2', {}, title),
    h('p', { class: 'objective muted' }, evaluation.objectiveDescription),
    renderResultsTable(evaluation),
    h('p', { class: 'table-note muted' }, 'Test split. Edited models at the point chosen on the validation split; norm = edited / fine-tuned on the task; the last line is the change against the base.'),
    evaluation.chosen.length > 0 && h('ul', { class: 'reasons' },
      ...evaluation.chosen.map((chosen) => h('li', { attrs: { 'data-model': chosen.model } },
        h('strong', {}, chosen.model), ` at ${formatPoint(chosen.point)}: ${chosen.reason}`))),
    renderSweepCharts(evaluation, results.sweeps, context));
}

/** The posteriors the run estimated: one row per model, its weight as a number and a bar. */
function posteriorsSection(results: RunResults): HTMLElement | undefined {
  const posteriors = results.posteriors ?? [];
  if (posteriors.length === 0) return undefined;
  return h('section', { class: 'posteriors' },
    h('h2', {}, 'Posteriors'),
    ...posteriors.map((p) => h('table', { class: 'posterior', attrs: { 'data-posterior': p.name } },
      h('caption', {}, `${p.name}: on ${p.documentsUsed} validation document${p.documentsUsed === 1 ? '' : 's'} of ${p.task}${p.topk !== undefined ? `, top ${p.topk} kept` : ''}`),
      h('thead', {}, h('tr', {}, h('th', { attrs: { scope: 'col' } }, 'model'), h('th', { attrs: { scope: 'col' } }, 'weight'))),
      h('tbody', {}, ...p.models.map((model, i) => h('tr', {},
        h('th', { attrs: { scope: 'row' } }, model),
        h('td', { class: 'number' },
          h('meter', { attrs: { min: '0', max: '1', value: String(p.weights[i]), 'aria-label': `${model} weight` } }),
          ` ${p.weights[i]!.toFixed(3)}`)))))));
}

function outputsSection(results: RunResults): HTMLElement | undefined {
  if (results.outputs.length === 0) return undefined;
  return h('section', { class: 'outputs-section' },
    h('h2', {}, 'Outputs'),
    h('ul', { class: 'outputs' }, ...results.outputs.map((output) => h('li', {},
      h('span', { class: 'recipe-path' }, output.path),
      ` \u00b7 ${output.format}, ${output.tensors} tensors, ${formatBytes(output.bytes)} \u00b7 ${formatPoint(output.point)}`))));
}

function resultsBody(results: RunResults, context: PageContext): readonly (HTMLElement | undefined | false)[] {
  return [
    results.error !== undefined && h('div', { class: 'error-box', attrs: { role: 'alert' } }, results.error),
    ...results.evaluations.map((evaluation) => evaluationSection(evaluation, results, context)),
    results.similarity && results.similarity.vectors.length > 0 && h('section', { class: 'similarity' },
      h('h2', {}, 'Cosine similarity between task vectors'),
      renderHeatmap(results.similarity, context)),
    posteriorsSection(results),
    outputsSection(results),
    results.notes.length > 0 && h('section', {},
      h('h2', {}, 'Notes'),
      h('ul', { class: 'notes' }, ...results.notes.map((note) => h('li', {}, note)))),
  ];
}

export function renderPage(state: PanelState, context: PageContext): HTMLElement {
  const results = state.results;
  if (!results) {
    return h('main', {}, h('h1', {}, 'tvr results'), progressLine(state), h('p', { class: 'empty' }, 'Waiting for the first results of the run\u2026'));
  }
  if (results.schemaVersion !== RESULTS_SCHEMA_VERSION) {
    return h('main', {}, h('h1', {}, 'tvr results'),
      h('div', { class: 'error-box', attrs: { role: 'alert' } },
        `These results use schema version ${results.schemaVersion}; this extension reads version ${RESULTS_SCHEMA_VERSION}. Update the extension or rerun the recipe.`));
  }
  return h('main', {},
    statusHeader(results),
    progressLine(state),
    exportButtons(context.onExport),
    ...resultsBody(results, context));
}
