// Every backend present computes the same outputs as the reference (`js`), for every
// chunk size: tiny chunks force multi-chunk tensors and multi-pass statistics; DARE
// masks are bit-identical everywhere, and so is everything the JS loops and the
// WebAssembly kernels compute.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { listBackends, runProgram } from '../../../server/src/engine/index.ts';
import type { BackendName } from '../../../server/src/engine/index.ts';
import { ProgramBuilder, readSafetensorsOutput, worstError } from './helpers.ts';
import type { ReadTensor } from './helpers.ts';

const SPECS = [
  { name: 'big', shape: [300, 256] }, // over the js-workers inline limit: really runs on the threads
  { name: 'mid', shape: [37, 29] },
  { name: 'small', shape: [5] },
];
const OUTPUTS = ['task-arithmetic', 'ties', 'prune-of-ties', 'dare', 'random', 'slerp'] as const;
/** Default chunk; chunks smaller than the tensors; one that splits the big tensor for the threads. */
const CHUNKS = [undefined, 1000, 70_000] as const;

type Outputs = Map<string, Map<string, ReadTensor>>;

describe('backends and chunk sizes agree', () => {
  const fixture = fixtureDir();
  const results = new Map<string, Outputs>();
  let usable: BackendName[] = [];

  before(async () => {
    usable = (await listBackends()).filter((b) => b.usable).map((b) => b.name);
    const base = makeModel(SPECS, { seed: 5 });
    const models = [base, ...[6, 7, 8].map((seed) => perturbModel(base, { seed, scale: 0.05 }))];
    const paths = models.map((m, i) => writeSafetensors(join(fixture.dir, `m${i}.safetensors`), m));
    for (const backend of usable) {
      for (const chunk of CHUNKS) {
        const pb = new ProgramBuilder(join(fixture.dir, 'recipe.tvr'));
        const [b, ...ft] = await Promise.all(paths.map((p) => pb.load(p)));
        const vectors = ft.map((m) => pb.diff(m!, b!));
        const ties = pb.ties(vectors, 0.2);
        const nodes = {
          'task-arithmetic': pb.combine([[1, b!], [0.4, vectors[0]!], [0.4, vectors[1]!], [-0.2, vectors[2]!]], 'model'),
          ties: pb.combine([[1, b!], [1, ties]], 'model'),
          'prune-of-ties': pb.prune(ties, 0.5),
          dare: pb.dare(vectors[0]!, 0.3, 42),
          random: pb.randomLike(vectors[1]!, 9),
          slerp: pb.slerp(ft[0]!, ft[2]!, 0.6),
        };
        const dir = join(fixture.dir, `${backend}-${chunk ?? 'default'}`);
        for (const name of OUTPUTS) pb.save(nodes[name], join(dir, `${name}.safetensors`));
        await runProgram(pb.program(), { backend, recipeText: 'backends', ...(chunk ? { chunkElements: chunk } : {}) });
        results.set(`${backend} chunk ${chunk ?? 'default'}`, new Map(OUTPUTS.map((name) => [name, readSafetensorsOutput(join(dir, `${name}.safetensors`)).tensors])));
      }
    }
  });
  after(() => fixture.cleanup());

  test('the backends this machine has include the JS loops and both tfjs backends', () => {
    for (const name of ['js', 'js-workers', 'tfjs-wasm', 'tfjs-cpu'] as const) assert.ok(usable.includes(name), `${name} should be usable here`);
  });

  test('every backend and chunk size matches js within float32 tolerance', () => {
    const reference = results.get('js chunk default')!;
    for (const [run, outputs] of results) {
      for (const name of OUTPUTS) {
        for (const spec of SPECS) {
          const got = outputs.get(name)!.get(spec.name)!.values;
          const want = reference.get(name)!.get(spec.name)!.values;
          const { error, index } = worstError(got, want, 1e-3);
          assert.ok(error <= 1e-5, `${run}, ${name}, ${spec.name}[${index}]: ${got[index]} vs ${want[index]}`);
        }
      }
    }
  });

  test('DARE masks are bit-identical on every backend and chunk size', () => {
    const reference = results.get('js chunk default')!.get('dare')!;
    for (const [run, outputs] of results) {
      for (const spec of SPECS) {
        const got = outputs.get('dare')!.get(spec.name)!.values;
        const want = reference.get(spec.name)!.values;
        const differs = want.findIndex((v, i) => (v === 0) !== (got[i] === 0));
        assert.equal(differs, -1, `${run}, ${spec.name}: mask differs at ${differs}`);
      }
    }
  });

  test('the JS loops (js) and the WebAssembly kernels (js-workers) give bit-identical results for every chunk size, statistics included', () => {
    const reference = results.get('js chunk default')!;
    for (const [run, outputs] of results) {
      if (!run.startsWith('js')) continue;
      for (const name of ['task-arithmetic', 'ties', 'prune-of-ties', 'dare'] as const) {
        for (const spec of SPECS) {
          assert.deepEqual(outputs.get(name)!.get(spec.name)!.bytes, reference.get(name)!.get(spec.name)!.bytes, `${run}, ${name}, ${spec.name}`);
        }
      }
    }
  });

  test('random_like draws the same direction on every backend and chunk size', () => {
    const reference = results.get('js chunk default')!.get('random')!;
    for (const [run, outputs] of results) {
      for (const spec of SPECS) {
        const got = outputs.get('random')!.get(spec.name)!.values;
        const want = reference.get(spec.name)!.values;
        // Same draws, same scale up to float32 rounding: the ratio is 1 everywhere.
        for (let i = 0; i < want.length; i++) {
          if (want[i] === 0) assert.equal(got[i], 0);
          else assert.ok(Math.abs(got[i]! / want[i]! - 1) < 1e-6, `${run}, ${spec.name}[${i}]: ${got[i]} vs ${want[i]}`);
        }
      }
    }
  });
});
