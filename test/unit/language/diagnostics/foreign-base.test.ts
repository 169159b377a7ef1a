// The message of foreign-base, from the models the checker finds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foreignBaseMessage } from '../../../../server/src/language/diagnostics/foreign-base.ts';

test('the message names the models the vectors come from and the models they are applied to', () => {
  assert.equal(foreignBaseMessage({ bases: ["'a'"], origins: ["'c'", "'d'"] }),
    "a task vector computed from 'a' is applied to 'c', 'd': task vectors are meant for the model they were computed from (add them all to the same base, e.g. base + (a - base) + (b - base))");
});
