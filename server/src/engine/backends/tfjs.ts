// One backend over any TensorFlow.js namespace object: the bundled tfjs-core with its
// wasm or cpu backend, or the namespace that @tensorflow/tfjs-node(-gpu) exports (the
// native packages register their backend in their own copy of tfjs-core, so their ops
// must come from their namespace). Elementwise nodes run as tf ops; random draws are
// made by the shared JS functions and uploaded, so they are bit-identical everywhere;
// reductions run the shared JS loop over the downloaded node values, so sums stay in
// float64 and histograms count exactly the float32 values the backend computed.
import { runChunkHere } from '../kernels/run.ts';
import { kernelRoots, liveNodes, reductionNodes } from '../plan/schedule.ts';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Kernel, NodeRef, Op, Reduction } from '../plan/types.ts';
import { fillDareMultiplier, fillStandardNormal } from '../rng.ts';
import type { Backend, BackendName, ChunkJob, ChunkTotals } from './types.ts';

/** The part of the tfjs API this backend uses (tfjs-core's namespace satisfies it). */
export type Tf = typeof import('@tensorflow/tfjs-core');

export interface TfjsBackendOptions {
  readonly name: BackendName;
  readonly tf: Tf;
  /** The tfjs backend to activate (`wasm`, `cpu`, `tensorflow`). */
  readonly tfBackend: string;
  readonly device: string;
}

export function createTfjsBackend(options: TfjsBackendOptions): Backend {
  const { tf, tfBackend } = options;
  return {
    name: options.name,
    device: options.device,
    allocate: (length) => new Float32Array(length),
    async run(job: ChunkJob): Promise<ChunkTotals> {
      // Backends are global to a tfjs-core copy: re-select ours in case another run switched it.
      if (tf.getBackend() !== tfBackend && !(await tf.setBackend(tfBackend))) throw new Error(`tfjs backend ${tfBackend} failed to initialise`);
      const reduced = reducedNodes(job.kernel);
      const wantOutput = job.kernel.output !== null && job.output !== null;
      // Kept past tidy: the output (first, when wanted) and the reduced nodes' values.
      const kept = tf.tidy(() => {
        const values = evaluate(tf, job, liveNodes(job.kernel.nodes, kernelRoots(job.kernel)));
        return [...(wantOutput ? [values.get(job.kernel.output!)!] : []), ...reduced.nodes.map((n) => values.get(n)!)];
      });
      try {
        if (wantOutput) job.output!.set(kept[0]!.dataSync() as Float32Array);
        if (reduced.nodes.length === 0) return [];
        const downloaded = kept.slice(wantOutput ? 1 : 0).map((t) => t.dataSync() as Float32Array);
        return runChunkHere({ ...job, kernel: reduced.kernel, inputs: downloaded, output: null });
      } finally {
        tf.dispose(kept);
      }
    },
    close: async () => {},
  };
}

function evaluate(tf: Tf, job: ChunkJob, live: readonly NodeRef[]): Map<NodeRef, Tensor> {
  const values = new Map<NodeRef, Tensor>();
  const p = (ref: number): number => job.params[ref]!;
  const v = (n: NodeRef): Tensor => values.get(n)!;
  for (const n of live) values.set(n, evaluateOp(tf, job.kernel.nodes[n]!, v, p, job));
  return values;
}

function evaluateOp(tf: Tf, op: Op, v: (n: NodeRef) => Tensor, p: (ref: number) => number, job: ChunkJob): Tensor {
  switch (op.op) {
    case 'input':
      return tf.tensor1d(job.inputs[op.slot]!.subarray(0, job.length), 'float32');
    case 'lin':
      if (op.terms.length === 0) return tf.zeros([job.length], 'float32');
      return op.terms.map((t) => tf.mul(v(t.arg), tf.scalar(p(t.coef), 'float32'))).reduce((a, b) => tf.add(a, b));
    case 'trim': {
      const x = v(op.arg);
      return tf.where(tf.greaterEqual(tf.abs(x), tf.scalar(p(op.threshold), 'float32')), x, tf.zerosLike(x));
    }
    case 'ties': {
      const args = op.args.map(v);
      const elected = tf.sign(tf.addN(args));
      const agree = args.map((a) => tf.cast(tf.logicalAnd(tf.equal(tf.sign(a), elected), tf.notEqual(a, tf.scalar(0, 'float32'))), 'float32'));
      const total = tf.addN(args.map((a, i) => tf.mul(a, agree[i]!)));
      return tf.div(total, tf.maximum(tf.addN(agree), tf.scalar(1, 'float32')));
    }
    case 'dare': {
      const multiplier = new Float32Array(job.length);
      fillDareMultiplier(p(op.key), p(op.key + 1), p(op.keep), p(op.scale), job.start, multiplier);
      return tf.mul(v(op.arg), tf.tensor1d(multiplier, 'float32'));
    }
    case 'noise': {
      const draws = new Float32Array(job.length);
      fillStandardNormal(p(op.key), p(op.key + 1), p(op.key + 2), p(op.key + 3), job.start, draws);
      return tf.tensor1d(draws, 'float32');
    }
    case 'vote': {
      const x = v(op.arg);
      const scale = tf.scalar(p(op.scale), 'float32');
      const votes = op.pairs.map(({ a, b }) => tf.cast(tf.greater(tf.abs(v(a)), b === undefined ? tf.scalar(0, 'float32') : tf.mul(tf.abs(v(b)), scale)), 'float32'));
      const count = votes.reduce((sum, vote) => tf.add(sum, vote));
      return tf.where(tf.greaterEqual(count, tf.scalar(p(op.min), 'float32')), x, tf.zerosLike(x));
    }
    case 'variance': {
      const count = tf.scalar(p(op.count), 'float32');
      const mean = tf.div(tf.addN(op.args.map(v)), count);
      const deviations = tf.addN(op.args.map((a) => tf.square(tf.sub(v(a), mean))));
      const absent = tf.mul(tf.square(mean), tf.scalar(p(op.count) - op.args.length, 'float32'));
      return tf.div(tf.add(deviations, absent), count);
    }
    case 'elect': {
      const args = op.args.map(v);
      const sum = tf.addN(args);
      // Strict: no sign where the sum is 0 (NaN matches no argument's sign).
      const elected = op.strict ? tf.where(tf.equal(sum, tf.scalar(0, 'float32')), tf.fill(sum.shape, Number.NaN), tf.sign(sum)) : tf.where(tf.greaterEqual(sum, tf.scalar(0, 'float32')), tf.onesLike(args[0]!), tf.neg(tf.onesLike(args[0]!)));
      const agree = args.map((a) => tf.cast(tf.equal(tf.sign(a), elected), 'float32'));
      const weighted = (refs: readonly number[]) => agree.map((g, k) => tf.mul(g, tf.scalar(p(refs[k]!), 'float32')));
      const weights = weighted(op.weights);
      const total = tf.addN(args.map((a, k) => tf.mul(weights[k]!, a)));
      return tf.div(total, tf.maximum(tf.addN(op.divisors ? weighted(op.divisors) : weights), tf.scalar(p(op.floor), 'float32')));
    }
  }
}

interface ReducedNodes {
  /** The nodes whose values the reductions need, downloaded from the backend. */
  readonly nodes: readonly NodeRef[];
  /** The kernel's reductions over those values, which become its inputs 0..n-1. */
  readonly kernel: Kernel;
}

const reducedCache = new WeakMap<Kernel, ReducedNodes>();

function reducedNodes(kernel: Kernel): ReducedNodes {
  const known = reducedCache.get(kernel);
  if (known) return known;
  const nodes = [...new Set(kernel.reductions.flatMap(reductionNodes))];
  const slot = new Map(nodes.map((n, i) => [n, i]));
  const remap = (r: Reduction): Reduction => {
    switch (r.kind) {
      case 'dot': return { kind: 'dot', a: slot.get(r.a)!, b: slot.get(r.b)! };
      default: return { ...r, node: slot.get(r.node)! };
    }
  };
  const result: ReducedNodes = {
    nodes,
    kernel: { nodes: nodes.map((_, i): Op => ({ op: 'input', slot: i })), output: null, reductions: kernel.reductions.map(remap) },
  };
  reducedCache.set(kernel, result);
  return result;
}
