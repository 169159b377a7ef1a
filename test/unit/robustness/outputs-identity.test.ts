// Outputs compared with inputs by where they lead, not by how they are written: a
// symlinked folder, a hard link or a folder holding an input is the input; the results
// file never replaces an input; saves stay inside the recipe's folder unless allowed.
// Each case is checked twice: by `tvr check` (the checker, diagnostics) and by the run's
// own output check (the engine, before anything is written).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { checkOutputs, resolveOutput } from '../../../server/src/engine/outputs.ts';
import { planSaves } from '../../../server/src/engine/plan/build.ts';
import { analyzeFile, type AnalysisOptions } from '../../../server/src/language/analysis.ts';
import { writeResultsFile } from '../../../server/src/results/file.ts';
import type { RunResults } from '../../../server/src/results/schema.ts';
import { fixtureDir, makeModel, mlpSpecs, writeSafetensors, writeShardedSafetensors, writeTfjsModel } from '../../helpers/checkpoint-fixtures.ts';

const CLI = join(import.meta.dirname, '../../../server/src/cli/main.ts');

describe('outputs by identity', () => {
  const fixture = fixtureDir();
  const outside = fixtureDir();
  const dir = join(fixture.dir, 'recipes');
  const results = join(fixture.dir, 'results');
  const model = makeModel(mlpSpecs([4, 3]), { seed: 1 });
  before(() => {
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeSafetensors(join(dir, 'base.safetensors'), model);
    writeSafetensors(join(dir, 'sub', 'base.safetensors'), model);
    // A TensorFlow.js model whose model.json is named like a results file; the recipe's folder is its folder.
    writeTfjsModel(results, model);
    renameSync(join(results, 'model.json'), join(results, 'coll.results.json'));
    writeShardedSafetensors(join(dir, 'sharded'), model, { shards: 2 });
    writeTfjsModel(join(dir, 'tfjs'), model);
    symlinkSync('.', join(dir, 'selflink'));
    symlinkSync(outside.dir, join(dir, 'outlink'));
    linkSync(join(dir, 'base.safetensors'), join(dir, 'hard.safetensors'));
  });
  after(() => {
    fixture.cleanup();
    outside.cleanup();
  });

  async function analyze(recipe: string, text: string, options: AnalysisOptions = {}, folder = dir) {
    return analyzeFile(text, join(folder, recipe), new HeaderCache(), options);
  }

  /** The run's output check on the same recipe: undefined when it passes, else its message. */
  async function runCheck(recipe: string, text: string): Promise<string | undefined> {
    const analysis = await analyze(recipe, text, { allowOutputsOutside: true });
    const program = analysis.checked.program;
    const plans = planSaves(program, new Map());
    try {
      await checkOutputs(program, plans, plans.map((p) => resolveOutput(p, program)), false, {});
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  const codes = (analysis: Awaited<ReturnType<typeof analyze>>) => analysis.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code);

  const clashes: readonly { name: string; text: string; run: RegExp }[] = [
    { name: 'a file through a symlinked folder', text: 'b = load("base.safetensors")\nsave(b, "selflink/base.safetensors", overwrite=true)\n', run: /would overwrite .*base\.safetensors, an input/ },
    { name: 'a TensorFlow.js model folder through a symlinked folder', text: 't = load("tfjs")\nsave(t, "selflink/tfjs", overwrite=true)\n', run: /would overwrite .*tfjs.*, an input/ },
    { name: 'a sharded model folder through a symlinked folder', text: 's = load("sharded/model.safetensors.index.json")\nsave(s, "selflink/sharded", shard_size="1KB", overwrite=true)\n', run: /would overwrite .*sharded.*, an input/ },
    { name: 'a hard link to the input (the same file)', text: 'b = load("base.safetensors")\nsave(b, "hard.safetensors", overwrite=true)\n', run: /would overwrite .*base\.safetensors, an input/ },
    { name: 'a folder output that holds an input', text: 'b = load("sub/base.safetensors")\nsave(b, "sub", shard_size="1KB", overwrite=true)\n', run: /would overwrite .*sub.*base\.safetensors, an input/ },
    { name: 'an output inside an input model folder', text: 't = load("tfjs/model.json")\nsave(t, "tfjs/extra.safetensors")\n', run: /inside .*tfjs, the folder of an input model/ },
  ];

  for (const c of clashes) {
    test(`check: ${c.name} is an input`, async () => {
      const analysis = await analyze('r.tvr', c.text);
      assert.deepEqual(codes(analysis), ['output-is-input'], analysis.diagnostics.map((d) => d.message).join('\n'));
    });
    test(`run: ${c.name} is an input`, async () => {
      assert.match((await runCheck('r.tvr', c.text)) ?? 'passed', c.run);
    });
  }

  test('check: a recipe whose results file would replace one of its inputs', async () => {
    const analysis = await analyze('coll.tvr', 'm = load("coll.results.json")\nsave(m, "out/m")\n', {}, results);
    assert.deepEqual(codes(analysis), ['output-is-input'], analysis.diagnostics.map((d) => d.message).join('\n'));
    assert.match(analysis.diagnostics[0]!.message, /coll\.results\.json is where a run of this recipe writes its results file/);
    assert.equal(analysis.lines.position(analysis.diagnostics[0]!.span.start).line, 0, 'reported at the load');
    assert.deepEqual(codes(await analyze('other.tvr', 'm = load("coll.results.json")\nsave(m, "out/m")\n', {}, results)), [], 'another recipe may load it');
  });

  test('check: through a symlink, the results file is still the input', async () => {
    symlinkSync('.', join(results, 'alias'));
    const analysis = await analyze('coll.tvr', 'm = load("alias/coll.results.json")\n', {}, results);
    assert.deepEqual(codes(analysis), ['output-is-input']);
  });

  test('run: the results file never replaces a file that is not a results file', async () => {
    const input = join(results, 'coll.results.json');
    const before = readFileSync(input);
    await assert.rejects(writeResultsFile(input, { schemaVersion: 1 } as unknown as RunResults), /refusing to replace .*coll\.results\.json .*not a tvr results file/);
    assert.deepEqual(readFileSync(input), before, 'the input is unchanged');
    const fresh = join(results, 'fresh.results.json');
    await writeResultsFile(fresh, { schemaVersion: 1, status: 'running' } as unknown as RunResults);
    await writeResultsFile(fresh, { schemaVersion: 1, status: 'done' } as unknown as RunResults);
    assert.equal(JSON.parse(readFileSync(fresh, 'utf8')).status, 'done', 'an earlier results file is replaced');
  });

  const places: readonly { name: string; path: () => string; refused: readonly string[]; allowed?: readonly string[] }[] = [
    { name: 'a path inside the folder', path: () => 'out/x.safetensors', refused: [] },
    { name: 'an absolute path outside', path: () => join(outside.dir, 'abs.safetensors'), refused: ['output-outside-folder'] },
    { name: 'a path up and out with ..', path: () => '../../x.safetensors', refused: ['output-outside-folder'] },
    { name: 'a symlink leading out', path: () => 'outlink/x.safetensors', refused: ['output-outside-folder'] },
    { name: 'the recipe folder itself', path: () => '.', refused: ['output-outside-folder', 'output-is-input'], allowed: ['output-is-input'] },
  ];

  for (const p of places) {
    test(`check: ${p.name}: ${p.refused.join(', ') || 'accepted'}`, async () => {
      const text = `b = load("base.safetensors")\nsave(b, "${p.path()}")\n`;
      const analysis = await analyze('r.tvr', text);
      assert.deepEqual(codes(analysis), p.refused, analysis.diagnostics.map((d) => d.message).join('\n'));
      if (p.refused.includes('output-outside-folder')) {
        assert.match(analysis.diagnostics[0]!.message, /outside the recipe's folder.*--allow-outputs-outside/);
        assert.deepEqual(codes(await analyze('r.tvr', text, { allowOutputsOutside: true })), p.allowed ?? [], 'allowed explicitly');
      }
    });
  }

  test('run: an output leading out of the recipe folder is refused unless allowed', async () => {
    const text = 'b = load("base.safetensors")\nsave(b, "outlink/x.safetensors")\n';
    const analysis = await analyze('r.tvr', text, { allowOutputsOutside: true });
    const program = analysis.checked.program;
    const plans = planSaves(program, new Map());
    const targets = plans.map((p) => resolveOutput(p, program));
    await assert.rejects(checkOutputs(program, plans, targets, false, { confine: true }), /\(it leads to .*x\.safetensors\) is outside the recipe's folder/);
    await checkOutputs(program, plans, targets, false, {});
    assert.ok(!existsSync(join(outside.dir, 'x.safetensors')), 'checking writes nothing');
  });
});

describe('saves outside the recipe folder, from the command line', () => {
  const fixture = fixtureDir();
  const dir = join(fixture.dir, 'work');
  const model = makeModel(mlpSpecs([4, 3]), { seed: 2 });
  const escaped = join(fixture.dir, 'escaped.safetensors');
  before(() => {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, 'base.safetensors'), model);
    writeFileSync(join(dir, 'out.tvr'), 'b = load("base.safetensors")\nsave(b, "../escaped.safetensors")\n');
    writeTfjsModel(join(dir, 'tj'), model);
    renameSync(join(dir, 'tj', 'model.json'), join(dir, 'tj', 'coll.results.json'));
    writeFileSync(join(dir, 'tj', 'coll.tvr'), 'm = load("coll.results.json")\nsave(m, "copy.safetensors")\n');
  });
  after(() => fixture.cleanup());

  /** The CLI from source, in the recipe's folder. */
  function tvr(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  test('tvr check reports the save, and accepts it with --allow-outputs-outside', () => {
    const refused = tvr('check', 'out.tvr');
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /output-outside-folder/);
    assert.equal(tvr('check', '--allow-outputs-outside', 'out.tvr').status, 0);
  });

  for (const untrusted of [false, true]) {
    test(`tvr run${untrusted ? ' --untrusted' : ''} refuses the save and writes nothing`, () => {
      const run = tvr('run', 'out.tvr', '--backend', 'js', ...(untrusted ? ['--untrusted'] : []));
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /outside the recipe's folder/);
      assert.ok(!existsSync(escaped));
    });
  }

  test('tvr run --untrusted --allow-outputs-outside is refused before anything runs', () => {
    const run = tvr('run', 'out.tvr', '--backend', 'js', '--untrusted', '--allow-outputs-outside');
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--allow-outputs-outside is refused with --untrusted/);
    assert.ok(!existsSync(escaped));
    assert.ok(!existsSync(join(dir, 'out.results.json')), 'not even a results file');
  });

  test('tvr run --allow-outputs-outside writes the save where it says', () => {
    const run = tvr('run', 'out.tvr', '--backend', 'js', '--allow-outputs-outside');
    assert.equal(run.status, 0, run.stderr);
    assert.ok(existsSync(escaped));
    rmSync(escaped);
  });

  test('tvr run of a recipe that loads its own results file leaves the input alone', () => {
    const input = join(dir, 'tj', 'coll.results.json');
    const before = readFileSync(input);
    const run = tvr('run', join('tj', 'coll.tvr'), '--backend', 'js');
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /output-is-input|where a run of this recipe writes its results file/);
    assert.deepEqual(readFileSync(input), before);
  });
});

describe('files a model lists, leaving its folder', () => {
  const fixture = fixtureDir();
  const model = makeModel(mlpSpecs([4, 3]), { seed: 3 });
  after(() => fixture.cleanup());

  test('a TensorFlow.js weight path with .. or an absolute name is refused', async () => {
    const dir = join(fixture.dir, 'tj');
    const modelJson = writeTfjsModel(dir, model);
    const manifest = JSON.parse(readFileSync(modelJson, 'utf8'));
    for (const name of ['../elsewhere.bin', join(fixture.dir, 'abs.bin')]) {
      manifest.weightsManifest[0].paths = [name];
      writeFileSync(modelJson, JSON.stringify(manifest));
      await assert.rejects(new HeaderCache().get(modelJson), /is not a file name inside the model's directory/);
    }
  });

  // Documented, not refused: the Hugging Face cache links every file of a snapshot into ../../blobs.
  test('shards that are symlinks out of the folder (the Hugging Face cache layout) load', async () => {
    const blobs = join(fixture.dir, 'hub', 'blobs');
    const snapshot = join(fixture.dir, 'hub', 'snapshots', 'rev');
    const stored = join(fixture.dir, 'stored');
    writeShardedSafetensors(stored, model, { shards: 2 });
    mkdirSync(blobs, { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    for (const name of ['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      renameSync(join(stored, name), join(blobs, `blob-${name}`));
      symlinkSync(join('..', '..', 'blobs', `blob-${name}`), join(snapshot, name));
    }
    const header = await new HeaderCache().get(join(snapshot, 'model.safetensors.index.json'));
    assert.equal(header.tensors.size, model.tensors.length);
  });
});
