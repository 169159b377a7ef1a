// Single-file safetensors headers, validated as strictly as the reference
// implementation: length prefix, UTF-8 JSON object, no duplicate keys, known dtypes,
// integer shapes, offsets contiguous from 0, spans matching shape x dtype, and a data
// buffer that ends exactly at the end of the file.
import type { FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DTYPE_BYTES, isDtype, ALL_DTYPES } from './dtypes.ts';
import { checkpointError, readFailure } from './errors.ts';
import { openRegularFile } from './open-input.ts';
import { describeJson, isJsonObject, JsonNumber, parseJsonValueAt, readJsonString, skipJsonSpace, StrictJsonError } from './strict-json.ts';
import type { JsonValue } from './strict-json.ts';
import type { CheckpointHeader, Dtype, TensorEntry } from './types.ts';

/** The reference implementation's limit on the JSON header. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Legitimate headers nest 3 deep (header, entry, shape); anything far deeper is hostile. */
const MAX_JSON_DEPTH = 64;

export interface ParsedSafetensors {
  /** In storage order (by data offset). */
  readonly tensors: readonly TensorEntry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Bytes the file must have: 8 + header + data buffer. */
  readonly expectedFileSize: number;
}

/** Validates the 8-byte little-endian header length against the limit and the file size. */
export function headerLengthOf(file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.byteLength < 8) {
    throw checkpointError('header-length', file, `file is ${fileSize} bytes, too short for the 8-byte header length of a safetensors file`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n === 0n) throw checkpointError('header-length', file, 'header length is 0: the JSON header is missing');
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw checkpointError('header-length', file, `header length ${n} exceeds the ${MAX_HEADER_BYTES.toLocaleString('en-US')}-byte limit (not a safetensors file, or a corrupt one)`);
  }
  if (n > BigInt(fileSize - 8)) {
    throw checkpointError('header-length', file, `header length ${n} is larger than the ${fileSize - 8} bytes that follow it in the file`);
  }
  return Number(n);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A tensor entry as written by every common writer (compact JSON): matched natively, no tree built. */
const COMPACT_ENTRY = /\{"dtype":"([A-Z0-9_]+)","shape":\[((?:0|[1-9][0-9]{0,15})(?:,(?:0|[1-9][0-9]{0,15}))*)?\],"data_offsets":\[(0|[1-9][0-9]{0,15}),(0|[1-9][0-9]{0,15})\]\}/y;

interface CompactEntry {
  readonly dtype: Dtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** The compact entry at `pos`, when it is one whose numbers are all exact; otherwise undefined. */
function compactEntryAt(text: string, pos: number): { entry: CompactEntry; end: number } | undefined {
  COMPACT_ENTRY.lastIndex = pos;
  const match = COMPACT_ENTRY.exec(text);
  if (!match || !isDtype(match[1]!)) return undefined;
  const shape = match[2] ? match[2].split(',').map(Number) : [];
  const begin = Number(match[3]);
  const end = Number(match[4]);
  if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || !shape.every(Number.isSafeInteger)) return undefined;
  return { entry: { dtype: match[1], shape, begin, end }, end: pos + match[0].length };
}

/**
 * The root object's members in order, each value either a compact tensor entry or a
 * general JSON value. Root keys are checked for duplicates here; nested objects by the
 * JSON parser. Throws StrictJsonError.
 */
function parseRoot(text: string): [string, CompactEntry | JsonValue][] {
  const members: [string, CompactEntry | JsonValue][] = [];
  const seen = new Set<string>();
  const syntax = (message: string, at: number) => new StrictJsonError('syntax', at, `${message} at offset ${at}`);
  let pos = skipJsonSpace(text, 1); // text[0] is '{'
  if (text[pos] === '}') pos++;
  else {
    for (;;) {
      if (text[pos] !== '"') throw syntax(`expected a string key, found ${describeChar(text, pos)}`, pos);
      const keyAt = pos;
      const key = readJsonString(text, pos);
      if (seen.has(key.value)) throw new StrictJsonError('duplicate-key', keyAt, `duplicate key at offset ${keyAt}`, key.value);
      seen.add(key.value);
      pos = skipJsonSpace(text, key.end);
      if (text[pos] !== ':') throw syntax(`expected ':' after key, found ${describeChar(text, pos)}`, pos);
      pos = skipJsonSpace(text, pos + 1);
      const compact = key.value === '__metadata__' ? undefined : compactEntryAt(text, pos);
      if (compact) {
        members.push([key.value, compact.entry]);
        pos = compact.end;
      } else {
        const parsed = parseJsonValueAt(text, pos, MAX_JSON_DEPTH, 1);
        members.push([key.value, parsed.value]);
        pos = parsed.end;
      }
      pos = skipJsonSpace(text, pos);
      if (text[pos] === ',') { pos = skipJsonSpace(text, pos + 1); continue; }
      if (text[pos] === '}') { pos++; break; }
      throw syntax(`expected ',' or '}', found ${describeChar(text, pos)}`, pos);
    }
  }
  pos = skipJsonSpace(text, pos);
  if (pos !== text.length) throw syntax(`unexpected ${describeChar(text, pos)} after the value`, pos);
  return members;
}

function describeChar(text: string, at: number): string {
  return at >= text.length ? 'end of input' : `'${JSON.stringify(text[at]!).slice(1, -1)}'`;
}

function isCompactEntry(value: CompactEntry | JsonValue): value is CompactEntry {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof JsonNumber);
}

/**
 * Validates the JSON header (the N bytes after the length prefix) of a file of
 * `fileSize` bytes. Throws only CheckpointError.
 */
export function parseSafetensorsHeader(file: string, json: Uint8Array, fileSize: number): ParsedSafetensors {
  let text: string;
  try {
    text = utf8.decode(json);
  } catch {
    throw checkpointError('header-json', file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) {
    throw checkpointError('header-json', file, `header must start with '{', found ${JSON.stringify(text.slice(0, 16))}`);
  }
  let members: [string, CompactEntry | JsonValue][];
  try {
    members = parseRoot(text);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    if (error.kind === 'duplicate-key') {
      throw checkpointError('duplicate-key', file, `header lists ${JSON.stringify(error.key)} twice (at offset ${error.offset}); JSON readers would silently keep only the last`);
    }
    throw checkpointError('header-json', file, `header is not valid JSON: ${error.message}`);
  }

  const dataStart = 8 + json.byteLength;
  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of members) {
    if (name === '__metadata__') {
      metadata = metadataOf(file, value as JsonValue);
      continue;
    }
    entries.push(isCompactEntry(value)
      ? checkedEntry(file, name, value.dtype, value.shape, value.begin, value.end, dataStart)
      : tensorEntryOf(file, name, value, dataStart));
  }
  // Storage order is offset order; JSON order is arbitrary (older writers sort by name).
  entries.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  let end = 0;
  let previous: TensorEntry | undefined;
  for (const entry of entries) {
    const begin = entry.offset - dataStart;
    if (begin !== end) throw offsetsError(file, entry, begin, previous, end, dataStart);
    end = begin + entry.byteLength;
    previous = entry;
  }
  const expectedFileSize = dataStart + end;
  if (fileSize > expectedFileSize) {
    throw checkpointError('trailing-bytes', file, `${fileSize - expectedFileSize} trailing bytes after the data buffer: the tensors end at byte ${expectedFileSize} but the file is ${fileSize} bytes`);
  }
  if (fileSize < expectedFileSize) {
    throw checkpointError('truncated', file, `file is truncated: the tensors need ${expectedFileSize} bytes but the file has ${fileSize} (${expectedFileSize - fileSize} missing)`);
  }
  return { tensors: entries, metadata, expectedFileSize };
}

function offsetsError(file: string, entry: TensorEntry, begin: number, previous: TensorEntry | undefined, end: number, dataStart: number) {
  const offsets = `data_offsets [${begin}, ${begin + entry.byteLength}]`;
  if (!previous) {
    return checkpointError('bad-offsets', file, `tensor ${JSON.stringify(entry.name)}: ${offsets}, but the first tensor must start at 0 (${begin} bytes of the data buffer belong to no tensor)`);
  }
  const previousOffsets = `[${previous.offset - dataStart}, ${end}]`;
  if (begin < end) {
    return checkpointError('bad-offsets', file, `tensor ${JSON.stringify(entry.name)}: ${offsets} overlap tensor ${JSON.stringify(previous.name)} at ${previousOffsets}`);
  }
  return checkpointError('bad-offsets', file, `tensor ${JSON.stringify(entry.name)}: ${offsets} leave a gap of ${begin - end} bytes after tensor ${JSON.stringify(previous.name)} at ${previousOffsets}`);
}

function metadataOf(file: string, value: JsonValue): Record<string, string> {
  if (value === null) return {};
  if (!isJsonObject(value)) throw checkpointError('header-schema', file, `__metadata__ must be an object of strings, found ${describeJson(value)}`);
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, entry] of value) {
    if (typeof entry !== 'string') {
      throw checkpointError('header-schema', file, `__metadata__ ${JSON.stringify(key)}: values must be strings, found ${describeJson(entry)}`);
    }
    metadata[key] = entry;
  }
  return { ...metadata };
}

function tensorEntryOf(file: string, name: string, value: JsonValue, dataStart: number): TensorEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isJsonObject(value)) {
    throw checkpointError('header-schema', file, `${what}: expected an object with dtype, shape and data_offsets, found ${describeJson(value)}`);
  }
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!value.has(field)) throw checkpointError('header-schema', file, `${what}: missing "${field}"`);
  }
  const dtypeValue = value.get('dtype')!;
  if (typeof dtypeValue !== 'string') throw checkpointError('header-schema', file, `${what}: dtype must be a string, found ${describeJson(dtypeValue)}`);
  if (!isDtype(dtypeValue)) {
    throw checkpointError('unsupported-dtype', file, `${what}: unknown dtype ${JSON.stringify(dtypeValue)} (known: ${ALL_DTYPES.join(', ')})`);
  }
  const shapeValue = value.get('shape')!;
  if (!Array.isArray(shapeValue)) throw checkpointError('bad-shape', file, `${what}: shape must be an array of sizes, found ${describeJson(shapeValue)}`);
  for (const dim of shapeValue) {
    if (!(dim instanceof JsonNumber) || !dim.isSafeNonNegativeInteger()) {
      throw checkpointError('bad-shape', file, `${what}: shape entries must be non-negative integers, found ${describeJson(dim)} in shape`);
    }
  }
  const offsetsValue = value.get('data_offsets')!;
  if (
    !Array.isArray(offsetsValue) || offsetsValue.length !== 2 ||
    !offsetsValue.every((o) => o instanceof JsonNumber && o.isSafeNonNegativeInteger())
  ) {
    const found = Array.isArray(offsetsValue) ? `[${offsetsValue.map(describeJson).join(', ')}]` : describeJson(offsetsValue);
    throw checkpointError('bad-offsets', file, `${what}: data_offsets must be [begin, end] with non-negative integers below 2^53, found ${found}`);
  }
  const shape = shapeValue.map((dim) => (dim as JsonNumber).value);
  return checkedEntry(file, name, dtypeValue, shape, (offsetsValue[0] as JsonNumber).value, (offsetsValue[1] as JsonNumber).value, dataStart);
}

/** The entry for well-typed fields, after checking sizes against 2^53 and the span against shape x dtype. */
function checkedEntry(file: string, name: string, dtype: Dtype, shape: number[], begin: number, end: number, dataStart: number): TensorEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  let elements = 1;
  for (const dim of shape) {
    elements *= dim;
    if (elements > Number.MAX_SAFE_INTEGER) {
      throw checkpointError('bad-shape', file, `${what}: shape [${shape.join(', ')}] has more than 2^53 elements`);
    }
  }
  const needed = elements * DTYPE_BYTES[dtype];
  if (needed > Number.MAX_SAFE_INTEGER) {
    throw checkpointError('bad-shape', file, `${what}: shape [${shape.join(', ')}] x ${dtype} needs more than 2^53 bytes`);
  }
  if (begin > end) throw checkpointError('bad-offsets', file, `${what}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end - begin !== needed) {
    throw checkpointError('span-mismatch', file, `${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(', ')}] x ${dtype} needs ${needed}`);
  }
  return { name, dtype, shape, file, offset: dataStart + begin, byteLength: needed };
}

/** Reads and validates the header of one .safetensors file; never reads the tensor data. */
export async function readSafetensorsHeader(path: string): Promise<CheckpointHeader> {
  const file = resolve(path);
  let handle;
  let stats;
  try {
    ({ handle, stats } = await openRegularFile(file, 'a .safetensors file'));
  } catch (error) {
    throw readFailure(error, file, 'open the checkpoint');
  }
  try {
    let json: Uint8Array;
    try {
      ({ json } = await readSafetensorsLayout(handle, file, stats.size));
    } catch (error) {
      throw readFailure(error, file, 'read the header');
    }
    const parsed = parseSafetensorsHeader(file, json, stats.size);
    return {
      path: file,
      format: 'safetensors',
      tensors: new Map(parsed.tensors.map((t) => [t.name, t])),
      metadata: parsed.metadata,
      files: [{ path: file, size: stats.size, mtimeMs: stats.mtimeMs }],
      totalBytes: parsed.expectedFileSize - 8 - json.byteLength,
    };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** The length prefix and the JSON header of an open .safetensors file, read in full; throws CheckpointError. */
export async function readSafetensorsLayout(handle: FileHandle, file: string, size: number): Promise<{ readonly prefix: Uint8Array; readonly json: Uint8Array }> {
  const prefix = await readExactly(handle, 0, Math.min(8, size));
  const n = headerLengthOf(file, prefix, size);
  const json = await readExactly(handle, 8, n);
  if (json.byteLength < n) throw checkpointError('truncated', file, `file shrank while its header was read (${8 + json.byteLength} of ${8 + n} bytes)`);
  return { prefix, json };
}

async function readExactly(handle: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(bytes, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? bytes : bytes.subarray(0, done);
}
