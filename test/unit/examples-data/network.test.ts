// The examples' network: the centred parametrization and its exact conversion to
// plain Dense layers, class-mean heads, deterministic training, and checkpoints that
// TensorFlow.js itself loads and runs to the same predictions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readCheckpointHeader } from '../../../server/src/checkpoints/read-header.ts';
import { readNetwork, writeNetwork } from '../../../scripts/examples/checkpoint-io.ts';
import {
  accuracy, centeredFeatures, centersFor, classMeanHead, initialDense, initialEncoder, predict, shiftBias, toCentered,
  toPlain, trainCentered, useWasmBackend,
} from '../../../scripts/examples/network.ts';
import type { Dense, TrainOptions } from '../../../scripts/examples/network.ts';
import { createRng } from '../../../scripts/examples/random.ts';
import { IMAGE_SIZE, loadMnistNpm } from '../../../scripts/examples/sources.ts';
import type { ImageSet } from '../../../scripts/examples/sources.ts';
import { selectRows } from '../../../scripts/examples/tasks.ts';

/** x.W + b in float64, for a row vector x. */
function apply(layer: Dense, x: ArrayLike<number>): number[] {
  return Array.from({ length: layer.outputs }, (_, o) => {
    let sum = layer.bias[o]!;
    for (let i = 0; i < layer.inputs; i++) sum += x[i]! * layer.kernel[i * layer.outputs + o]!;
    return sum;
  });
}

function randomLayer(inputs: number, outputs: number, seed: number): Dense {
  const rng = createRng(seed);
  const values = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
  return { kernel: values(inputs * outputs), bias: values(outputs), inputs, outputs };
}

/** 600 real MNIST digits (every 16th image, so all classes occur). */
function someDigits(): ImageSet {
  const mnist = loadMnistNpm();
  return selectRows(mnist, Array.from({ length: 600 }, (_, i) => i * 16));
}

const quickTraining: TrainOptions = { steps: 12, batchSize: 64, seed: 7, optimizer: 'sgd-momentum', learningRate: 0.1 };

describe('centred parametrization', () => {
  const cases = [
    { name: 'zero mean', mean: [0, 0, 0] },
    { name: 'pixel-like mean', mean: [0.1, 0.5, 0.9] },
    { name: 'negative entries', mean: [-2, 0, 3] },
  ];
  for (const c of cases) {
    it(`keeps the function and round-trips (${c.name})`, () => {
      const layer = randomLayer(3, 4, 11);
      const mean = Float32Array.from(c.mean);
      const centered = shiftBias(layer, mean, 'to-centered');
      const x = [0.3, -1, 2];
      const plainOut = apply(layer, x);
      const centeredOut = apply(centered, x.map((v, i) => v - mean[i]!));
      plainOut.forEach((v, o) => assert.ok(Math.abs(v - centeredOut[o]!) < 1e-5, `output ${o}: ${v} vs ${centeredOut[o]}`));
      const back = shiftBias(centered, mean, 'to-plain');
      back.bias.forEach((b, o) => assert.ok(Math.abs(b - layer.bias[o]!) < 1e-6));
      assert.deepEqual(back.kernel, layer.kernel);
    });
  }
});

describe('classMeanHead', () => {
  const cases = [
    {
      name: 'two classes on the axes',
      features: [[2, 0], [4, 0], [0, 3]],
      labels: [0, 0, 1],
      kernel: [[1, 0], [0, 1]], // [unit][class]
    },
    {
      name: 'a diagonal class mean',
      features: [[1, 1], [3, 3], [-5, 0]],
      labels: [0, 0, 1],
      kernel: [[Math.SQRT1_2, -1], [Math.SQRT1_2, 0]],
    },
  ];
  for (const c of cases) {
    it(`points each class at its unit-length mean feature: ${c.name}`, () => {
      const head = classMeanHead(Float32Array.from(c.features.flat()), Int32Array.from(c.labels), 2);
      assert.equal(head.inputs, 2);
      assert.equal(head.outputs, 2);
      c.kernel.flat().forEach((v, i) => assert.ok(Math.abs(head.kernel[i]! - v) < 1e-6, `kernel ${i}: ${head.kernel[i]} vs ${v}`));
      assert.deepEqual([...head.bias], [0, 0]);
    });
  }
});

describe('training (wasm backend)', () => {
  before(async () => useWasmBackend());
  const digits = someDigits();

  it('computes centres as the pixel mean, then the mean activation of each layer', () => {
    const encoder = initialEncoder(3);
    const centers = centersFor(encoder, digits);
    assert.deepEqual(centers.map((c) => c.length), [IMAGE_SIZE, 256, 256]);
    let ink = 0;
    for (let i = 0; i < digits.count; i++) ink += digits.images[i * IMAGE_SIZE + 14 * 28 + 14]! / 255;
    assert.ok(Math.abs(centers[0]![14 * 28 + 14]! - ink / digits.count) < 1e-6);
    // Centred by these means, the last layer's features average to zero.
    const features = centeredFeatures(digits, toCentered(encoder, centers), centers);
    for (let j = 0; j < 256; j += 37) {
      let sum = 0;
      for (let r = 0; r < digits.count; r++) sum += features[r * 256 + j]!;
      assert.ok(Math.abs(sum / digits.count) < 1e-4, `unit ${j}`);
    }
  });

  it('is deterministic: the same seed gives the same weights', async () => {
    const run = async () => {
      const encoder = initialEncoder(1);
      const centers = centersFor(encoder, digits);
      const top = initialDense(256, 10, 2);
      return trainCentered(digits, toCentered(encoder, centers), top, centers, { kind: 'classify', classes: 10 }, true, quickTraining);
    };
    const [a, b] = [await run(), await run()];
    a.encoder.forEach((layer, l) => assert.deepEqual(layer.kernel, b.encoder[l]!.kernel));
    assert.deepEqual(a.top.kernel, b.top.kernel);
    assert.notDeepEqual(a.encoder[0]!.kernel, initialEncoder(1)[0]!.kernel);
  });

  it('fine-tuning the encoder under a frozen class-mean head raises training accuracy and leaves the head alone', async () => {
    const encoder = initialEncoder(1);
    const centers = centersFor(encoder, digits);
    const centered = toCentered(encoder, centers);
    const head = classMeanHead(centeredFeatures(digits, centered, centers), digits.labels, 10);
    const plainHead = shiftBias(head, centers[2]!, 'to-plain');
    const before = accuracy({ encoder, head: plainHead }, digits);
    const trained = await trainCentered(digits, centered, head, centers, { kind: 'classify', classes: 10 }, false, { ...quickTraining, steps: 40 });
    assert.equal(trained.top, head);
    const after = accuracy({ encoder: toPlain(trained.encoder, centers), head: plainHead }, digits);
    assert.ok(after > before + 0.05, `accuracy ${before} -> ${after}`);
  });

  describe('checkpoints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvr-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('writes tfjs LayersModels with stable weight names that TensorFlow.js loads and runs identically', async () => {
      const network = { encoder: initialEncoder(5), head: randomLayer(256, 4, 6) };
      await writeNetwork(join(dir, 'm'), network, { trainKey: 'k', role: 'fine-tuned' });
      const header = await readCheckpointHeader(join(dir, 'm', 'model.json'));
      assert.deepEqual([...header.tensors.values()].map((t) => `${t.name} [${t.shape.join(', ')}]`), [
        'encoder_1/kernel [784, 256]', 'encoder_1/bias [256]', 'encoder_2/kernel [256, 256]', 'encoder_2/bias [256]', 'head/kernel [256, 4]', 'head/bias [4]',
      ]);
      assert.deepEqual(header.metadata, { trainKey: 'k', role: 'fine-tuned' });
      const roundTrip = await readNetwork(join(dir, 'm'));
      assert.deepEqual(roundTrip.head!.kernel, network.head.kernel);

      const json = JSON.parse(readFileSync(join(dir, 'm', 'model.json'), 'utf8'));
      const weightData = new Uint8Array(readFileSync(join(dir, 'm', json.weightsManifest[0].paths[0]))).buffer;
      const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }));
      const sample = selectRows(digits, [0, 1, 2, 3, 4, 5, 6, 7]);
      const x = tf.tensor2d(Float32Array.from(sample.images, (v) => v / 255), [sample.count, IMAGE_SIZE]);
      const output = model.predict(x) as tf.Tensor;
      const probabilities = output.arraySync() as number[][];
      tf.dispose([x, output]);
      model.dispose();
      const predicted = predict(network, sample);
      probabilities.forEach((row, i) => {
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'the head ends in a softmax');
        assert.equal(row.indexOf(Math.max(...row)), predicted[i]);
      });
    });

    it('writes an encoder-only base with the same encoder names', async () => {
      await writeNetwork(join(dir, 'base'), { encoder: initialEncoder(5) }, { role: 'base' });
      const header = await readCheckpointHeader(join(dir, 'base'));
      assert.deepEqual([...header.tensors.keys()], ['encoder_1/kernel', 'encoder_1/bias', 'encoder_2/kernel', 'encoder_2/bias']);
      assert.equal((await readNetwork(join(dir, 'base'))).head, undefined);
    });
  });
});
