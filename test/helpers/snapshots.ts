// Expected text kept in files beside the tests (`__snapshots__/<name>.md`), for outputs too
// long to write inline, such as hovers. A mismatch fails with a diff; running the tests with
// UPDATE_SNAPSHOTS=1 rewrites the files instead, to be reviewed in the commit's diff.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const updating = process.env.UPDATE_SNAPSHOTS === '1';

/**
 * Asserts that `actual` is the text of `<folder>/<name>.md`, or (when updating) writes it
 * there. The name is a file name of lowercase words and hyphens, so snapshots cannot collide
 * or leave the folder.
 */
export function assertSnapshot(folder: string, name: string, actual: string, update = updating): void {
  if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name)) throw new Error(`snapshot name ${JSON.stringify(name)}: lowercase words and hyphens only`);
  const file = join(folder, `${name}.md`);
  if (update) {
    mkdirSync(folder, { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `no snapshot ${file}: run the tests with UPDATE_SNAPSHOTS=1 to write it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `snapshot ${file} differs (UPDATE_SNAPSHOTS=1 rewrites it)`);
}
