// Hover text built from a hostile checkpoint, over the protocol, rendered as VS Code renders
// hover Markdown: tensor names that hold backquotes, pipes, links, HTML or escape sequences
// and a file name with a backquote stay text: no link, no HTML, the norm table keeps its
// three columns, every name is shown as it is.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { HoverRequest, type Hover, type MarkupContent } from 'vscode-languageserver-protocol/node';
import { visibleControls } from '../../server/src/display-text.ts';
import { fixtureDir, makeModel, perturbModel, writeSafetensors } from '../helpers/checkpoint-fixtures.ts';
import { HOSTILE_NAMES, renderMarkdown, tableRows, unexpectedTags, visibleText } from '../helpers/hostile-text.ts';
import { LspTestClient } from '../helpers/lsp-client.ts';
import { positionAt, unmark } from '../helpers/text-markers.ts';

const ODD_FILE = 'we`ird](http:x) <b>.safetensors';

describe('hover over hostile names (protocol, rendered Markdown)', () => {
  const { dir, cleanup } = fixtureDir();
  let client: LspTestClient;
  // Five tensors, each large enough to make the hover's top five.
  const names = HOSTILE_NAMES.slice(0, 5);
  const base = makeModel(names.map((name) => ({ name, shape: [4, 3], dtype: 'F32' as const })), { seed: 1 });
  const recipe = unmark([
    'base = load("base.safetensors")',
    't|au = load("tuned.safetensors") - base',
    `o|dd = load("${ODD_FILE}")`,
    'save(base + tau, "out/x.safetensors")',
    '',
  ].join('\n'));
  const docUri = pathToFileURL(join(dir, 'hostile.tvr')).href;

  before(async () => {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, 'base.safetensors'), base);
    writeSafetensors(join(dir, 'tuned.safetensors'), perturbModel(base, { seed: 2, scale: 0.1 }));
    writeSafetensors(join(dir, ODD_FILE), base);
    client = LspTestClient.start({ cwd: dir });
    await client.initialize({ rootUri: pathToFileURL(dir).href });
    await client.openAndDiagnose(docUri, recipe.text);
  });
  after(() => {
    client.kill();
    cleanup();
  });

  const hover = (offset: number) => client.connection.sendRequest(HoverRequest.type, { textDocument: { uri: docUri }, position: positionAt(recipe.text, offset) });
  const html = (h: Hover | null): string => renderMarkdown((h!.contents as MarkupContent).value);

  it('the norm table of a vector: three cells a row, no link or HTML, every tensor name shown', async () => {
    const { answer } = await client.poll('the norms of tau', () => hover(recipe.offsets[0]!), (h) => /\*\*L2 norm/.test((h?.contents as MarkupContent | undefined)?.value ?? ''));
    const rendered = html(answer);
    assert.deepEqual(unexpectedTags(rendered), [], rendered);
    const rows = tableRows(rendered);
    assert.equal(rows.length, 1 + names.length, rendered);
    for (const row of rows) assert.equal(row.length, 3, `a row with ${row.length} cells: ${row.join(' | ')}`);
    assert.deepEqual(rows.slice(1).map((r) => visibleText(r[0]!)).sort(), names.map(visibleControls).sort());
  });

  it('a model loaded from a file whose name holds a backquote and a link: the path shown as code, no link', async () => {
    const rendered = html(await hover(recipe.offsets[1]!));
    assert.deepEqual(unexpectedTags(rendered), [], rendered);
    assert.ok(visibleText(rendered).includes(join(dir, ODD_FILE)), rendered);
  });
});
