// The snapshot helper: it writes in update mode, passes on the same text, and fails on a
// different or missing snapshot.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assertSnapshot } from '../../helpers/snapshots.ts';

const folder = join(mkdtempSync(join(tmpdir(), 'tvr-snapshots-')), '__snapshots__');
after(() => rmSync(join(folder, '..'), { recursive: true, force: true }));

test('update mode writes the snapshot; the same text then passes and another fails with a diff', () => {
  assertSnapshot(folder, 'a-hover', '**base**: Model\n', true);
  assert.equal(readFileSync(join(folder, 'a-hover.md'), 'utf8'), '**base**: Model\n');
  assertSnapshot(folder, 'a-hover', '**base**: Model\n', false);
  assert.throws(() => assertSnapshot(folder, 'a-hover', '**base**: Vector\n', false), (e: Error) => /differs/.test(e.message) && /Vector/.test(String((e as { actual?: unknown }).actual)));
});

test('a missing snapshot fails and says how to write it; a name that is not a plain file name is refused', () => {
  assert.throws(() => assertSnapshot(folder, 'never-written', 'x', false), /UPDATE_SNAPSHOTS=1/);
  assert.throws(() => assertSnapshot(folder, '../escape', 'x', true), /lowercase words and hyphens/);
});
