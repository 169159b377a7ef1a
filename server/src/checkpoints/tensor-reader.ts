// Chunked reads of tensor element ranges. Node has no mmap, so reads are positional
// reads into caller-provided memory (float32 straight into the caller's array, other
// float dtypes through a reused scratch buffer), with a bounded pool of open files:
// memory is bounded by the chunk size, never the file size. Async methods suit the
// server's threads; the Sync ones suit worker threads, where blocking costs nothing
// and small cache-resident chunks read without a thread-pool round trip are fastest.
import { closeSync, fstat, fstatSync, open, openSync, read, readSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { promisify } from 'node:util';
import { decodeToFloat32, DTYPE_BYTES, isFloatDtype } from './dtypes.ts';
import { checkpointError, readFailure } from './errors.ts';
import { READ_WITHOUT_WAITING } from './open-input.ts';
import type { FloatDtype } from './dtypes.ts';
import type { CheckpointHeader, FileIdentity, TensorEntry, TensorSegment } from './types.ts';

const openAsync = promisify(open);
const readAsync = promisify(read);
const fstatAsync = promisify(fstat);

export interface TensorReaderOptions {
  /** Most files kept open at once (idle ones are closed first). Default 16. */
  readonly maxOpenFiles?: number;
  /** How often an open file is re-checked for changes, in ms. Default 1000. */
  readonly recheckMs?: number;
}

interface OpenFile {
  readonly path: string;
  /** Resolved once the file is open (async opens); sync opens set `fd` directly. */
  ready: Promise<number> | undefined;
  fd: number | undefined;
  users: number;
  checkedAt: number;
}

/** The pieces of a tensor's bytes, in order: one for most tensors, several for straddling ones. */
export function tensorSegments(entry: TensorEntry): readonly TensorSegment[] {
  return entry.segments ?? [{ file: entry.file, offset: entry.offset, byteLength: entry.byteLength }];
}

export function elementCount(entry: { readonly shape: readonly number[] }): number {
  return entry.shape.reduce((a, b) => a * b, 1);
}

/** One file-level read of a byte range: `target` receives bytes at `position` of `file`. */
interface FileRead {
  readonly file: string;
  readonly position: number;
  readonly target: Uint8Array;
}

export class TensorReader {
  readonly #expected = new Map<string, FileIdentity>();
  readonly #open = new Map<string, OpenFile>();
  readonly #scratch: Uint8Array[] = [];
  readonly #maxOpenFiles: number;
  readonly #recheckMs: number;
  #closed = false;

  /** `headers`: the checkpoints whose files will be read; their recorded identities are checked on open. */
  constructor(headers: readonly Pick<CheckpointHeader, 'files'>[] = [], options: TensorReaderOptions = {}) {
    for (const header of headers) for (const file of header.files) this.#expected.set(file.path, file);
    this.#maxOpenFiles = Math.max(1, options.maxOpenFiles ?? 16);
    this.#recheckMs = options.recheckMs ?? 1000;
  }

  /** Reads elements [start, start + out.length) of a float tensor into `out`, decoded to float32. */
  async readFloat32(entry: TensorEntry, start: number, out: Float32Array): Promise<void> {
    const dtype = floatDtypeOf(entry);
    checkRange(entry, start, out.length);
    if (dtype === 'F32') {
      await this.#readAll(entry, start * 4, bytesOf(out));
      return;
    }
    const scratch = this.#takeScratch(out.length * DTYPE_BYTES[dtype]);
    try {
      await this.#readAll(entry, start * DTYPE_BYTES[dtype], scratch);
      decodeToFloat32(dtype, scratch, out);
    } finally {
      this.#giveScratch(scratch);
    }
  }

  /** Like readFloat32, blocking the thread: for worker threads. */
  readFloat32Sync(entry: TensorEntry, start: number, out: Float32Array): void {
    const dtype = floatDtypeOf(entry);
    checkRange(entry, start, out.length);
    if (dtype === 'F32') {
      this.#readAllSync(entry, start * 4, bytesOf(out));
      return;
    }
    const scratch = this.#takeScratch(out.length * DTYPE_BYTES[dtype]);
    try {
      this.#readAllSync(entry, start * DTYPE_BYTES[dtype], scratch);
      decodeToFloat32(dtype, scratch, out);
    } finally {
      this.#giveScratch(scratch);
    }
  }

  /** Reads bytes [start, start + out.byteLength) of any tensor unchanged (integer tensors are copied as bytes). */
  async readBytes(entry: TensorEntry, start: number, out: Uint8Array): Promise<void> {
    checkByteRange(entry, start, out.byteLength);
    await this.#readAll(entry, start, out);
  }

  readBytesSync(entry: TensorEntry, start: number, out: Uint8Array): void {
    checkByteRange(entry, start, out.byteLength);
    this.#readAllSync(entry, start, out);
  }

  /** Closes every file; the reader cannot be used afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    const files = [...this.#open.values()];
    this.#open.clear();
    this.#scratch.length = 0;
    await Promise.all(files.map((f) => closeFile(f)));
  }

  async #readAll(entry: TensorEntry, start: number, target: Uint8Array): Promise<void> {
    for (const piece of fileReads(entry, start, target)) {
      const file = this.#acquire(piece.file);
      try {
        const fd = await this.#fdOf(file, entry);
        if (Date.now() - file.checkedAt > this.#recheckMs) {
          file.checkedAt = Date.now();
          this.#verify(await fstatAsync(fd), file.path, entry);
        }
        let done = 0;
        while (done < piece.target.byteLength) {
          const { bytesRead } = await readAsync(fd, piece.target, done, piece.target.byteLength - done, piece.position + done);
          if (bytesRead === 0) throw truncated(entry, piece, done);
          done += bytesRead;
        }
      } catch (error) {
        throw readFailure(error, piece.file, `read tensor "${entry.name}"`);
      } finally {
        file.users--;
      }
    }
  }

  #readAllSync(entry: TensorEntry, start: number, target: Uint8Array): void {
    // Most tensors lie in one file: read without building the list of pieces.
    if (!entry.segments) {
      this.#readFileSync(entry, { file: entry.file, position: entry.offset + start, target });
      return;
    }
    for (const piece of fileReads(entry, start, target)) this.#readFileSync(entry, piece);
  }

  #readFileSync(entry: TensorEntry, piece: FileRead): void {
    const file = this.#acquire(piece.file);
    try {
      if (file.fd === undefined) {
        if (file.ready) throw new Error(`${file.path} is being opened asynchronously; do not mix sync and async reads of one file`);
        file.fd = openSync(file.path, READ_WITHOUT_WAITING);
      }
      if (Date.now() - file.checkedAt > this.#recheckMs) {
        file.checkedAt = Date.now();
        this.#verify(fstatSync(file.fd), file.path, entry);
      }
      let done = 0;
      while (done < piece.target.byteLength) {
        const bytesRead = readSync(file.fd, piece.target, done, piece.target.byteLength - done, piece.position + done);
        if (bytesRead === 0) throw truncated(entry, piece, done);
        done += bytesRead;
      }
    } catch (error) {
      if (file.fd === undefined) this.#open.delete(file.path);
      throw readFailure(error, piece.file, `read tensor "${entry.name}"`);
    } finally {
      file.users--;
    }
  }

  async #fdOf(file: OpenFile, entry: TensorEntry): Promise<number> {
    if (file.fd !== undefined) return file.fd;
    if (!file.ready) {
      file.ready = openAsync(file.path, READ_WITHOUT_WAITING);
      file.ready.then((fd) => { file.fd = fd; }, () => { if (this.#open.get(file.path) === file) this.#open.delete(file.path); });
    }
    try {
      return await file.ready;
    } catch (error) {
      throw readFailure(error, file.path, `open the file to read tensor "${entry.name}"`);
    }
  }

  #acquire(path: string): OpenFile {
    if (this.#closed) throw new Error('TensorReader is closed');
    let file = this.#open.get(path);
    if (file) {
      this.#open.delete(path); // re-inserted below: the Map's order is least recently used first
    } else {
      file = { path, ready: undefined, fd: undefined, users: 0, checkedAt: 0 };
      this.#evictIdle();
    }
    this.#open.set(path, file);
    file.users++;
    return file;
  }

  #evictIdle(): void {
    for (const [path, file] of this.#open) {
      if (this.#open.size < this.#maxOpenFiles) return;
      if (file.users > 0) continue;
      this.#open.delete(path);
      void closeFile(file);
    }
  }

  #verify(now: Stats, path: string, entry: TensorEntry): void {
    const expected = this.#expected.get(path);
    if (!expected || (now.size === expected.size && now.mtimeMs === expected.mtimeMs)) return;
    const what = now.size !== expected.size ? `size ${expected.size} -> ${now.size} bytes` : `modified at ${new Date(now.mtimeMs).toISOString()}`;
    throw checkpointError('changed-on-disk', path, `changed since its header was read (${what}) while reading tensor "${entry.name}"; check the recipe again`);
  }

  #takeScratch(byteLength: number): Uint8Array {
    let best = -1;
    for (let i = 0; i < this.#scratch.length; i++) {
      const size = this.#scratch[i]!.byteLength;
      if (size >= byteLength && (best < 0 || size < this.#scratch[best]!.byteLength)) best = i;
    }
    // 8-byte aligned memory, so decoding can view it as any element type.
    if (best < 0) return new Uint8Array(new Float64Array(Math.ceil(byteLength / 8)).buffer, 0, byteLength);
    return this.#scratch.splice(best, 1)[0]!.subarray(0, byteLength);
  }

  #giveScratch(view: Uint8Array): void {
    if (this.#closed) return;
    this.#scratch.push(new Uint8Array(view.buffer, 0, view.buffer.byteLength));
    // Keep a few buffers, dropping the smallest: enough for the reads in flight at once.
    if (this.#scratch.length > 4) this.#scratch.sort((a, b) => b.byteLength - a.byteLength).pop();
  }
}

async function closeFile(file: OpenFile): Promise<void> {
  const fd = file.fd ?? (await file.ready?.catch(() => undefined));
  if (fd === undefined) return;
  file.fd = undefined;
  try {
    closeSync(fd);
  } catch {
    // Already closed or never valid: nothing to release.
  }
}

/** Splits bytes [start, start + target.byteLength) of a tensor into per-file reads. */
function fileReads(entry: TensorEntry, start: number, target: Uint8Array): FileRead[] {
  const reads: FileRead[] = [];
  const end = start + target.byteLength;
  let segmentStart = 0;
  for (const segment of tensorSegments(entry)) {
    const segmentEnd = segmentStart + segment.byteLength;
    const from = Math.max(start, segmentStart);
    const to = Math.min(end, segmentEnd);
    if (from < to) reads.push({ file: segment.file, position: segment.offset + (from - segmentStart), target: target.subarray(from - start, to - start) });
    segmentStart = segmentEnd;
  }
  return reads;
}

function truncated(entry: TensorEntry, piece: FileRead, done: number) {
  return checkpointError('truncated', piece.file, `tensor "${entry.name}": the file ends at byte ${piece.position + done}, before the tensor's bytes [${piece.position}, ${piece.position + piece.target.byteLength}) (truncated since its header was read?)`);
}

function floatDtypeOf(entry: TensorEntry): FloatDtype {
  if (!isFloatDtype(entry.dtype)) throw new TypeError(`tensor "${entry.name}" is ${entry.dtype}, not a float tensor: read it with readBytes`);
  return entry.dtype;
}

function bytesOf(array: Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function checkRange(entry: TensorEntry, start: number, count: number): void {
  const elements = elementCount(entry);
  if (!Number.isSafeInteger(start) || start < 0 || start + count > elements) {
    throw new RangeError(`elements [${start}, ${start + count}) are outside tensor "${entry.name}" (${elements} elements)`);
  }
}

function checkByteRange(entry: TensorEntry, start: number, count: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || start + count > entry.byteLength) {
    throw new RangeError(`bytes [${start}, ${start + count}) are outside tensor "${entry.name}" (${entry.byteLength} bytes)`);
  }
}
