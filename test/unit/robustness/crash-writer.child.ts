// A child process for crash-consistency.test.ts: writes a checkpoint output (one file, or
// a sharded folder) of `megabytes` MB to `destination`, replacing what is there. With
// TVR_TEST_PAUSE=commit|swap it blocks at that point of the commit, to be killed there.
// Usage: node crash-writer.child.ts <destination> <sharded|single> <megabytes> <fill value>
import { createSafetensorsWriter } from '../../../server/src/checkpoints/write-safetensors.ts';
import { writeWhole, type OutputTensor } from '../../../server/src/checkpoints/write-stream.ts';

const [destination, kind, megabytes, fill] = process.argv.slice(2);
const elements = Math.floor((Number(megabytes) * 1024 * 1024) / 4 / 4);
const tensors: OutputTensor[] = [0, 1, 2, 3].map((i) => ({ name: `w${i}`, dtype: 'F32', shape: [elements] }));
const writer = await createSafetensorsWriter(destination!, tensors, {
  overwrite: true,
  sync: false,
  ...(kind === 'sharded' ? { maxShardBytes: elements * 4 } : {}),
});
const chunk = new Float32Array(Math.min(elements, 1 << 18)).fill(Number(fill));
await writeWhole(writer, async (w) => {
  for (let written = 0; written < 4 * elements; written += chunk.length) await w.writeFloat32(chunk.subarray(0, Math.min(chunk.length, 4 * elements - written)));
});
process.stderr.write('tvr-test-done\n');
