// Renders an example's results file in the real results webview (headless Chromium, the
// same harness as the webview tests) and saves a PNG for the README:
//   node test/webview/example-screenshot.ts [negation]   (after npm run examples:readme)
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResults } from '../../server/src/results/schema.ts';
import { applyTheme, openWebview, postResults, root, screenshot } from './harness.ts';

const name = process.argv[2] ?? 'negation';
const results = JSON.parse(readFileSync(join(root, 'examples', `${name}.results.json`), 'utf8')) as RunResults;
const harness = await openWebview();
try {
  await applyTheme(harness.page, 'dark');
  await postResults(harness.page, results);
  await harness.page.waitForSelector('svg');
  const shot = await screenshot(harness.page, `example-${name}`);
  const target = join(root, 'docs/images', `${name}-results.png`);
  copyFileSync(shot, target);
  process.stdout.write(`wrote ${target}\n`);
} finally {
  await harness.close();
}
