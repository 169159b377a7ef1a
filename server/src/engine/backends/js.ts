// The reference backend: the generated kernels on the main thread.
import { runChunkHere } from '../kernels/run.ts';
import type { Backend, ChunkJob, ChunkTotals } from './types.ts';

export function createJsBackend(): Backend {
  return {
    name: 'js',
    device: 'main thread',
    allocate: (length) => new Float32Array(length),
    run: async (job: ChunkJob): Promise<ChunkTotals> => runChunkHere(job),
    close: async () => {},
  };
}
