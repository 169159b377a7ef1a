// Robustness of checking against broken checkpoints: mutated safetensors headers (length
// prefix, bytes, JSON structure), mutated sharded indexes and TensorFlow.js manifests,
// written as real files and loaded by a recipe through the real header reader. The
// checker must report `bad-checkpoint` on the path (or nothing, when the mutation left a
// valid file), never throw, never hang; hovers and completions on the result still work.
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { fixtureDir, namedPipes, rawSafetensors } from '../../helpers/checkpoint-fixtures.ts';
import { runEveryQuery } from '../../helpers/recipe-fuzz.ts';
import { writeRecipeWorkspace } from '../../helpers/recipe-fixtures.ts';

const boundMs = 2000;

type JsonEdit =
  | { readonly kind: 'dtype'; readonly nth: number; readonly value: unknown }
  | { readonly kind: 'shape'; readonly nth: number; readonly value: unknown }
  | { readonly kind: 'offsets'; readonly nth: number; readonly value: unknown }
  | { readonly kind: 'drop'; readonly nth: number }
  | { readonly kind: 'metadata'; readonly value: unknown }
  | { readonly kind: 'rename'; readonly nth: number; readonly name: string }
  | { readonly kind: 'duplicate'; readonly nth: number }
  | { readonly kind: 'replace'; readonly text: string };

const weird = fc.oneof(
  fc.constantFrom('F32', 'F16', 'BF16', 'F64', 'I64', 'BOOL', 'U8', 'F8_E4M3', 'f32', '', 'Q4'),
  fc.constantFrom(-1, 0, 1, 1.5, 2 ** 53, 1e308, null, true, [], {}, [[2]], ['4']),
  fc.array(fc.oneof(fc.integer({ min: -2, max: 20 }), fc.constantFrom(2 ** 31, 2 ** 53, 0.5)), { maxLength: 5 }),
);

const jsonEditArbitrary: fc.Arbitrary<JsonEdit> = fc.oneof(
  fc.record({ kind: fc.constant('dtype' as const), nth: fc.nat(), value: weird }),
  fc.record({ kind: fc.constant('shape' as const), nth: fc.nat(), value: weird }),
  fc.record({ kind: fc.constant('offsets' as const), nth: fc.nat(), value: fc.oneof(weird, fc.tuple(fc.integer({ min: -8, max: 2000 }), fc.integer({ min: -8, max: 2000 }))) }),
  fc.record({ kind: fc.constant('drop' as const), nth: fc.nat() }),
  fc.record({ kind: fc.constant('metadata' as const), value: fc.oneof(weird, fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer()))) }),
  fc.record({ kind: fc.constant('rename' as const), nth: fc.nat(), name: fc.oneof(fc.string(), fc.constantFrom('__metadata__', '', 'encoder/kernel')) }),
  fc.record({ kind: fc.constant('duplicate' as const), nth: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), text: fc.oneof(fc.constantFrom('', '{', '[]', 'null', '{}', `${'['.repeat(10_000)}`, `{"a":${'['.repeat(5000)}0${']'.repeat(5000)}}`), fc.string()) }),
);

/** Applies a structural edit to a safetensors JSON header, returning JSON text. */
function editHeader(header: Record<string, unknown>, edit: JsonEdit): string {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = (nth: number) => header[names[nth % names.length]!] as Record<string, unknown>;
  switch (edit.kind) {
    case 'dtype': entry(edit.nth)['dtype'] = edit.value; break;
    case 'shape': entry(edit.nth)['shape'] = edit.value; break;
    case 'offsets': entry(edit.nth)['data_offsets'] = edit.value; break;
    case 'drop': delete header[names[edit.nth % names.length]!]; break;
    case 'metadata': header['__metadata__'] = edit.value; break;
    case 'rename': {
      const old = names[edit.nth % names.length]!;
      const value = header[old];
      delete header[old];
      header[edit.name] = value;
      break;
    }
    case 'duplicate': {
      const name = names[edit.nth % names.length]!;
      const text = JSON.stringify(header);
      return `${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(header[name])}}`;
    }
    case 'replace': return edit.text;
  }
  return JSON.stringify(header);
}

type FileMutation =
  | { readonly kind: 'json'; readonly edits: readonly JsonEdit[] }
  | { readonly kind: 'length'; readonly value: bigint }
  | { readonly kind: 'flip'; readonly at: number; readonly value: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'append'; readonly bytes: Uint8Array };

const fileMutationArbitrary: fc.Arbitrary<FileMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('json' as const), edits: fc.array(jsonEditArbitrary, { minLength: 1, maxLength: 3 }) }) },
  fc.record({ kind: fc.constant('length' as const), value: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 1n, 7n, 100_000_001n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n)) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }) },
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

function mutateSafetensors(original: Uint8Array, mutation: FileMutation): Uint8Array {
  if (original.length < 8 && (mutation.kind === 'json' || mutation.kind === 'length')) return original;
  switch (mutation.kind) {
    case 'json': {
      const headerLength = Number(new DataView(original.buffer, original.byteOffset, 8).getBigUint64(0, true));
      const json = new TextDecoder().decode(original.subarray(8, 8 + headerLength));
      let text = json;
      for (const edit of mutation.edits) {
        let header: Record<string, unknown>;
        try {
          header = JSON.parse(text) as Record<string, unknown>;
        } catch {
          break;
        }
        if (typeof header !== 'object' || header === null || Array.isArray(header) || Object.keys(header).length === 0) break;
        try {
          text = editHeader(header, edit);
        } catch {
          break; // too deep to serialise again: keep the text as it is
        }
      }
      return rawSafetensors(text, original.subarray(8 + headerLength));
    }
    case 'length': {
      const copy = original.slice();
      new DataView(copy.buffer).setBigUint64(0, mutation.value, true);
      return copy;
    }
    case 'flip': {
      const copy = original.slice();
      copy[mutation.at % copy.length] = mutation.value;
      return copy;
    }
    case 'truncate': return original.slice(0, mutation.at % original.length);
    case 'append': {
      const copy = new Uint8Array(original.length + mutation.bytes.length);
      copy.set(original);
      copy.set(mutation.bytes, original.length);
      return copy;
    }
  }
}

/** A JSON file (index or manifest) mutated as text or structurally. */
const jsonTextMutationArbitrary = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), char: fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '0', 'x', ' ', '\\') }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), path: fc.array(fc.oneof(fc.nat(3), fc.constantFrom('weight_map', 'metadata', 'total_size', 'weightsManifest', 'paths', 'weights', 'shape', 'dtype', 'name', 'modelTopology', 'format')), { minLength: 1, maxLength: 4 }), value: fc.oneof(weird, fc.constantFrom('missing.safetensors', '../base.safetensors', 'model.safetensors.index.json', '.', '/', 'model.json', 'group1-shard1of3.bin', 'float16', 'string')) }),
);

type JsonTextMutation = typeof jsonTextMutationArbitrary extends fc.Arbitrary<infer T> ? T : never;

function mutateJsonText(text: string, mutation: JsonTextMutation): string {
  switch (mutation.kind) {
    case 'flip': {
      const at = mutation.at % text.length;
      return text.slice(0, at) + mutation.char + text.slice(at + 1);
    }
    case 'truncate': return text.slice(0, mutation.at % text.length);
    case 'set': {
      const root = JSON.parse(text) as unknown;
      let node = root as Record<string | number, unknown>;
      for (const key of mutation.path.slice(0, -1)) {
        const next = Array.isArray(node) ? node[Number(key) % Math.max(1, node.length)] : node[Object.keys(node).includes(String(key)) ? key : Object.keys(node)[Number(key) % Math.max(1, Object.keys(node).length)] ?? key];
        if (typeof next !== 'object' || next === null) break;
        node = next as Record<string | number, unknown>;
      }
      const last = mutation.path.at(-1)!;
      const keys = Object.keys(node);
      node[typeof last === 'number' && keys.length > 0 ? keys[last % keys.length]! : last] = mutation.value;
      return JSON.stringify(root);
    }
  }
}

describe('checking recipes that load broken checkpoints', () => {
  const { dir, cleanup } = fixtureDir();
  writeRecipeWorkspace(dir);
  after(cleanup);
  let files = 0;

  /** Loads `relative` in a recipe through a fresh header cache; returns the codes reported on its path. */
  async function checkLoad(relative: string, allowed: readonly string[]): Promise<void> {
    const recipe = `m = load("${relative}")\nt = m - m\nsave(m + 0.5*t, "out/o.safetensors")\n`;
    const started = performance.now();
    const analysis = await analyzeFile(recipe, join(dir, 'r.tvr'), new HeaderCache());
    const elapsed = performance.now() - started;
    assert.ok(elapsed < boundMs, `checking took ${elapsed.toFixed(0)} ms`);
    const pathSpan = { start: recipe.indexOf('"'), end: recipe.indexOf(')') };
    for (const d of analysis.diagnostics) {
      if (d.code === 'unused-binding' || d.code === 'non-float-tensors' || (d.code === 'invalid-operation' && /cancel out/.test(d.message))) continue;
      assert.ok(allowed.includes(d.code), `unexpected ${d.code} for ${relative}: ${d.message}`);
      assert.deepEqual(d.span, pathSpan, `${d.code} must point at the path: ${d.message}`);
      assert.ok(d.message.length > 20 && !d.message.includes('[object'), `a precise message: ${d.message}`);
    }
    for (const offset of [0, 4, 12, recipe.indexOf('t ='), recipe.length]) runEveryQuery(analysis, offset, {});
  }

  it('reports bad-checkpoint for mutated safetensors files, never throwing or hanging', async () => {
    const original = readFileSync(join(dir, 'base.safetensors'));
    await fc.assert(fc.asyncProperty(fc.array(fileMutationArbitrary, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const name = `mutated-${files++}.safetensors`;
      writeFileSync(join(dir, name), mutations.reduce(mutateSafetensors, new Uint8Array(original)));
      await checkLoad(name, ['bad-checkpoint']);
    }), { numRuns: 1000 });
  });

  it('reports mutated sharded indexes on the path', async () => {
    const original = readFileSync(join(dir, 'sharded/model.safetensors.index.json'), 'utf8');
    await fc.assert(fc.asyncProperty(fc.array(jsonTextMutationArbitrary, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const folder = `sharded-${files++}`;
      cpSync(join(dir, 'sharded'), join(dir, folder), { recursive: true });
      let text = original;
      for (const m of mutations) {
        try {
          text = mutateJsonText(text, m);
        } catch {
          break; // the text is no longer JSON: structural edits stop here
        }
      }
      writeFileSync(join(dir, folder, 'model.safetensors.index.json'), text);
      // A shard named by the index may be missing: that is a file-not-found.
      await checkLoad(`${folder}/model.safetensors.index.json`, ['bad-checkpoint', 'file-not-found']);
    }), { numRuns: 300 });
  });

  it('reports mutated TensorFlow.js manifests on the path', async () => {
    const original = readFileSync(join(dir, 'tfjs/base/model.json'), 'utf8');
    await fc.assert(fc.asyncProperty(fc.array(jsonTextMutationArbitrary, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const folder = `tfjs-${files++}`;
      cpSync(join(dir, 'tfjs/base'), join(dir, folder), { recursive: true });
      let text = original;
      for (const m of mutations) {
        try {
          text = mutateJsonText(text, m);
        } catch {
          break;
        }
      }
      writeFileSync(join(dir, folder, 'model.json'), text);
      await checkLoad(`${folder}/model.json`, ['bad-checkpoint', 'file-not-found']);
    }), { numRuns: 300 });
  });

  it('refuses a named pipe at once instead of waiting for a writer', { timeout: 10_000 }, async (t) => {
    mkdirSync(join(dir, 'piped'));
    const pipes = ['pipe.safetensors', 'pipe.safetensors.index.json', 'piped/model.json'];
    t.after(namedPipes(pipes.map((pipe) => join(dir, pipe))).release);
    for (const pipe of pipes) {
      const analysis = await analyzeFile(`m = load("${pipe}")\nsave(m, "out/o.safetensors")\n`, join(dir, 'r.tvr'), new HeaderCache());
      assert.deepEqual(analysis.diagnostics.map((d) => d.code), ['bad-checkpoint'], pipe);
      assert.match(analysis.diagnostics[0]!.message, /is not a regular file \(a pipe, socket or device\)/);
    }
  });

  it('reports a checkpoint that is a directory, a pickle, or an empty file', async () => {
    copyFileSync(join(dir, 'base.safetensors'), join(dir, 'weights.bin'));
    writeFileSync(join(dir, 'empty.safetensors'), '');
    for (const path of ['weights.bin', 'empty.safetensors', 'half']) await checkLoad(path, ['bad-checkpoint']);
  });
});
