// Orders a tensor's statistics into streaming passes. A node can be evaluated in pass j
// once every statistic its value depends on is resolved by the end of pass j-1; a
// statistic over a node runs in the first pass where the node can be evaluated. Sums
// take one pass; a top-k threshold takes one pass over a tensor that fits in a chunk
// (its values are kept and selected in memory) and two over a larger one (high then
// low 16 bits of |x|, streamed). All
// statistics that are ready in the same pass share it, so a tensor is read
// (depth of statistics nesting + 1) times, not once per statistic.
import type { Kernel, NodeRef, Op, ParamRef, Pass, Reduction, Stat, StatStep } from './types.ts';

export function argsOf(op: Op): readonly NodeRef[] {
  switch (op.op) {
    case 'input': case 'noise': return [];
    case 'lin': return op.terms.map((t) => t.arg);
    case 'trim': case 'dare': return [op.arg];
    case 'ties': case 'variance': case 'elect': return op.args;
    case 'vote': return [op.arg, ...op.pairs.flatMap((pair) => (pair.b === undefined ? [pair.a] : [pair.a, pair.b]))];
  }
}

export function paramsOf(op: Op): readonly ParamRef[] {
  switch (op.op) {
    case 'input': case 'ties': return [];
    case 'lin': return op.terms.map((t) => t.coef);
    case 'trim': return [op.threshold];
    case 'dare': return [op.keep, op.scale, op.key, op.key + 1];
    case 'noise': return [op.key, op.key + 1, op.key + 2, op.key + 3];
    case 'vote': return [op.scale, op.min];
    case 'variance': return [op.count];
    case 'elect': return [...op.weights, op.floor];
  }
}

export function reductionNodes(reduction: Reduction): readonly NodeRef[] {
  return reduction.kind === 'dot' ? [reduction.a, reduction.b] : [reduction.node];
}

/** Nodes needed to compute `roots`, in increasing (topological) order. */
export function liveNodes(nodes: readonly Op[], roots: readonly NodeRef[]): NodeRef[] {
  const live = new Set<NodeRef>();
  const stack = [...roots];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    stack.push(...argsOf(nodes[n]!));
  }
  return [...live].sort((a, b) => a - b);
}

export function kernelRoots(kernel: Kernel): NodeRef[] {
  return [...(kernel.output === null ? [] : [kernel.output]), ...kernel.reductions.flatMap(reductionNodes)];
}

export function schedulePasses(nodes: readonly Op[], stats: readonly Stat[], output: NodeRef, resident: boolean): Pass[] {
  const paramReady = new Map<ParamRef, number>();
  const nodeReady = new Map<NodeRef, number>();
  // Children first with an explicit stack: a chain of thousands of nodes costs no call stack.
  const readyOf = (target: NodeRef): number => {
    const stack = [target];
    while (stack.length > 0) {
      const n = stack.at(-1)!;
      if (nodeReady.has(n)) {
        stack.pop();
        continue;
      }
      const op = nodes[n]!;
      const pending = argsOf(op).filter((a) => !nodeReady.has(a));
      if (pending.length > 0) {
        stack.push(...pending);
        continue;
      }
      let ready = 0;
      for (const p of paramsOf(op)) ready = Math.max(ready, paramReady.get(p) ?? 0);
      for (const a of argsOf(op)) ready = Math.max(ready, nodeReady.get(a)!);
      nodeReady.set(n, ready);
      stack.pop();
    }
    return nodeReady.get(target)!;
  };

  const scheduled: { pass: number; step: StatStep; reductions: Reduction[] }[] = [];
  stats.forEach((stat, index) => {
    switch (stat.kind) {
      case 'topk': {
        const first = readyOf(stat.node);
        if (resident) {
          scheduled.push({ pass: first, step: { stat: index, step: 'values' }, reductions: [{ kind: 'values', node: stat.node }, { kind: 'hist-top', node: stat.node }] });
          paramReady.set(stat.threshold, first + 1);
          return;
        }
        scheduled.push({ pass: first, step: { stat: index, step: 'hist-hi' }, reductions: [{ kind: 'hist-hi', node: stat.node }] });
        paramReady.set(stat.bucket, first + 1).set(stat.rank, first + 1);
        scheduled.push({ pass: first + 1, step: { stat: index, step: 'hist-lo' }, reductions: [{ kind: 'hist-lo', node: stat.node, bucket: stat.bucket }] });
        paramReady.set(stat.threshold, first + 2);
        return;
      }
      case 'slerp': {
        const pass = Math.max(readyOf(stat.a), readyOf(stat.b));
        scheduled.push({ pass, step: { stat: index, step: 'sums' }, reductions: [{ kind: 'sumsq', node: stat.a }, { kind: 'sumsq', node: stat.b }, { kind: 'dot', a: stat.a, b: stat.b }] });
        paramReady.set(stat.s0, pass + 1).set(stat.s1, pass + 1);
        return;
      }
      case 'norm-match': {
        const pass = Math.max(readyOf(stat.source), readyOf(stat.noise));
        scheduled.push({ pass, step: { stat: index, step: 'sums' }, reductions: [{ kind: 'sumsq', node: stat.source }, { kind: 'sumsq', node: stat.noise }] });
        paramReady.set(stat.scale, pass + 1);
        return;
      }
      case 'gram': {
        const pass = Math.max(0, ...stat.nodes.map(readyOf));
        scheduled.push({ pass, step: { stat: index, step: 'sums' }, reductions: gramReductions(stat.nodes) });
        for (const c of stat.coefficients) paramReady.set(c, pass + 1);
        return;
      }
    }
  });

  const last = Math.max(readyOf(output), ...scheduled.map((s) => s.pass));
  const passes: Pass[] = [];
  for (let pass = 0; pass <= last; pass++) {
    const reductions: Reduction[] = [];
    const steps: Pass['steps'][number][] = [];
    for (const s of scheduled.filter((x) => x.pass === pass)) {
      steps.push({ step: s.step, reductions: s.reductions.map((_, i) => reductions.length + i) });
      reductions.push(...s.reductions);
    }
    const kernel: Kernel = { nodes, output: pass === last ? output : null, reductions };
    passes.push({ kernel, slots: inputSlots(nodes, kernelRoots(kernel)), steps });
  }
  return passes;
}

/** The upper triangle of the Gram matrix of `nodes`, row by row (resolve.ts reads it back in this order). */
function gramReductions(nodes: readonly NodeRef[]): Reduction[] {
  return nodes.flatMap((a, i) => nodes.slice(i).map((b, d): Reduction => (d === 0 ? { kind: 'sumsq', node: a } : { kind: 'dot', a, b })));
}

function inputSlots(nodes: readonly Op[], roots: readonly NodeRef[]): number[] {
  const slots = new Set<number>();
  for (const n of liveNodes(nodes, roots)) {
    const op = nodes[n]!;
    if (op.op === 'input') slots.add(op.slot);
  }
  return [...slots].sort((a, b) => a - b);
}
