// Hostile and mutated headers: the reader must only ever throw CheckpointError, and
// fail fast (no hang, no runaway memory) however the bytes are broken.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { headerLengthOf, parseSafetensorsHeader, readSafetensorsHeader } from '../../../server/src/checkpoints/safetensors.ts';
import { CheckpointError } from '../../../server/src/checkpoints/types.ts';
import type { CheckpointErrorCode } from '../../../server/src/checkpoints/types.ts';
import { fixtureDir, makeModel, rawSafetensors, safetensorsBytes } from '../../helpers/checkpoint-fixtures.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = fixtureDir()));
after(() => cleanup());

const VALID = safetensorsBytes(makeModel([
  { name: 'layer.0.weight', shape: [3, 4] },
  { name: 'layer.0.bias', shape: [4], dtype: 'F16' },
  { name: 'layer.1.weight', shape: [2, 2], dtype: 'BF16' },
  { name: 'count', shape: [2], dtype: 'I64' },
], { seed: 1 }), { metadata: { format: 'pt' } });

/** Parses a whole file held in memory, as readSafetensorsHeader does from disk. */
function parseBytes(bytes: Uint8Array): void {
  const n = headerLengthOf('mem.safetensors', bytes.subarray(0, 8), bytes.length);
  parseSafetensorsHeader('mem.safetensors', bytes.subarray(8, 8 + n), bytes.length);
}

/** Runs `parse`, failing on anything thrown that is not a CheckpointError; returns the time taken. */
function onlyCheckpointErrors(parse: () => void): number {
  const started = performance.now();
  try {
    parse();
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw new Error(`threw ${String(error)} instead of a CheckpointError`, { cause: error });
  }
  return performance.now() - started;
}

/** A hang guard, not a speed target: a case parses in well under a millisecond, but a GC pause on a loaded machine can take a few hundred. */
const PER_CASE_MS = 1000;

describe('mutated headers', () => {
  it('random byte flips, insertions and truncations only ever raise CheckpointError', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(VALID.length - 1), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(VALID.length - 1) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(VALID.length - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    const started = performance.now();
    fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
      let bytes = VALID.slice();
      for (const m of mutations) {
        if (m.kind === 'flip') bytes[m.at % bytes.length] = m.byte;
        else if (m.kind === 'truncate') bytes = bytes.subarray(0, m.at % (bytes.length + 1));
        else bytes = Uint8Array.from([...bytes.subarray(0, m.at), ...m.bytes, ...bytes.subarray(m.at)]);
      }
      assert.ok(onlyCheckpointErrors(() => parseBytes(bytes)) < PER_CASE_MS);
    }), { numRuns: 4000, seed: 42 });
    assert.ok(performance.now() - started < 30_000);
  });

  it('bogus JSON values in any field only ever raise CheckpointError', () => {
    const bogus = fc.oneof(
      fc.json().map((text) => text),
      fc.constantFrom('NaN', '-1', '1e309', '-0', '18446744073709551616', '2.5', '1e2', '"F32"', 'null', 'true', '[]', '{}',
        '[[[[[[[[]]]]]]]]', '[-1, 3]', '[3, 1]', '[0, 9007199254740993]', '"\\ud800"', '{"a":1,"a":2}'),
    );
    const header = JSON.parse(new TextDecoder().decode(VALID.subarray(8, 8 + Number(new DataView(VALID.buffer).getBigUint64(0, true))))) as Record<string, Record<string, unknown>>;
    const names = Object.keys(header);
    const fields = ['dtype', 'shape', 'data_offsets', 'extra'];
    const data = VALID.subarray(VALID.length - 64);
    fc.assert(fc.property(fc.nat(names.length - 1), fc.nat(fields.length - 1), bogus, fc.boolean(), (t, f, value, asKey) => {
      const name = names[t]!;
      const entries = Object.entries(header).map(([k, v]) => {
        if (k !== name) return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
        if (asKey) return `${value}:${JSON.stringify(v)}`;
        const body = Object.entries({ ...v, [fields[f]!]: '\u0000' }).map(([fk, fv]) => `${JSON.stringify(fk)}:${fv === '\u0000' ? value : JSON.stringify(fv)}`);
        return `${JSON.stringify(k)}:{${body.join(',')}}`;
      });
      const bytes = rawSafetensors(`{${entries.join(',')}}`, data);
      assert.ok(onlyCheckpointErrors(() => parseBytes(bytes)) < PER_CASE_MS);
    }), { numRuns: 3000, seed: 7 });
  });

  it('mutated files on disk only ever raise CheckpointError', async () => {
    const path = join(dir, 'mutated.safetensors');
    await fc.assert(fc.asyncProperty(fc.nat(VALID.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(VALID.length), async (at, byte, keep) => {
      const bytes = VALID.slice(0, Math.max(keep, 1));
      bytes[at % bytes.length] = byte;
      writeFileSync(path, bytes);
      await readSafetensorsHeader(path).catch((error: unknown) => {
        if (!(error instanceof CheckpointError)) throw error;
      });
    }), { numRuns: 300, seed: 3 });
  });
});

describe('hostile headers', () => {
  const json = (text: string) => new TextEncoder().encode(text);
  const rows: [string, () => Uint8Array, CheckpointErrorCode | 'accepted', number][] = [
    // Limits are generous for a loaded shared machine; on an idle one these take a fraction.
    ['50 MB of opening brackets', () => new Uint8Array(50_000_000).fill(0x5b).fill(0x7b, 0, 1), 'header-json', 5000],
    ['one key nested 100,000 objects deep', () => json(`{"a":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_001)}`), 'header-json', 2000],
    ['10^6 keys that are not tensors', () => json(`{${Array.from({ length: 1_000_000 }, (_, i) => `"k${i}":1`).join(',')}}`), 'header-schema', 30_000],
    ['10^6 distinct zero-size tensors', () => json(`{${Array.from({ length: 1_000_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')}}`), 'accepted', 60_000],
    ['10^6 entries then a duplicate key', () => json(`{${Array.from({ length: 1_000_000 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')},"t5":1}`), 'duplicate-key', 60_000],
    ['a 20 MB string key', () => json(`{"${'x'.repeat(20_000_000)}":1}`), 'header-schema', 5000],
    ['a shape of 10^6 ones', () => json(`{"a":{"dtype":"F32","shape":[${Array(1_000_000).fill(1).join(',')}],"data_offsets":[0,4]}}`), 'accepted', 10_000],
    ['a shape overflowing 2^53 with a zero at the end', () => json('{"a":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}'), 'bad-shape', 1000],
  ];
  for (const [name, make, expected, limitMs] of rows) {
    it(`${name}: ${expected === 'accepted' ? 'accepted' : expected} within ${limitMs} ms`, () => {
      const header = make();
      const fileSize = 8 + header.length + (expected === 'accepted' && name.includes('ones') ? 4 : 0);
      const started = performance.now();
      let outcome: string = 'accepted';
      try {
        parseSafetensorsHeader('hostile.safetensors', header, fileSize);
      } catch (error) {
        assert.ok(error instanceof CheckpointError, `threw ${String(error)}`);
        outcome = error.code;
      }
      const elapsed = performance.now() - started;
      assert.equal(outcome, expected);
      assert.ok(elapsed < limitMs, `took ${elapsed.toFixed(0)} ms`);
    });
  }
});
