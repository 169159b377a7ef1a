// The built-in evaluator against a network whose outputs are worked out by hand: a
// 2-2-3 MLP with identity encoder and a head mapping the hidden units to logits
// (h1, h2, -(h1 + h2)), so every logit, prediction and cross-entropy below is arithmetic.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { readSplit } from '../../../server/src/engine/evaluation/data.ts';
import { EvaluationError } from '../../../server/src/engine/evaluation/errors.ts';
import { TfjsNetwork } from '../../../server/src/engine/evaluation/tfjs-network.ts';
import { tfRuntimeFor } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { TfRuntime, TfjsBackendName } from '../../../server/src/engine/evaluation/tfjs-runtime.ts';
import type { MaterializedTensor } from '../../../server/src/engine/materialize.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { mlpFixture, writeData, writeMlp } from './fixtures.ts';
import type { Mlp } from './fixtures.ts';

const hand: Mlp = { w1: [[1, 0], [0, 1]], b1: [0, 0], w2: [[1, 0, -1], [0, 1, -1]], b2: [0, 0, 0] };

// Inputs >= 0 pass the relu unchanged: logits = (a, b, -(a + b)).
const rows = {
  x: [[2, 0], [0, 1], [0.5, 3], [1, 0.25]],
  y: [0, 2, 1, 1],
};

const lse = (z: readonly number[]): number => Math.log(z.reduce((s, v) => s + Math.exp(v), 0));

/** Expected metrics with the encoder scaled by `k` (logits scale by k): written out example by example. */
function expected(k: number): { accuracy: number; loss: number } {
  const cases = [
    // [logits, label, correct]
    [[2 * k, 0, -2 * k], 0, true],
    [[0, 1 * k, -1 * k], 2, false],
    [[0.5 * k, 3 * k, -3.5 * k], 1, true],
    [[1 * k, 0.25 * k, -1.25 * k], 1, false],
  ] as const;
  const losses = cases.map(([z, y]) => lse(z) - z[y]!);
  return { accuracy: cases.filter((c) => c[2]).length / cases.length, loss: losses.reduce((a, b) => a + b, 0) / losses.length };
}

function tensors(m: Mlp): Map<string, MaterializedTensor> {
  return new Map(mlpFixture(m).tensors.map((t) => [t.name, { name: t.name, shape: t.shape, dtype: 'F32' as const, values: Float32Array.from(t.values) }]));
}

const BACKENDS: readonly TfjsBackendName[] = ['tfjs-wasm', 'tfjs-cpu'];

describe('built-in evaluator (hand-checked network)', () => {
  const { dir, cleanup } = fixtureDir();
  let logitsModel: unknown;
  let softmaxModel: unknown;
  const runtimes = new Map<string, TfRuntime>();
  before(async () => {
    logitsModel = (await readCheckpointHeader(writeMlp(join(dir, 'logits'), hand))).tfjsModel;
    softmaxModel = (await readCheckpointHeader(writeMlp(join(dir, 'softmax'), hand, { softmax: true }))).tfjsModel;
    writeData(join(dir, 'data.safetensors'), { validation: rows, test: { x: rows.x.slice(0, 2), y: rows.y.slice(0, 2) } });
    // x / 0.25 are integers: the same inputs stored as U8 with x_scale 0.25.
    writeData(join(dir, 'data-u8.safetensors'), { validation: rows, test: rows }, { u8Scale: 0.25, labels: 'I64' });
    for (const name of BACKENDS) runtimes.set(name, await tfRuntimeFor(name));
  });
  after(cleanup);

  const cases = [
    { name: 'head model as is (logits)', model: () => logitsModel, scale: 1, data: 'data.safetensors' },
    { name: 'encoder replaced by 2x identity (logits)', model: () => logitsModel, scale: 2, data: 'data.safetensors' },
    { name: 'softmax output: the same cross-entropy from probabilities', model: () => softmaxModel, scale: 1, data: 'data.safetensors' },
    { name: 'softmax output, encoder 0.5x', model: () => softmaxModel, scale: 0.5, data: 'data.safetensors' },
    { name: 'U8 inputs scaled by x_scale, I64 labels', model: () => logitsModel, scale: 1, data: 'data-u8.safetensors' },
  ];
  for (const backend of BACKENDS) {
    for (const c of cases) {
      it(`${backend}: ${c.name}`, async () => {
        const network = await TfjsNetwork.load(runtimes.get(backend)!, c.model(), tensors(hand), 'task t');
        try {
          const data = await readSplit(await readCheckpointHeader(join(dir, c.data)), 'validation');
          const encoder = new Map([...tensors({ ...hand, w1: [[c.scale, 0], [0, c.scale]] })].filter(([name]) => name.startsWith('dense1/')));
          const measured = await network.evaluate(encoder, data, { batchSize: 3 });
          const want = expected(c.scale);
          assert.equal(measured.accuracy, want.accuracy);
          assert.ok(Math.abs(measured.loss - want.loss) < 1e-5, `loss ${measured.loss} vs ${want.loss}`);
          assert.ok(Math.abs(measured.perplexity - Math.exp(want.loss)) < 1e-4 * Math.exp(want.loss));
          assert.equal(measured.scored, 4);
        } finally {
          network.dispose();
        }
      });
    }
  }

  it('evaluating another model afterwards restores the head model\'s own tensors', async () => {
    const network = await TfjsNetwork.load(runtimes.get('tfjs-cpu')!, logitsModel, tensors(hand), 'task t');
    const data = await readSplit(await readCheckpointHeader(join(dir, 'data.safetensors')), 'validation');
    const doubled = new Map([...tensors({ ...hand, w1: [[2, 0], [0, 2]] })].filter(([name]) => name.startsWith('dense1/')));
    await network.evaluate(doubled, data);
    const plain = await network.evaluate(new Map(), data);
    network.dispose();
    assert.ok(Math.abs(plain.loss - expected(1).loss) < 1e-5);
  });

  const failures = [
    {
      name: 'a tensor of the wrong shape',
      weights: () => new Map([['dense1/kernel', { name: 'dense1/kernel', shape: [2, 3], dtype: 'F32' as const, values: new Float32Array(6) }]]),
      message: /task t: tensor dense1\/kernel is \[2, 3\] but the head model has \[2, 2\]/,
    },
    {
      name: 'a tensor the network does not have',
      weights: () => new Map([['encoder/kernel', { name: 'encoder/kernel', shape: [2, 2], dtype: 'F32' as const, values: new Float32Array(4) }]]),
      message: /tensor encoder\/kernel is not a weight of the head model's network/,
    },
  ];
  for (const f of failures) {
    it(`refuses ${f.name}`, async () => {
      const network = await TfjsNetwork.load(runtimes.get('tfjs-cpu')!, logitsModel, tensors(hand), 'task t');
      const data = await readSplit(await readCheckpointHeader(join(dir, 'data.safetensors')), 'validation');
      await assert.rejects(network.evaluate(f.weights(), data), (e: unknown) => e instanceof EvaluationError && f.message.test(e.message));
      network.dispose();
    });
  }

  it('refuses a head model that lacks a weight of its topology', async () => {
    const partial = new Map([...tensors(hand)].filter(([name]) => name !== 'dense2/bias'));
    await assert.rejects(TfjsNetwork.load(runtimes.get('tfjs-cpu')!, logitsModel, partial, 'task t'), /task t: the head model lacks dense2\/bias/);
  });

  it('refuses data whose examples do not fit the network input', async () => {
    const path = writeData(join(dir, 'wide.safetensors'), { validation: { x: [[1, 2, 3]], y: [0] }, test: { x: [[1, 2, 3]], y: [0] } });
    const network = await TfjsNetwork.load(runtimes.get('tfjs-cpu')!, logitsModel, tensors(hand), 'task t');
    const data = await readSplit(await readCheckpointHeader(path), 'validation');
    await assert.rejects(network.evaluate(new Map(), data), /validation\/x has examples of shape \[3\] but the network expects \[2\]/);
    network.dispose();
  });

  it('refuses labels outside the classes', async () => {
    const path = writeData(join(dir, 'labels.safetensors'), { validation: { x: [[1, 0]], y: [7] }, test: { x: [[1, 0]], y: [0] } });
    const network = await TfjsNetwork.load(runtimes.get('tfjs-cpu')!, logitsModel, tensors(hand), 'task t');
    const data = await readSplit(await readCheckpointHeader(path), 'validation');
    await assert.rejects(network.evaluate(new Map(), data), /label 7 at row 0 is outside the 3 classes/);
    network.dispose();
  });
});
