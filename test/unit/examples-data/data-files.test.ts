// The examples' evaluation files, read back by tvr's own evaluator data loader:
// the documented layout (docs/examples-data.md), exact contents, byte determinism,
// and no rewrite when nothing changed (results caches key on file identity).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { readSplit } from '../../../server/src/engine/evaluation/data.ts';
import { evaluationFileBytes, writeEvaluationFiles, X_SCALE } from '../../../scripts/examples/prepare-data.ts';
import { IMAGE_SIZE } from '../../../scripts/examples/sources.ts';
import { buildTasks, loadSources } from '../../../scripts/examples/tasks.ts';

describe('evaluation files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tasks = buildTasks(loadSources());
  const first = await writeEvaluationFiles(tasks, dir);

  it('writes one file per task, named after it', () => {
    assert.deepEqual(first.map((p) => p.path), tasks.map((t) => join(dir, `${t.name}.safetensors`)));
    assert.ok(first.every((p) => p.written));
  });

  for (const task of tasks) {
    it(`${task.name}: four tensors, U8 images and I32 labels, metadata`, async () => {
      const header = await readCheckpointHeader(join(dir, `${task.name}.safetensors`));
      const shapes = Object.fromEntries([...header.tensors.values()].map((t) => [t.name, `${t.dtype} [${t.shape.join(', ')}]`]));
      assert.deepEqual(shapes, {
        'validation/x': `U8 [${task.validation.count}, ${IMAGE_SIZE}]`,
        'validation/y': `I32 [${task.validation.count}]`,
        'test/x': `U8 [${task.test.count}, ${IMAGE_SIZE}]`,
        'test/y': `I32 [${task.test.count}]`,
      });
      assert.equal(header.metadata.task, task.name);
      assert.deepEqual(JSON.parse(header.metadata.classes!), task.classes);
      assert.equal(header.metadata.x_scale, '0.00392156862745098');
      assert.equal(Number(X_SCALE), 1 / 255);
      assert.match(header.metadata.source!, /\w/);
      assert.match(header.metadata.licence!, /MIT|CC BY/);
    });

    it(`${task.name}: the evaluator reads the exact images (scaled to [0, 1]) and labels`, async () => {
      const header = await readCheckpointHeader(join(dir, `${task.name}.safetensors`));
      for (const split of ['validation', 'test'] as const) {
        const data = await readSplit(header, split);
        const expected = task[split];
        assert.equal(data.rows, expected.count);
        assert.deepEqual(data.y, expected.labels);
        const x = data.x as Float32Array;
        assert.equal(x.length, expected.count * IMAGE_SIZE);
        for (let i = 0; i < x.length; i += 97) assert.equal(x[i], Math.fround(expected.images[i]! * (1 / 255)), `${split} value ${i}`);
        assert.ok(x.every((v) => v >= 0 && v <= 1));
      }
    });
  }

  it('pads the header with spaces to a multiple of 8 bytes', () => {
    const bytes = readFileSync(first[0]!.path);
    const length = Number(bytes.readBigUInt64LE(0));
    assert.equal(length % 8, 0);
    const json = bytes.subarray(8, 8 + length).toString('utf8');
    assert.match(json, /^\{.*\} *$/s);
  });

  it('writes the same bytes from a fresh build of the tasks', () => {
    const again = buildTasks(loadSources());
    again.forEach((task, i) => assert.deepEqual(readFileSync(first[i]!.path), Buffer.from(evaluationFileBytes(task)), task.name));
  });

  it('leaves unchanged files alone and rewrites a damaged one', async () => {
    const before = first.map((p) => statSync(p.path).mtimeMs);
    writeFileSync(first[2]!.path, 'damaged');
    const second = await writeEvaluationFiles(tasks, dir);
    assert.deepEqual(second.map((p) => p.written), tasks.map((_, i) => i === 2));
    second.forEach((p, i) => { if (i !== 2) assert.equal(statSync(p.path).mtimeMs, before[i]); });
    assert.deepEqual(readFileSync(second[2]!.path), Buffer.from(evaluationFileBytes(tasks[2]!)));
  });
});
