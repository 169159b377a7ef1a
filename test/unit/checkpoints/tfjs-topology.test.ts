// A TensorFlow.js topology is bounded when its header is read (issue 10, items 5 and 11):
// nested 20,000 deep (which overflowed the stack in JSON.stringify and tfjs-layers) or
// declaring sizes no weight backs (3M units over a 4 x 5 kernel, which allocated 3.2 GB
// before failing) is a bad checkpoint with a precise message, and `check` says so.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTfjsHeader } from '../../../server/src/checkpoints/tfjs.ts';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { MAX_MODEL_JSON_DEPTH } from '../../../server/src/checkpoints/tfjs-topology.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { fixtureDir, makeModel, mlpSpecs, mlpTopology, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const sizes = [4, 5, 2];
const weights = makeModel(mlpSpecs(sizes), { seed: 3 });

/** The fixture MLP's topology with its first layer's config changed. */
function withFirstLayer(change: Record<string, unknown>): Record<string, unknown> {
  const topology = mlpTopology(sizes) as { config: { layers: { config: Record<string, unknown> }[] } };
  const [first, ...rest] = topology.config.layers;
  return { ...topology, config: { ...topology.config, layers: [{ ...first, config: { ...first!.config, ...change } }, ...rest] } };
}

const NESTED = '__nested__';

/** A topology whose first layer's config holds a value nested (written by `writeModel`: JSON.stringify would overflow the stack). */
function nested(): Record<string, unknown> {
  return withFirstLayer({ extra: NESTED });
}

/** Writes the model; the `NESTED` placeholder becomes a value nested `depth` objects deep. */
function writeModel(name: string, topology: Record<string, unknown>, depth = 0): string {
  const path = writeTfjsModel(join(dir, name.replace(/\W+/g, '-')), weights, { topology });
  writeFileSync(path, readFileSync(path, 'utf8').replace(JSON.stringify(NESTED), `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
  return path;
}

const BAD: readonly { name: string; topology: () => Record<string, unknown>; depth?: number; message: RegExp }[] = [
  { name: 'a topology nested 20,000 deep', topology: nested, depth: 20_000, message: new RegExp(`nests objects and arrays more than ${MAX_MODEL_JSON_DEPTH} deep`) },
  { name: 'a Dense layer of 3M units over a 4 x 5 kernel', topology: () => withFirstLayer({ units: 3_000_000 }), message: /layer "dense1" \(Dense\) declares units 3000000, but no weight in the weightsManifest has a dimension of 3000000 \(sizes without a weight are accepted up to 16384\)/ },
  { name: 'units that are not a positive integer', topology: () => withFirstLayer({ units: -5 }), message: /declares units -5; a size must be a positive integer/ },
  { name: 'an input of 1e9 values per example', topology: () => withFirstLayer({ batch_input_shape: [null, 1_000_000_000] }), message: /declares batch_input_shape \[null, 1000000000\]: 1000000000 values per example, more than the 67108864/ },
  { name: 'an input shape that is not a list of sizes', topology: () => withFirstLayer({ batch_input_shape: [null, 'x'] }), message: /an input shape is a list of positive integers or null/ },
];

describe('TensorFlow.js topology bounds', () => {
  for (const bad of BAD) {
    it(`${bad.name}: a bad checkpoint, found when the header is read`, async () => {
      const path = writeModel(bad.name, bad.topology(), bad.depth);
      await assert.rejects(readTfjsHeader(path), (e: unknown) => {
        assert.ok(e instanceof CheckpointError, String(e));
        assert.equal(e.code, 'bad-manifest');
        assert.match(e.message, bad.message);
        return true;
      });
    });
  }

  it('a nesting just within the limit, the declared sizes of a real MLP, and a small layer whose weights were left out are accepted', async () => {
    await readTfjsHeader(writeModel('unbacked', withFirstLayer({ units: 300 })));
    const path = writeModel('fine', nested(), MAX_MODEL_JSON_DEPTH - 10);
    const header = await readTfjsHeader(path);
    assert.deepEqual([...header.tensors.keys()], weights.tensors.map((t) => t.name));
  });

  it('`check` reports a head of 3M declared units as a bad checkpoint on its load line', async () => {
    writeModel('huge-head', withFirstLayer({ units: 3_000_000 }));
    const recipe = join(dir, 'huge.tvr');
    writeFileSync(recipe, 'head = load("huge-head/model.json")\nsave(head, "out.safetensors")\n');
    const analysis = await analyzeFile(readFileSync(recipe, 'utf8'), recipe, new HeaderCache());
    const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors.map((d) => d.message)));
    assert.equal(errors[0]!.code, 'bad-checkpoint');
    assert.match(errors[0]!.message, /declares units 3000000/);
    assert.equal(analysis.lines.position(errors[0]!.span.start).line, 0);
  });
});
