// Opening an input that a recipe names. A FIFO opened for reading blocks until a writer
// appears, which would hold one of libuv's few threads (and a language server request)
// forever; O_NONBLOCK makes that open return at once, and anything but a regular file is
// refused before a byte is read.
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { checkpointError } from './errors.ts';

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
