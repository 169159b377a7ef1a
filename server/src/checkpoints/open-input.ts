// Opening an input that a recipe names. A FIFO opened for reading blocks until a writer
// appears, which would hold one of libuv's few threads (and a language server request)
// forever; O_NONBLOCK makes that open return at once, and anything but a regular file is
// refused before a byte is read.
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { checkpointError, readFailure } from './errors.ts';
import type { CheckpointError, FileIdentity } from './types.ts';

/** Flags that open a file for reading without waiting for a FIFO's writer. */
export const READ_WITHOUT_WAITING = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Opens `file` for reading when it is a regular file; `expected` completes the message
 * otherwise ("is a directory, not <expected>"). The caller closes the handle.
 */
export async function openRegularFile(file: string, expected: string): Promise<{ handle: FileHandle; stats: Stats }> {
  const handle = await open(file, READ_WITHOUT_WAITING);
  try {
    const stats = await handle.stat();
    if (stats.isDirectory()) throw checkpointError('unreadable', file, `is a directory, not ${expected}`);
    if (!stats.isFile()) throw checkpointError('unreadable', file, `is not a regular file (a pipe, socket or device), not ${expected}`);
    return { handle, stats };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** The bytes of a whole input file, and its identity as opened. */
export interface BoundedFile {
  readonly bytes: Buffer;
  readonly identity: FileIdentity;
}

/**
 * Reads the regular file `file` whole when it is at most `maxBytes` (never more than the
 * size it had when opened, should it grow meanwhile). A larger file is the error `tooLarge`
 * makes of its size, or undefined with 'skip'; any other failure is readFailure's
 * `cannot <action>: ...`.
 */
export async function readBoundedFile(file: string, expected: string, maxBytes: number, action: string, tooLarge: (size: number) => CheckpointError): Promise<BoundedFile>;
export async function readBoundedFile(file: string, expected: string, maxBytes: number, action: string, tooLarge: ((size: number) => CheckpointError) | 'skip'): Promise<BoundedFile | undefined>;
export async function readBoundedFile(file: string, expected: string, maxBytes: number, action: string, tooLarge: ((size: number) => CheckpointError) | 'skip'): Promise<BoundedFile | undefined> {
  try {
    const { handle, stats } = await openRegularFile(file, expected);
    try {
      if (stats.size > maxBytes) {
        if (tooLarge === 'skip') return undefined;
        throw tooLarge(stats.size);
      }
      const bytes = Buffer.alloc(stats.size);
      let at = 0;
      while (at < bytes.length) {
        const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      return { bytes: bytes.subarray(0, at), identity: { path: file, size: stats.size, mtimeMs: stats.mtimeMs } };
    } finally {
      await handle.close().catch(() => undefined);
    }
  } catch (error) {
    throw readFailure(error, file, action);
  }
}
