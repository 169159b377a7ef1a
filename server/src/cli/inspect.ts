// `tvr inspect CHECKPOINT [OTHER]`: the tensor table, totals, and with a second
// checkpoint the norms of the difference (a task vector) per tensor.
import { resolve } from 'node:path';
import { readCheckpointHeader } from '../checkpoints/read-header.ts';
import { tensorNorms } from '../checkpoints/statistics.ts';
import { isFloat } from '../language/shapes.ts';
import { visibleControls } from '../display-text.ts';
import { formatBytes, formatCount } from '../language/ide/describe.ts';

export interface InspectOptions {
  readonly json: boolean;
  readonly norms: boolean;
}

export async function inspectCommand(path: string, other: string | undefined, options: InspectOptions): Promise<number> {
  const header = await readCheckpointHeader(resolve(path));
  const tensors = [...header.tensors.values()];
  const parameters = tensors.filter((t) => isFloat(t.dtype)).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const norms = other || options.norms
    ? await tensorNorms(resolve(path), other ? { relativeTo: resolve(other) } : {})
    : undefined;
  const normOf = new Map(norms?.tensors.map((t) => [t.name, t]) ?? []);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({
      path: header.path,
      format: header.format,
      metadata: header.metadata,
      files: header.files,
      totalBytes: header.totalBytes,
      parameters,
      tensors: tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, ...(normOf.has(t.name) ? { norm: normOf.get(t.name)!.norm, ...(other ? { differenceNorm: normOf.get(t.name)!.differenceNorm } : {}) } : {}) })),
      ...(norms ? { norm: norms.norm, ...(other ? { differenceNorm: norms.differenceNorm } : {}) } : {}),
    }, null, 2)}\n`);
    return 0;
  }
  // Names (and metadata) come from the file: every line is printed with its control characters
  // escaped (below), so a name's column is as wide as its escaped form.
  const escapedLength = new Map(tensors.map((t) => [t.name, visibleControls(t.name).length]));
  const nameWidth = Math.min(60, Math.max(4, ...escapedLength.values()));
  const header1 = `${'name'.padEnd(nameWidth)}  ${'dtype'.padEnd(7)}  ${'shape'.padEnd(18)}${norms ? `  ${'norm'.padStart(11)}` : ''}${other ? `  ${'diff norm'.padStart(11)}` : ''}`;
  const lines = [header1, '-'.repeat(header1.length)];
  for (const t of tensors) {
    const n = normOf.get(t.name);
    lines.push(`${t.name.padEnd(nameWidth - escapedLength.get(t.name)! + t.name.length)}  ${t.dtype.padEnd(7)}  ${`[${t.shape.join(', ')}]`.padEnd(18)}${norms ? `  ${(n ? n.norm.toPrecision(6) : '-').padStart(11)}` : ''}${other ? `  ${(n?.differenceNorm !== undefined ? n.differenceNorm.toPrecision(6) : '-').padStart(11)}` : ''}`);
  }
  lines.push('');
  lines.push(`${header.format}, ${tensors.length} tensors, ${formatCount(parameters)} float parameters, ${formatBytes(header.totalBytes)} of tensor data in ${header.files.length} file${header.files.length === 1 ? '' : 's'}`);
  if (norms) lines.push(`L2 norm ${norms.norm.toPrecision(6)}${other ? `; difference from ${other}: L2 norm ${norms.differenceNorm!.toPrecision(6)}` : ''}`);
  if (norms && norms.nonFinite.length > 0) lines.push(`norm not finite (the tensor holds NaN or infinite values): ${norms.nonFinite.join(', ')}`);
  if (norms && norms.skipped.length > 0) lines.push(`not in norms (integer/bool): ${norms.skipped.map((s) => `${s.name} (${s.dtype})`).join(', ')}`);
  const metadata = Object.entries(header.metadata);
  if (metadata.length > 0) lines.push(`metadata: ${metadata.map(([k, v]) => `${k}=${v.length > 60 ? `${v.slice(0, 57)}...` : v}`).join(', ')}`);
  process.stdout.write(`${lines.map(visibleControls).join('\n')}\n`);
  return 0;
}
