// `tvr import mergekit` (built CLI) end to end: configurations of linear, task_arithmetic
// and ties (in mergekit's documented shapes) are imported, the recipes run on tiny
// safetensors models, and the saved tensors are compared with a float64 computation of
// mergekit's documented formula for that configuration. Exit codes with and without
// --allow-partial; the configuration is never overwritten.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors, type FixtureModel } from '../helpers/checkpoint-fixtures.ts';
import { root, runTvr } from '../helpers/tvr-cli.ts';
import { parse } from 'yaml';

function readF32(path: string): Map<string, Float64Array> {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out = new Map<string, Float64Array>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(info.dtype, 'F32');
    const start = 8 + headerLength + info.data_offsets[0];
    const count = (info.data_offsets[1] - info.data_offsets[0]) / 4;
    const values = new Float64Array(count);
    for (let i = 0; i < count; i++) values[i] = bytes.readFloatLE(start + 4 * i);
    out.set(name, values);
  }
  return out;
}

const tensor = (model: FixtureModel, name: string) => model.tensors.find((t) => t.name === name)!.values;

/** mergekit's ties (generalized task arithmetic, consensus "sum", magnitude sparsification, normalize on), in float64. */
function mergekitTies(base: Float64Array, models: readonly Float64Array[], weights: readonly number[], density: number, lambda: number, normalize = true): Float64Array {
  const n = base.length;
  const k = Math.trunc(density * n); // int(density * numel)
  const deltas = models.map((m) => {
    const d = m.map((v, i) => v - base[i]!);
    if (density >= 1) return d;
    const order = [...d.keys()].sort((x, y) => Math.abs(d[y]!) - Math.abs(d[x]!));
    const kept = new Float64Array(n);
    for (const i of order.slice(0, k)) kept[i] = d[i]!;
    return kept;
  });
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const weighted = deltas.map((d, j) => d[i]! * weights[j]!);
    const sign = weighted.reduce((a, b) => a + b, 0) >= 0 ? 1 : -1;
    let mixed = 0;
    let divisor = 0;
    weighted.forEach((v, j) => { if (Math.sign(v) === sign) { mixed += v; divisor += weights[j]!; } });
    out[i] = base[i]! + lambda * (normalize ? mixed / (divisor === 0 ? 1 : divisor) : mixed);
  }
  return out;
}

const dotOf = (x: ArrayLike<number>, y: ArrayLike<number>): number => Array.from(x).reduce((sum, v, i) => sum + v * y[i]!, 0);

/** mergekit's model_stock (filter_wise false), in float64: t from the mean pairwise cosine of the offsets. */
function mergekitModelStock(base: Float64Array, models: readonly Float64Array[]): Float64Array {
  const offsets = models.map((m) => m.map((v, i) => v - base[i]!));
  const cosines: number[] = [];
  for (let i = 0; i < offsets.length; i++) {
    for (let j = i + 1; j < offsets.length; j++) {
      const product = Math.max(1e-6, Math.sqrt(dotOf(offsets[i]!, offsets[i]!)) * Math.sqrt(dotOf(offsets[j]!, offsets[j]!)));
      cosines.push(Math.min(1, Math.max(-1, dotOf(offsets[i]!, offsets[j]!) / product)));
    }
  }
  const cos = cosines.reduce((a, b) => a + b, 0) / cosines.length;
  const n = models.length;
  const t = (n * cos) / (1 + (n - 1) * cos);
  return base.map((v, i) => t * (models.reduce((sum, m) => sum + m[i]!, 0) / n) + (1 - t) * v);
}

/** mergekit's multislerp about a base (normalize_weights true, eps 1e-8), in float64. */
function mergekitMultislerp(base: Float64Array, models: readonly Float64Array[], weights: readonly number[]): Float64Array {
  const eps = 1e-8;
  const total = weights.reduce((a, b) => a + b, 0);
  const w = weights.map((x) => x / total);
  const xs = models.map((m) => m.map((v, i) => v - base[i]!));
  const norms = xs.map((x) => Math.sqrt(dotOf(x, x)));
  const units = xs.map((x, k) => x.map((v) => v / (norms[k]! + eps)));
  const mean = base.map((_, i) => units.reduce((sum, u, k) => sum + w[k]! * u[i]!, 0));
  const meanNorm = Math.sqrt(dotOf(mean, mean));
  const m = mean.map((v) => v / meanNorm);
  const tangent = base.map((_, i) => units.reduce((sum, u, k) => sum + w[k]! * (u[i]! - dotOf(u, m) * m[i]!), 0));
  const tn = Math.sqrt(dotOf(tangent, tangent)) + eps;
  const scale = norms.reduce((sum, n, k) => sum + n * w[k]!, 0);
  return base.map((v, i) => v + scale * (m[i]! * Math.cos(tn) + tangent[i]! * (Math.sin(tn) / tn)));
}

/** mergekit's slerp (a tensor of norm <= 1e-8 left unnormalised; linear where |cos| > 0.9995), in float64. */
function mergekitSlerp(t: number, v0: Float64Array, v1: Float64Array): Float64Array {
  const unit = (v: Float64Array) => {
    const n = Math.sqrt(dotOf(v, v));
    return n > 1e-8 ? v.map((x) => x / n) : v;
  };
  const dot = dotOf(unit(v0), unit(v1));
  if (Math.abs(dot) > 0.9995) return v0.map((x, i) => (1 - t) * x + t * v1[i]!);
  const theta = Math.acos(dot);
  return v0.map((x, i) => (Math.sin(theta - theta * t) * x + Math.sin(theta * t) * v1[i]!) / Math.sin(theta));
}

function assertClose(actual: Float64Array, expected: Float64Array, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= 2e-6 * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('tvr import mergekit (built CLI)', () => {
  const { dir, cleanup } = fixtureDir();
  const specs = [{ name: 'layers.0.w', shape: [8, 16] }, { name: 'layers.0.b', shape: [16] }, { name: 'layers.1.w', shape: [8, 16] }];
  let base: FixtureModel;
  let a: FixtureModel;
  let b: FixtureModel;
  before(() => {
    assert.ok(existsSync(join(root, 'dist/tvr.mjs')), 'dist/tvr.mjs is missing: build first (node scripts/build.ts)');
    base = makeModel(specs, { seed: 11 });
    a = perturbModel(base, { seed: 12, scale: 0.1 });
    b = perturbModel(base, { seed: 13, scale: 0.1 });
    writeSafetensors(join(dir, 'base.safetensors'), base);
    writeSafetensors(join(dir, 'a.safetensors'), a);
    writeSafetensors(join(dir, 'b.safetensors'), b);
  });
  after(cleanup);

  /** Writes `yaml` as <name>/config.yml (models one folder up), imports it to <name>/config.tvr and runs it. */
  async function importAndRun(name: string, yaml: string, allowPartial: boolean): Promise<Map<string, Float64Array>> {
    const folder = join(dir, name);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'config.yml'), yaml);
    const imported = await runTvr(['import', 'mergekit', 'config.yml', ...(allowPartial ? ['--allow-partial'] : [])], folder);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /wrote .*config\.tvr/);
    const ran = await runTvr(['run', 'config.tvr', '--backend', 'cpu', '--no-cache'], folder);
    assert.equal(ran.code, 0, `${ran.stderr}\n${readFileSync(join(folder, 'config.tvr'), 'utf8')}`);
    return readF32(join(folder, 'merged.safetensors'));
  }

  it('linear: sum(w_i m_i) / sum(w_i)', async () => {
    const out = await importAndRun('linear', `models:
  - model: ../a.safetensors
    parameters:
      weight: 0.25
  - model: ../b.safetensors
    parameters:
      weight: 1.0
merge_method: linear
dtype: float32
`, false);
    for (const { name } of specs) {
      const ta = tensor(a, name);
      const tb = tensor(b, name);
      assertClose(out.get(name)!, ta.map((v, i) => (0.25 * v + 1.0 * tb[i]!) / 1.25), name);
    }
  });

  it('task_arithmetic: base + lambda sum(w_i (m_i - base))', async () => {
    const out = await importAndRun('task_arithmetic', `base_model: ../base.safetensors
models:
  - model: ../a.safetensors
    parameters:
      weight: 0.7
  - model: ../b.safetensors
    parameters:
      weight: -0.3
merge_method: task_arithmetic
parameters:
  lambda: 1.3
`, false);
    for (const { name } of specs) {
      const t0 = tensor(base, name);
      const ta = tensor(a, name);
      const tb = tensor(b, name);
      assertClose(out.get(name)!, t0.map((v, i) => v + 1.3 * (0.7 * (ta[i]! - v) - 0.3 * (tb[i]! - v))), name);
    }
  });

  it('ties: without --allow-partial exits 1 and writes nothing; with it, the numbers are mergekit\'s (no ties at the threshold here)', async () => {
    const yaml = `models:
  - model: ../a.safetensors
    parameters:
      density: 0.5
      weight: 0.5
  - model: ../b.safetensors
    parameters:
      density: 0.5
      weight: 0.5
merge_method: ties
base_model: ../base.safetensors
parameters:
  lambda: 0.8
`;
    const folder = join(dir, 'ties');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'config.yml'), yaml);
    const refused = await runTvr(['import', 'mergekit', 'config.yml'], folder);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /config\.yml:10:1: merge_method: ties: where magnitudes tie/);
    assert.match(refused.stderr, /nothing written/);
    assert.equal(existsSync(join(folder, 'config.tvr')), false);

    const out = await importAndRun('ties', yaml, true);
    assert.match(readFileSync(join(folder, 'config.tvr'), 'utf8'), /^# not imported: 10:1 merge_method: ties: /m);
    for (const { name } of specs) {
      assertClose(out.get(name)!, mergekitTies(tensor(base, name), [tensor(a, name), tensor(b, name)], [0.5, 0.5], 0.5, 0.8), name);
    }
  });

  it('model_stock and multislerp: the numbers are mergekit\'s', async () => {
    const stock = await importAndRun('model_stock', `merge_method: model_stock
base_model: ../base.safetensors
models:
  - model: ../a.safetensors
  - model: ../b.safetensors
`, false);
    const slerped = await importAndRun('multislerp', `merge_method: multislerp
base_model: ../base.safetensors
models:
  - model: ../a.safetensors
    parameters: {weight: 0.3}
  - model: ../b.safetensors
    parameters: {weight: 0.9}
`, false);
    for (const { name } of specs) {
      const models = [tensor(a, name), tensor(b, name)];
      assertClose(stock.get(name)!, mergekitModelStock(tensor(base, name), models), `model_stock ${name}`);
      assertClose(slerped.get(name)!, mergekitMultislerp(tensor(base, name), models, [0.3, 0.9]), `multislerp ${name}`);
    }
  });

  it('ties with unequal weights, and without normalize: imported exactly (density 1), the numbers are mergekit\'s', async () => {
    for (const normalize of [true, false]) {
      const out = await importAndRun(`ties-weighted-${normalize}`, `models:
  - model: ../a.safetensors
    parameters: {weight: 0.3}
  - model: ../b.safetensors
    parameters: {weight: 1.2}
merge_method: ties
base_model: ../base.safetensors
parameters:
  normalize: ${normalize}
  lambda: 0.9
`, false);
      for (const { name } of specs) {
        assertClose(out.get(name)!, mergekitTies(tensor(base, name), [tensor(a, name), tensor(b, name)], [0.3, 1.2], 1, 0.9, normalize), `normalize ${normalize} ${name}`);
      }
    }
  });

  it('della_linear at density 1 (nothing pruned): the weighted sum of the deltas, imported and run', async () => {
    const out = await importAndRun('della_linear', `merge_method: della_linear
base_model: ../base.safetensors
models:
  - model: ../a.safetensors
    parameters: {weight: 0.5, density: 1}
  - model: ../b.safetensors
    parameters: {weight: 0.25, density: 1}
`, false);
    for (const { name } of specs) {
      const t0 = tensor(base, name);
      assertClose(out.get(name)!, t0.map((v, i) => v + 0.5 * (tensor(a, name)[i]! - v) + 0.25 * (tensor(b, name)[i]! - v)), name);
    }
  });

  it('slerp with t by filter and gradient (mergekit\'s usual form): each tensor at its own t, the numbers are mergekit\'s', async () => {
    const out = await importAndRun('slerp', `merge_method: slerp
base_model: ../a.safetensors
models:
  - model: ../a.safetensors
  - model: ../b.safetensors
parameters:
  t:
    - filter: ".w"
      value: [0.1, 0.9]
    - value: 0.3
`, false);
    // Two layers: layer 0 at t = 0.1, layer 1 at 0.9 (the gradient's ends); the biases take the default.
    const expected: Record<string, number> = { 'layers.0.w': 0.1, 'layers.1.w': 0.9, 'layers.0.b': 0.3 };
    for (const { name } of specs) assertClose(out.get(name)!, mergekitSlerp(expected[name]!, tensor(a, name), tensor(b, name)), name);
  });

  it('exit codes: 1 for a method tvr lacks, 2 for malformed YAML; the configuration is never overwritten', async () => {
    const folder = join(dir, 'codes');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'passthrough.yml'), 'merge_method: passthrough\nbase_model: ../base.safetensors\nmodels:\n  - model: ../a.safetensors\n');
    const passthrough = await runTvr(['import', 'mergekit', 'passthrough.yml', '--allow-partial'], folder);
    assert.equal(passthrough.code, 1);
    assert.match(passthrough.stderr, /passthrough\.yml:1:15: merge_method: merge_method "passthrough" has no tvr equivalent/);
    writeFileSync(join(folder, 'bad.yml'), 'models: [a\n');
    assert.equal((await runTvr(['import', 'mergekit', 'bad.yml'], folder)).code, 2);
    const config = 'merge_method: linear\nmodels:\n  - model: ../a.safetensors\n    parameters: {weight: 1}\n';
    writeFileSync(join(folder, 'self.yml'), config);
    const self = await runTvr(['import', 'mergekit', 'self.yml', '-o', 'self.yml'], folder);
    assert.equal(self.code, 2);
    assert.match(self.stderr, /refusing to overwrite the input/);
    assert.equal(readFileSync(join(folder, 'self.yml'), 'utf8'), config);
  });

  it('export: a weighted sum and base + lambda*ties(...) become mergekit configurations; what mergekit cannot express is reported', async () => {
    const folder = join(dir, 'export');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'sum.tvr'), 'base = load("../base.safetensors")\na = load("../a.safetensors")\nmerged = base + 0.25*(a - base)\nsave(merged, "out.safetensors", dtype="bf16")\n');
    const sum = await runTvr(['export', 'mergekit', 'sum.tvr'], folder);
    assert.equal(sum.code, 0, sum.stderr);
    assert.deepEqual(parse(readFileSync(join(folder, 'sum.yml'), 'utf8')), {
      merge_method: 'linear',
      models: [{ model: '../base.safetensors', parameters: { weight: 0.75 } }, { model: '../a.safetensors', parameters: { weight: 0.25 } }],
      parameters: { normalize: false },
      dtype: 'float32',
      out_dtype: 'bfloat16',
    });

    writeFileSync(join(folder, 'ties.tvr'), 'base = load("../base.safetensors")\na = load("../a.safetensors")\nb = load("../b.safetensors")\nmerged = base + 0.8*ties(a - base, b - base, density=0.5)\nsave(merged, "out.safetensors")\n');
    const refused = await runTvr(['export', 'mergekit', 'ties.tvr'], folder);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ties\.tvr:4:21: ties: where the trimmed values sum to exactly 0 mergekit elects \+/);
    assert.equal(existsSync(join(folder, 'ties.yml')), false);
    const ties = await runTvr(['export', 'mergekit', 'ties.tvr', '--allow-partial'], folder);
    assert.equal(ties.code, 0, ties.stderr);
    const tiesYaml = readFileSync(join(folder, 'ties.yml'), 'utf8');
    assert.match(tiesYaml, /^# not exported: 4:21 ties: /m);
    assert.deepEqual(parse(tiesYaml), {
      merge_method: 'ties',
      base_model: '../base.safetensors',
      models: [{ model: '../a.safetensors', parameters: { weight: 1, density: 0.5 } }, { model: '../b.safetensors', parameters: { weight: 1, density: 0.5 } }],
      parameters: { normalize: true, lambda: 0.8 },
      dtype: 'float32',
    });

    writeFileSync(join(folder, 'select.tvr'), 'base = load("../base.safetensors")\na = load("../a.safetensors")\nmerged = base + magnitude_prune(a - base, density=0.5)\nsave(merged, "out.safetensors")\n');
    const select = await runTvr(['export', 'mergekit', 'select.tvr', '--allow-partial'], folder);
    assert.equal(select.code, 1);
    assert.match(select.stderr, /select\.tvr:3:10: the saved value has no mergekit equivalent/);
  });
});
