// The messages and fixes of type-mismatch, from what a parameter wants and what it was given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argumentTypeMessage, kindFixes, type ArgumentTypeFacts } from '../../../../server/src/language/diagnostics/type-mismatch.ts';

const rows: [Pick<ArgumentTypeFacts, 'wanted' | 'given' | 'givenName' | 'members'>, string][] = [
  [{ wanted: 'model', given: 'vector', givenName: 'Vector' }, "f() expects a Model for 'x', but this is a Vector (a task Vector): add it to a base model, e.g. base + vector"],
  [{ wanted: 'vector', given: 'model', givenName: 'Model' }, "f() expects a task Vector for 'x', but this is a Model (a point, not a direction): subtract the base, e.g. finetuned - base"],
  [{ wanted: 'weights', given: 'ensemble', givenName: 'Ensemble', members: 3 },
    "f() expects a Model or a Vector for 'x', but this is an Ensemble (3 models evaluated together, 3 forward passes per token, with no weights of its own): save or combine its models, or mean(...) of them for one Model"],
  [{ wanted: 'mixture', given: 'string', givenName: 'String' }, "f() expects a list of numbers, e.g. [0.3, 0.7] for 'x', but this is a String"],
  [{ wanted: 'task', given: 'vector', givenName: 'Vector' }, "f() expects a task for 'x', but this is a Vector"],
];

test('the message says what was expected, what was given and, for the common cases, how to get one from the other', () => {
  for (const [facts, message] of rows) assert.equal(argumentTypeMessage({ fn: 'f', param: 'x', ...facts }), message);
});

test('a Model becomes its task vector from the base, a Vector is added to it; no base, no fix', () => {
  const span = { start: 0, end: 5 };
  const fix = (wanted: 'model' | 'vector', given: 'model' | 'vector', base: string | undefined, needsParens = false) =>
    kindFixes({ wanted, given, text: 'a + b', needsParens, base }, span)?.map((f) => [f.title, f.edits[0]!.newText]);
  assert.deepEqual(fix('vector', 'model', 'base', true), [['Use the task vector (a + b) - base', '(a + b) - base']]);
  assert.deepEqual(fix('model', 'vector', 'base'), [['Apply it to the base: base + a + b', 'base + a + b']]);
  assert.equal(fix('model', 'vector', undefined), undefined);
  assert.equal(kindFixes({ wanted: 'vector', given: 'model', text: 'base', needsParens: false, base: 'base' }, span), undefined);
});
