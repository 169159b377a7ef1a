// The language server's background statistics for LoRA adapters: the norm pass starts when
// a recipe is analysed, is not repeated while the adapter's files are unchanged, and an
// adapter file that changed under the pass shows as a precise message in the hover (never
// a crash), until a fresh analysis computes the norms again.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Connection } from 'vscode-languageserver/node';
import { HeaderCache } from '../../../server/src/checkpoints/read-header.ts';
import { analyzeFile } from '../../../server/src/language/analysis.ts';
import { hover } from '../../../server/src/language/ide/hover.ts';
import type { LoraNormLookup } from '../../../server/src/language/ide/vector-stats.ts';
import { StatisticsService } from '../../../server/src/lsp/statistics.ts';
import { fixtureDir } from '../../helpers/checkpoint-fixtures.ts';
import { deltaW, writeAdapter, type AdapterModule } from '../../helpers/lora-fixtures.ts';

const { dir, cleanup } = fixtureDir();
const warnings: string[] = [];
const connection = { console: { warn: (message: string) => warnings.push(message) } } as unknown as Connection;
const service = new StatisticsService(connection, new HeaderCache());
after(async () => {
  await service.dispose();
  cleanup();
});

const q: AdapterModule = { module: 'model.layers.0.self_attn.q_proj', rank: 4, inputs: 6, outputs: 8 };
const adapter = join(dir, 'adapters/sci');
const text = 'sci = lora("adapters/sci")\n';
const uri = 'file:///recipe.tvr';

async function settled(): Promise<LoraNormLookup> {
  for (;;) {
    const state = service.loraNorms(adapter);
    assert.ok(state, 'a pass was started');
    if (state.status !== 'computing') return state;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('LoRA norms: computed once per file identity, a file changed under the pass said in the hover', async () => {
  const factors = writeAdapter(adapter, { r: 4, lora_alpha: 8 }, [q]);
  const expected = deltaW(factors, q, 2, false).reduce((sum, x) => sum + x * x, 0);
  // Each analysis reads the headers afresh, as after the server is told of a change.
  const analyse = () => analyzeFile(text, join(dir, 'recipe.tvr'), new HeaderCache());

  const first = await analyse();
  service.analysed(uri, first);
  const ready = await settled();
  assert.equal(ready.status, 'ready');
  assert.ok(Math.abs(ready.norms.modules[0]!.squaredNorm - expected) <= 1e-12 * expected);

  service.analysed(uri, await analyse());
  assert.equal(service.loraNorms(adapter), ready, 'unchanged files: the norms are not computed again');

  // New factors, then a change after the analysis read their header: the pass refuses to read the file.
  writeAdapter(adapter, { r: 4, lora_alpha: 8 }, [q], { seed: 2 });
  const stale = await analyse();
  appendFileSync(join(adapter, 'adapter_model.safetensors'), 'x');
  service.analysed(uri, stale);
  const failed = await settled();
  assert.equal(failed.status, 'failed');
  const contents = hover(stale, 1, { stats: service, statsGroups: [] })!.contents;
  assert.match(contents, /L2 norm: not available: .*adapter_model\.safetensors.* changed since its header was read \(size \d+ -\\?> \d+ bytes\) while reading tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight"; check the recipe again\./);
  assert.match(warnings.join('\n'), /norms of sci failed/);

  const fresh = writeAdapter(adapter, { r: 4, lora_alpha: 8 }, [q], { seed: 3 });
  service.analysed(uri, await analyse());
  const again = await settled();
  assert.equal(again.status, 'ready');
  const expectedAgain = deltaW(fresh, q, 2, false).reduce((sum, x) => sum + x * x, 0);
  assert.ok(Math.abs(again.norms.modules[0]!.squaredNorm - expectedAgain) <= 1e-12 * expectedAgain);
});
