// Validation of a results file read back (by `tvr`, the webview restoring its state,
// or any tool): every field the schema requires, with its type, so a reader can trust
// what it gets. Pure, with no Node imports. Errors name the JSON path at fault.
import { RESULTS_SCHEMA_VERSION } from './schema.ts';
import type { RunResults } from './schema.ts';

export class ResultsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResultsFormatError';
  }
}

type Json = unknown;

function fail(path: string, expected: string, value: Json): never {
  const shown = JSON.stringify(value);
  throw new ResultsFormatError(`${path}: expected ${expected}, found ${shown === undefined ? 'nothing' : shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}`);
}

function object(value: Json, path: string): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value);
  return value as Record<string, Json>;
}

function array(value: Json, path: string, each: (item: Json, path: string) => void): void {
  if (!Array.isArray(value)) fail(path, 'an array', value);
  value.forEach((item, i) => each(item, `${path}[${i}]`));
}

function string(value: Json, path: string): void {
  if (typeof value !== 'string') fail(path, 'a string', value);
}

function number(value: Json, path: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'a finite number', value);
}

function oneOf(value: Json, path: string, choices: readonly string[]): void {
  if (typeof value !== 'string' || !choices.includes(value)) fail(path, `one of ${choices.join(', ')}`, value);
}

function optional(value: Json, path: string, check: (value: Json, path: string) => void): void {
  if (value !== undefined) check(value, path);
}

function record(value: Json, path: string, each: (item: Json, path: string) => void): void {
  for (const [key, item] of Object.entries(object(value, path))) each(item, `${path}.${key}`);
}

function metrics(value: Json, path: string): void {
  const m = object(value, path);
  for (const name of ['accuracy', 'loss', 'perplexity']) optional(m[name], `${path}.${name}`, number);
  number(m.examples, `${path}.examples`);
  number(m.seconds, `${path}.seconds`);
  optional(m.cached, `${path}.cached`, (v, p) => { if (typeof v !== 'boolean') fail(p, 'a boolean', v); });
}

function point(value: Json, path: string): void {
  record(value, path, number);
}

function evaluation(value: Json, path: string): void {
  const e = object(value, path);
  number(e.id, `${path}.id`);
  optional(e.line, `${path}.line`, number);
  array(e.models, `${path}.models`, string);
  optional(e.base, `${path}.base`, string);
  oneOf(e.objective, `${path}.objective`, ['forget', 'add', 'max']);
  string(e.objectiveDescription, `${path}.objectiveDescription`);
  array(e.tasks, `${path}.tasks`, (t, p) => {
    const task = object(t, p);
    string(task.name, `${p}.name`);
    oneOf(task.role, `${p}.role`, ['target', 'control']);
    oneOf(task.metric, `${p}.metric`, ['accuracy', 'loss', 'perplexity']);
    if (typeof task.higherIsBetter !== 'boolean') fail(`${p}.higherIsBetter`, 'a boolean', task.higherIsBetter);
    string(task.data, `${p}.data`);
    oneOf(task.evaluator, `${p}.evaluator`, ['builtin', 'external']);
  });
  array(e.references, `${path}.references`, (r, p) => {
    const ref = object(r, p);
    oneOf(ref.kind, `${p}.kind`, ['base', 'finetuned']);
    string(ref.model, `${p}.model`);
    string(ref.task, `${p}.task`);
    metrics(ref.validation, `${p}.validation`);
    metrics(ref.test, `${p}.test`);
  });
  array(e.points, `${path}.points`, (r, p) => {
    const pt = object(r, p);
    string(pt.model, `${p}.model`);
    point(pt.point, `${p}.point`);
    oneOf(pt.split, `${p}.split`, ['validation']);
    record(pt.metrics, `${p}.metrics`, metrics);
    record(pt.normalized, `${p}.normalized`, number);
    number(pt.score, `${p}.score`);
    if (typeof pt.admissible !== 'boolean') fail(`${p}.admissible`, 'a boolean', pt.admissible);
  });
  array(e.chosen, `${path}.chosen`, (r, p) => {
    const c = object(r, p);
    string(c.model, `${p}.model`);
    point(c.point, `${p}.point`);
    string(c.reason, `${p}.reason`);
    record(c.test, `${p}.test`, metrics);
    record(c.normalized, `${p}.normalized`, number);
    record(c.deltaVsBase, `${p}.deltaVsBase`, number);
  });
}

/** Checks a parsed results file against the schema; returns it typed, or throws ResultsFormatError. */
export function validateResults(value: Json): RunResults {
  const r = object(value, '$');
  if (r.schemaVersion !== RESULTS_SCHEMA_VERSION) {
    if (typeof r.schemaVersion === 'number') {
      throw new ResultsFormatError(`results schema version ${r.schemaVersion} is not one this tvr reads (version ${RESULTS_SCHEMA_VERSION}); run the recipe again or update tvr`);
    }
    fail('$.schemaVersion', `the number ${RESULTS_SCHEMA_VERSION}`, r.schemaVersion);
  }
  string(r.tvrVersion, '$.tvrVersion');
  const recipe = object(r.recipe, '$.recipe');
  string(recipe.path, '$.recipe.path');
  string(recipe.sha256, '$.recipe.sha256');
  string(r.startedAt, '$.startedAt');
  optional(r.finishedAt, '$.finishedAt', string);
  oneOf(r.status, '$.status', ['running', 'done', 'failed', 'cancelled']);
  optional(r.error, '$.error', string);
  for (const key of ['backend', 'evaluationBackend'] as const) {
    optional(r[key], `$.${key}`, (v, p) => {
      const b = object(v, p);
      string(b.name, `${p}.name`);
      string(b.reason, `${p}.reason`);
      optional(b.adapter, `${p}.adapter`, (a, ap) => {
        const adapter = object(a, ap);
        for (const field of ['vendor', 'architecture', 'description']) string(adapter[field], `${ap}.${field}`);
      });
    });
  }
  if (r.backend === undefined) fail('$.backend', 'an object', undefined);
  optional(r.counts, '$.counts', (v, p) => {
    const c = object(v, p);
    number(c.evaluated, `${p}.evaluated`);
    number(c.cached, `${p}.cached`);
  });
  array(r.sweeps, '$.sweeps', (s, p) => {
    const sweep = object(s, p);
    string(sweep.name, `${p}.name`);
    array(sweep.values, `${p}.values`, number);
  });
  array(r.evaluations, '$.evaluations', evaluation);
  optional(r.similarity, '$.similarity', (v, p) => {
    const s = object(v, p);
    array(s.vectors, `${p}.vectors`, string);
    const n = (s.vectors as Json[]).length;
    array(s.norms, `${p}.norms`, number);
    array(s.cosine, `${p}.cosine`, (row, rp) => array(row, rp, number));
    if ((s.norms as Json[]).length !== n || (s.cosine as Json[][]).length !== n || (s.cosine as Json[][]).some((row) => row.length !== n)) {
      throw new ResultsFormatError(`${p}: norms and cosine must be sized by the ${n} vectors`);
    }
  });
  optional(r.posteriors, '$.posteriors', (v, p) => array(v, p, (e, ep) => {
    const posterior = object(e, ep);
    string(posterior.name, `${ep}.name`);
    string(posterior.task, `${ep}.task`);
    array(posterior.models, `${ep}.models`, string);
    array(posterior.weights, `${ep}.weights`, number);
    number(posterior.documents, `${ep}.documents`);
    number(posterior.documentsUsed, `${ep}.documentsUsed`);
    optional(posterior.topk, `${ep}.topk`, number);
    if ((posterior.weights as Json[]).length !== (posterior.models as Json[]).length) throw new ResultsFormatError(`${ep}: one weight per model`);
  }));
  array(r.outputs, '$.outputs', (o, p) => {
    const out = object(o, p);
    string(out.path, `${p}.path`);
    string(out.format, `${p}.format`);
    number(out.tensors, `${p}.tensors`);
    number(out.bytes, `${p}.bytes`);
    point(out.point, `${p}.point`);
  });
  array(r.notes, '$.notes', string);
  return value as RunResults;
}

/** Parses and validates results JSON text. */
export function parseResults(text: string): RunResults {
  let value: Json;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ResultsFormatError(`not JSON: ${(error as Error).message}`);
  }
  return validateResults(value);
}
