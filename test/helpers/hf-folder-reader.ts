// Reading a Hugging Face model folder output independently of tvr: its safetensors files
// parsed and decoded by Python and numpy (tensors, per-file metadata, the index), and its
// README.md front matter by a parser of the small YAML subset a model card uses.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

/** Reads a folder's safetensors files with numpy, independently of tvr: tensors, per-file metadata, index. */
const READER = `
import json, os, struct, sys
import numpy as np
folder = sys.argv[1]
out = {'tensors': {}, 'metadata': {}, 'occurrences': {}}
index_path = os.path.join(folder, 'model.safetensors.index.json')
if os.path.exists(index_path):
    out['index'] = json.load(open(index_path))
    files = sorted(f for f in os.listdir(folder) if f.endswith('.safetensors'))
else:
    files = ['model.safetensors']
for f in files:
    data = open(os.path.join(folder, f), 'rb').read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out['metadata'][f] = header.pop('__metadata__', None)
    start = 8 + n
    for name, e in header.items():
        a, b = e['data_offsets']
        raw = data[start + a:start + b]
        kind = e['dtype']
        if kind == 'F32': v = np.frombuffer(raw, '<f4')
        elif kind == 'F16': v = np.frombuffer(raw, '<f2').astype(np.float32)
        elif kind == 'BF16': v = (np.frombuffer(raw, '<u2').astype(np.uint32) << 16).view(np.float32)
        else: raise SystemExit('unexpected dtype ' + kind)
        assert v.size == int(np.prod(e['shape'])), name
        out['occurrences'][name] = out['occurrences'].get(name, 0) + 1
        out['tensors'][name] = {'dtype': kind, 'shape': e['shape'], 'file': f, 'bytes': b - a, 'values': v.astype(float).tolist()}
print(json.dumps(out))
`;

export interface ReadFolder {
  readonly tensors: Record<string, { dtype: string; shape: number[]; file: string; bytes: number; values: number[] }>;
  readonly metadata: Record<string, Record<string, string> | null>;
  readonly occurrences: Record<string, number>;
  readonly index?: { metadata: { total_size: number }; weight_map: Record<string, string> };
}

export function readWithNumpy(folder: string): ReadFolder {
  return JSON.parse(execFileSync('python3', ['-c', READER, folder], { encoding: 'utf8', maxBuffer: 1 << 28 })) as ReadFolder;
}

/** The YAML subset a card's front matter uses: `key: scalar` and `key:` followed by `- item` lines; quoted scalars are JSON strings. */
export function frontMatter(card: string): Record<string, string | string[]> {
  const match = /^---\n([\s\S]*?)\n---\n/.exec(card);
  assert.ok(match, 'the card starts with YAML front matter between --- lines');
  const scalar = (text: string) => (text.startsWith('"') ? JSON.parse(text) as string : text);
  const result: Record<string, string | string[]> = {};
  let list: string[] | undefined;
  for (const line of match[1]!.split('\n')) {
    const item = /^- (.+)$/.exec(line);
    if (item) {
      assert.ok(list, `list item outside a list: ${line}`);
      list.push(scalar(item[1]!));
      continue;
    }
    const entry = /^([a-z_]+):(?: (.+))?$/.exec(line);
    assert.ok(entry, `not in the YAML subset: ${line}`);
    list = entry[2] === undefined ? [] : undefined;
    result[entry[1]!] = entry[2] === undefined ? list! : scalar(entry[2]);
  }
  return result;
}
