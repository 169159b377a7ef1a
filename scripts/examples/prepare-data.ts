// Writes the examples' evaluation data: one safetensors file per task,
// `examples/data/<task>.safetensors`, with `validation/x`, `validation/y`, `test/x`,
// `test/y` (x: U8 [N, 784], scaled by `x_scale` = 1/255; y: I32 [N]). The layout is
// documented in docs/examples-data.md. A file whose bytes would not change is not
// rewritten, so results caches keyed on file identity stay valid.
//
//   node scripts/examples/prepare-data.ts [--data DIR]
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { createSafetensorsWriter, safetensorsHeader } from '../../server/src/checkpoints/write-safetensors.ts';
import { writeWhole, type OutputTensor } from '../../server/src/checkpoints/write-stream.ts';
import { IMAGE_SIZE } from './sources.ts';
import { buildTasks, loadSources } from './tasks.ts';
import type { Task } from './tasks.ts';
import { examplesDir, isMain, repositoryRoot, reportFailure } from './paths.ts';

/** 1/255 as the shortest decimal that parses back to the same double. */
export const X_SCALE = String(1 / 255);

export const EVALUATION_SPLITS = ['validation', 'test'] as const;

export function evaluationMetadata(task: Task): Record<string, string> {
  return {
    task: task.name,
    description: task.description,
    classes: JSON.stringify(task.classes),
    source: task.source,
    licence: task.licence,
    x_scale: X_SCALE,
    generator: 'scripts/examples/prepare-data.ts',
  };
}

function evaluationTensors(task: Task): { tensor: OutputTensor; bytes: Uint8Array }[] {
  return EVALUATION_SPLITS.flatMap((split) => {
    const set = task[split];
    const labels = new Uint8Array(set.labels.buffer, set.labels.byteOffset, set.labels.byteLength);
    return [
      { tensor: { name: `${split}/x`, dtype: 'U8', shape: [set.count, IMAGE_SIZE] }, bytes: set.images },
      // Int32Array is little-endian on every platform Node runs on.
      { tensor: { name: `${split}/y`, dtype: 'I32', shape: [set.count] }, bytes: labels },
    ];
  });
}

/** The whole file, as it will be written. */
export function evaluationFileBytes(task: Task): Uint8Array {
  const parts = evaluationTensors(task);
  const header = safetensorsHeader(parts.map((p) => p.tensor), evaluationMetadata(task));
  const out = new Uint8Array(header.length + parts.reduce((sum, p) => sum + p.bytes.length, 0));
  out.set(header, 0);
  let offset = header.length;
  for (const p of parts) {
    out.set(p.bytes, offset);
    offset += p.bytes.length;
  }
  return out;
}

export interface PreparedFile {
  readonly task: Task;
  readonly path: string;
  readonly bytes: number;
  /** False when the file already held exactly these bytes. */
  readonly written: boolean;
}

function sameBytes(path: string, expected: Uint8Array): boolean {
  if (!existsSync(path)) return false;
  const actual = readFileSync(path);
  return actual.length === expected.length && Buffer.compare(actual, expected) === 0;
}

/** Writes every task's evaluation file into `dataDir` (atomically), skipping unchanged ones. */
export async function writeEvaluationFiles(tasks: readonly Task[], dataDir: string): Promise<PreparedFile[]> {
  const prepared: PreparedFile[] = [];
  for (const task of tasks) {
    const path = join(dataDir, `${task.name}.safetensors`);
    const bytes = evaluationFileBytes(task);
    const written = !sameBytes(path, bytes);
    if (written) {
      const parts = evaluationTensors(task);
      const writer = await createSafetensorsWriter(path, parts.map((p) => p.tensor), { metadata: evaluationMetadata(task), overwrite: true });
      await writeWhole(writer, async (w) => {
        for (const p of parts) await w.writeBytes(p.bytes);
      });
    }
    prepared.push({ task, path, bytes: bytes.length, written });
  }
  return prepared;
}

export function describePrepared(prepared: readonly PreparedFile[]): string {
  const rows = prepared.map((p) => {
    const sizes = `${p.task.train.count} / ${p.task.validation.count} / ${p.task.test.count}`;
    const size = `${(p.bytes / 1e6).toFixed(1)} MB`;
    return `  ${relative(repositoryRoot, p.path).padEnd(42)} ${p.task.classes.length.toString().padStart(2)} classes  train/val/test ${sizes.padEnd(20)} ${size.padStart(7)}  ${p.written ? 'written' : 'unchanged'}`;
  });
  return rows.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string', default: join(examplesDir, 'data') } } });
  const tasks = buildTasks(loadSources());
  const prepared = await writeEvaluationFiles(tasks, values.data!);
  console.log(`Evaluation data (docs/examples-data.md):\n${describePrepared(prepared)}`);
}

if (isMain(import.meta.url)) main().catch(reportFailure);
