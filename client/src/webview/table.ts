// The tasks x models table of one evaluation, on the test split: the base, the fine-tuned
// reference on each task, and each edited model at its chosen point (absolute metric,
// normalized accuracy, change against the base). Targets and controls are marked by a
// badge and a border, so the distinction survives without colour.
import type { ChosenResult, EvaluationResult, Metrics, Objective, ReferenceResult, TaskInfo } from '../../../server/src/results/schema.ts';
import { h } from './dom.ts';
import { formatDelta, formatMetric, formatNormalized, formatPoint, missing } from './format.ts';

function metricOf(metrics: Metrics | undefined, task: TaskInfo): number | undefined {
  return metrics?.[task.metric];
}

/**
 * Whether a change is the one the objective asks for: forgetting wants the target's metric
 * to get worse, everything else wants it better. `undefined` for no change.
 */
function deltaIsWanted(delta: number, task: TaskInfo, objective: Objective): boolean | undefined {
  if (delta === 0) return undefined;
  const improved = task.higherIsBetter ? delta > 0 : delta < 0;
  return objective === 'forget' && task.role === 'target' ? !improved : improved;
}

function taskHeader(task: TaskInfo): HTMLTableCellElement {
  return h('th', { attrs: { scope: 'row' } },
    h('span', { class: 'task-name' }, task.name),
    h('span', { class: `role-badge ${task.role}` }, task.role),
    h('span', { class: 'metric-name' }, task.metric));
}

function referenceCell(reference: ReferenceResult | undefined, task: TaskInfo, column: 'base' | 'finetuned'): HTMLTableCellElement {
  return h('td', { class: 'value', attrs: { 'data-column': column, ...(reference && { 'data-model': reference.model }) } },
    h('span', { class: 'abs' }, formatMetric(metricOf(reference?.test, task), task.metric)),
    reference && column === 'finetuned' && h('span', { class: 'reference-model' }, reference.model));
}

function editedCell(model: string, chosen: ChosenResult | undefined, task: TaskInfo, objective: Objective): HTMLTableCellElement {
  const cell = h('td', { class: 'value', attrs: { 'data-column': 'edited', 'data-model': model } });
  if (!chosen) {
    cell.append(h('span', { class: 'abs pending', attrs: { title: 'no point chosen yet' } }, missing));
    return cell;
  }
  const delta = chosen.deltaVsBase[task.name];
  const wanted = delta === undefined ? undefined : deltaIsWanted(delta, task, objective);
  const deltaClass = wanted === undefined ? 'delta' : `delta ${wanted ? 'good' : 'bad'}`;
  cell.append(
    h('span', { class: 'abs' }, formatMetric(metricOf(chosen.test[task.name], task), task.metric)),
    h('span', { class: 'norm', attrs: { title: 'normalized: edited / fine-tuned on this task' } }, `norm ${formatNormalized(chosen.normalized[task.name])}`),
    h('span', { class: deltaClass, attrs: { title: 'change against the base' } }, formatDelta(delta, task.metric)),
  );
  return cell;
}

export function renderResultsTable(evaluation: EvaluationResult): HTMLTableElement {
  const chosenBy = new Map(evaluation.chosen.map((chosen) => [chosen.model, chosen]));
  const reference = (kind: ReferenceResult['kind'], task: string): ReferenceResult | undefined =>
    evaluation.references.find((r) => r.kind === kind && r.task === task);
  const modelHeaders = evaluation.models.map((model) => {
    const chosen = chosenBy.get(model);
    return h('th', { attrs: { scope: 'col', 'data-model': model } },
      h('span', { class: 'model-name' }, model),
      h('span', { class: 'point' }, chosen ? formatPoint(chosen.point) : 'not chosen yet'));
  });
  const rows = evaluation.tasks.map((task) =>
    h('tr', { class: `task-row role-${task.role}`, attrs: { 'data-task': task.name, 'data-role': task.role } },
      taskHeader(task),
      referenceCell(reference('base', task.name), task, 'base'),
      referenceCell(reference('finetuned', task.name), task, 'finetuned'),
      ...evaluation.models.map((model) => editedCell(model, chosenBy.get(model), task, evaluation.objective))));
  return h('table', { class: 'results' },
    h('thead', {}, h('tr', {},
      h('th', { attrs: { scope: 'col' } }, 'task'),
      h('th', { attrs: { scope: 'col' } }, 'base'),
      h('th', { attrs: { scope: 'col' } }, 'fine-tuned'),
      ...modelHeaders)),
    h('tbody', {}, ...rows));
}
