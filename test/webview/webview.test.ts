// The results webview rendered by real headless Chromium from fixture results, under the
// panel's own HTML and CSP: the table, the sweep charts, the heatmap, the status, escaping
// of names from files, live updates, state restore, export messages and both themes.
// Needs the built bundle: ./node_modules/.bin/node scripts/build.ts
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { parseWebviewMessage } from '../../client/src/run/panel-messages.ts';
import type { RunResults } from '../../server/src/results/schema.ts';
import {
  applyTheme, assertCleanPage, cspViolations, darkTheme, lightTheme, loadFixture, openWebview, post, postResults, posted,
  screenshot, waitForReady, type WebviewHarness,
} from './harness.ts';

const minus = '\u2212';

interface Point { readonly x: number; readonly y: number }
interface SweepLine { readonly label: string; readonly dash: string | null; readonly stroke: string; readonly vertices: readonly Point[] }
interface ChartGeometry {
  readonly lines: readonly SweepLine[];
  readonly chosen: readonly (Point & { readonly label: string })[];
  readonly rule: readonly number[];
}

/** The chart of one model, in screen coordinates (each mark group has its own offset). */
function chartGeometry(page: Page, model: string): Promise<ChartGeometry> {
  return page.evaluate((model) => {
    const figure = Array.from(document.querySelectorAll('figure.chart')).find((f) => f.getAttribute('data-model') === model);
    if (!figure) throw new Error(`no chart for ${model}`);
    const screen = (element: SVGGraphicsElement, x: number, y: number): { x: number; y: number } => {
      const point = new DOMPoint(x, y).matrixTransform(element.getScreenCTM() ?? undefined);
      return { x: point.x, y: point.y };
    };
    const number = '(-?\\d+(?:\\.\\d+)?(?:e-?\\d+)?)';
    const vertex = new RegExp(`[ML]${number},${number}`, 'g');
    const lines = Array.from(figure.querySelectorAll<SVGPathElement>('g[aria-description="sweep lines"] path')).map((path) => ({
      label: path.getAttribute('aria-label') ?? '',
      dash: path.parentElement?.getAttribute('stroke-dasharray') ?? null,
      stroke: path.getAttribute('stroke') ?? '',
      vertices: [...(path.getAttribute('d') ?? '').matchAll(vertex)].map((m) => screen(path, Number(m[1]), Number(m[2]))),
    }));
    const chosen = Array.from(figure.querySelectorAll<SVGCircleElement>('g[aria-description="chosen point"] circle')).map((circle) => ({
      label: circle.getAttribute('aria-label') ?? '',
      ...screen(circle, Number(circle.getAttribute('cx')), Number(circle.getAttribute('cy'))),
    }));
    const rule = Array.from(figure.querySelectorAll<SVGLineElement>('g[aria-description="chosen coefficient"] line'))
      .map((line) => screen(line, Number(line.getAttribute('x1')), 0).x);
    return { lines, chosen, rule };
  }, model);
}

interface TableRow {
  readonly task: string;
  readonly role: string;
  readonly badge: string;
  readonly rowClass: string;
  readonly cells: readonly { readonly column: string; readonly model: string; readonly abs: string; readonly norm: string; readonly delta: string; readonly deltaClass: string }[];
}

function tableRows(page: Page): Promise<TableRow[]> {
  return page.evaluate(() => Array.from(document.querySelectorAll('table.results tbody tr')).map((row) => ({
    task: row.querySelector('.task-name')?.textContent ?? '',
    role: row.getAttribute('data-role') ?? '',
    badge: row.querySelector('.role-badge')?.textContent ?? '',
    rowClass: row.className,
    cells: Array.from(row.querySelectorAll('td')).map((cell) => ({
      column: cell.getAttribute('data-column') ?? '',
      model: cell.getAttribute('data-model') ?? '',
      abs: cell.querySelector('.abs')?.textContent ?? '',
      norm: cell.querySelector('.norm')?.textContent ?? '',
      delta: cell.querySelector('.delta')?.textContent ?? '',
      deltaClass: cell.querySelector('.delta')?.className ?? '',
    })),
  })));
}

function text(page: Page, selector: string): Promise<string[]> {
  return page.evaluate((selector) => Array.from(document.querySelectorAll(selector)).map((e) => e.textContent ?? ''), selector);
}

/** A fresh page: no saved state, nothing drawn. */
async function resetPage(page: Page): Promise<void> {
  await page.evaluate(() => sessionStorage.clear());
  await page.reload();
  await waitForReady(page);
}

const negation = loadFixture('negation-sweep');
const htmlNames = loadFixture('html-names');
const failed = loadFixture('failed');

describe('results webview in Chromium', () => {
  let harness: WebviewHarness;
  before(async () => {
    harness = await openWebview();
  });
  after(async () => {
    await harness?.close();
  });
  beforeEach(async () => {
    await resetPage(harness.page);
    // Each test checks its own page errors; one test's must not fail the next.
    harness.pageErrors.length = 0;
  });

  it('shows a waiting page and says ready before any results', async () => {
    assert.deepEqual(await text(harness.page, '.empty'), ['Waiting for the first results of the run\u2026']);
    const ready = (await posted(harness.page)).map(parseWebviewMessage);
    assert.deepEqual(ready, [{ type: 'ready' }]);
  });

  describe('the negation sweep', () => {
    beforeEach(async () => {
      await applyTheme(harness.page, 'light');
      await postResults(harness.page, negation);
    });

    it('tables tasks x models with absolute, normalized and delta values, targets and controls marked', async () => {
      // [task, role, base, fine-tuned, forget_ta (abs, norm, delta), forget_ties (abs, norm, delta)], hand-checked from the fixture.
      const expected = [
        ['toxic', 'target', '47.8%', '96.9%', ['13.1%', 'norm 13.6%', `${minus}34.6 pp`, 'good'], ['20.3%', 'norm 21.0%', `${minus}27.4 pp`, 'good']],
        ['sci', 'control', '85.7%', '92.9%', ['82.2%', 'norm 88.4%', `${minus}3.5 pp`, 'bad'], ['83.4%', 'norm 89.8%', `${minus}2.3 pp`, 'bad']],
        ['news', 'control', '79.9%', '91.2%', ['77.0%', 'norm 84.4%', `${minus}2.9 pp`, 'bad'], ['76.3%', 'norm 83.7%', `${minus}3.5 pp`, 'bad']],
      ] as const;
      const rows = await tableRows(harness.page);
      assert.equal(rows.length, expected.length);
      for (const [i, [task, role, base, finetuned, ta, ties]] of expected.entries()) {
        const row = rows[i]!;
        assert.equal(row.task, task);
        assert.equal(row.role, role);
        assert.equal(row.badge, role);
        assert.match(row.rowClass, new RegExp(`\\brole-${role}\\b`));
        assert.deepEqual(row.cells.map((c) => [c.column, c.model]), [['base', 'base'], ['finetuned', `${task}_ft`], ['edited', 'forget_ta'], ['edited', 'forget_ties']]);
        assert.equal(row.cells[0]!.abs, base, `${task} base`);
        assert.equal(row.cells[1]!.abs, finetuned, `${task} fine-tuned`);
        for (const [cell, [abs, norm, delta, wanted]] of [[row.cells[2]!, ta], [row.cells[3]!, ties]] as const) {
          assert.deepEqual([cell.abs, cell.norm, cell.delta], [abs, norm, delta], `${task} ${cell.model}`);
          assert.match(cell.deltaClass, new RegExp(`\\b${wanted}\\b`), `${task} ${cell.model} delta`);
        }
      }
      assert.deepEqual(await text(harness.page, 'table.results thead th .point'), ['lam = 0.65', 'lam = 0.6']);
      const borders = await harness.page.evaluate(() => Array.from(document.querySelectorAll('table.results tbody th')).map((th) => getComputedStyle(th).borderLeftStyle));
      assert.deepEqual(borders, ['solid', 'dashed', 'dashed']);
    });

    it('draws one line per task against lam, 21 points each, and marks the chosen point at its x', async () => {
      const evaluation = negation.evaluations[0]!;
      const grid = negation.sweeps[0]!.values;
      assert.equal(grid.length, 21);
      for (const chosen of evaluation.chosen) {
        const geometry = await chartGeometry(harness.page, chosen.model);
        assert.deepEqual(geometry.lines.map((l) => l.label).sort(), ['news', 'sci', 'toxic']);
        assert.deepEqual(geometry.lines.map((l) => [l.label, l.dash]).sort(), [['news', '6,4'], ['sci', '6,4'], ['toxic', null]]);
        const index = grid.indexOf(chosen.point['lam']!);
        assert.ok(index > 0, `chosen lam ${chosen.point['lam']} is on the grid`);
        for (const line of geometry.lines) {
          assert.equal(line.vertices.length, 21, `${chosen.model} ${line.label}`);
          const [first, last] = [line.vertices[0]!, line.vertices[20]!];
          // Sorted by lam on a linear axis: vertex i sits at i/20 of the way.
          line.vertices.forEach((v, i) => assert.ok(Math.abs(v.x - (first.x + (last.x - first.x) * grid[i]!)) < 0.5, `${line.label} vertex ${i}`));
          const marker = geometry.chosen.find((c) => c.label.startsWith(`${line.label}:`));
          assert.ok(marker, `chosen marker for ${line.label}`);
          const at = line.vertices[index]!;
          assert.ok(Math.abs(marker.x - at.x) < 0.5 && Math.abs(marker.y - at.y) < 0.5, `${chosen.model} ${line.label}: marker (${marker.x}, ${marker.y}) vs vertex (${at.x}, ${at.y})`);
        }
        assert.equal(geometry.chosen.length, 3);
        assert.equal(geometry.rule.length, 1);
        assert.ok(Math.abs(geometry.rule[0]! - geometry.lines[0]!.vertices[index]!.x) < 0.5);
      }
      // Higher accuracy is drawn higher: toxic (about 13%) lies below sci (about 82%) at the chosen point.
      const ta = await chartGeometry(harness.page, 'forget_ta');
      const y = (label: string): number => ta.chosen.find((c) => c.label.startsWith(`${label}:`))!.y;
      assert.ok(y('toxic') > y('sci'));
    });

    it('draws the similarity heatmap with one cell per pair, values and colours by cosine', async () => {
      const cells = await harness.page.evaluate(() => Array.from(document.querySelectorAll('g[aria-description="similarity cells"] rect'))
        .map((rect) => ({ label: rect.getAttribute('aria-label') ?? '', fill: rect.getAttribute('fill') ?? '' })));
      const names = negation.similarity!.vectors;
      assert.deepEqual(cells.map((c) => c.label), names.flatMap((row, i) => names.map((column, j) =>
        `cos(${row}, ${column}) = ${negation.similarity!.cosine[i]![j]!.toFixed(2)}`)));
      assert.deepEqual(await text(harness.page, 'g[aria-description="similarity values"] text'),
        ['1.00', '0.04', '0.02', '0.04', '1.00', '0.19', '0.02', '0.19', '1.00']);
      const rgb = (colour: string): number[] => colour.match(/\d+/g)!.map(Number);
      const background = [255, 255, 255];
      const distance = (label: string): number => {
        const fill = rgb(cells.find((c) => c.label.startsWith(label))!.fill);
        return Math.hypot(...fill.map((v, k) => v - background[k]!));
      };
      // 0.02 < 0.04 < 0.19 = the colour span; the diagonal is clamped to the same end.
      assert.ok(distance('cos(toxic, news)') < distance('cos(toxic, sci)'));
      assert.ok(distance('cos(toxic, sci)') < distance('cos(sci, news)'));
      assert.equal(cells.find((c) => c.label.startsWith('cos(sci, news)'))!.fill, cells.find((c) => c.label.startsWith('cos(toxic, toxic)'))!.fill);
      assert.deepEqual(await text(harness.page, '.norms .norm'), ['\u2016toxic\u2016 = 14.82', '\u2016sci\u2016 = 11.37', '\u2016news\u2016 = 12.05']);
    });

    it('shows the status, backend, duration, outputs and notes', async () => {
      assert.deepEqual(await text(harness.page, '.status-badge'), ['done']);
      assert.deepEqual(await text(harness.page, 'header .recipe-path'), ['/home/ada/recipes/forget-toxic.tvr']);
      assert.deepEqual(await text(harness.page, 'header .meta'), ['backend webgpu (auto: a Vulkan GPU was found (NVIDIA H200)) \u00b7 2 min 38.5 s']);
      assert.deepEqual(await text(harness.page, 'ul.outputs li'), [
        'out/forget_ta.safetensors \u00b7 safetensors, 52 tensors, 42.5 MiB \u00b7 lam = 0.65',
        'out/forget_ties.safetensors \u00b7 safetensors, 52 tensors, 42.5 MiB \u00b7 lam = 0.6',
      ]);
      assert.deepEqual(await text(harness.page, 'ul.notes li'), negation.notes);
      assert.deepEqual(await text(harness.page, '.error-box'), []);
      assert.deepEqual(await text(harness.page, '.progress-line'), []);
      await assertCleanPage(harness);
      await screenshot(harness.page, 'negation-sweep-light');
    });

    it('posts export requests the extension accepts', async () => {
      await harness.page.click('button[data-export="csv"]');
      await harness.page.click('button[data-export="json"]');
      const messages = (await posted(harness.page)).map(parseWebviewMessage);
      assert.deepEqual(messages, [{ type: 'ready' }, { type: 'export', format: 'csv' }, { type: 'export', format: 'json' }]);
    });

    it('follows the theme: light and dark colours differ and come from the VS Code variables', async () => {
      const colours = async (): Promise<{ background: string; task: string; stroke: string; button: string }> => harness.page.evaluate(() => ({
        background: getComputedStyle(document.body).backgroundColor,
        task: getComputedStyle(document.querySelector('.task-name')!).color,
        stroke: document.querySelector('g[aria-description="sweep lines"] path[aria-label="toxic"]')!.getAttribute('stroke') ?? '',
        button: getComputedStyle(document.querySelector('button')!).backgroundColor,
      }));
      const light = await colours();
      await applyTheme(harness.page, 'dark');
      const dark = await colours();
      await screenshot(harness.page, 'negation-sweep-dark');
      assert.deepEqual([light.background, dark.background], ['rgb(255, 255, 255)', 'rgb(30, 30, 30)']);
      assert.deepEqual([light.task, dark.task], ['rgb(59, 59, 59)', 'rgb(204, 204, 204)']);
      assert.deepEqual([light.stroke, dark.stroke], [lightTheme['--vscode-charts-blue'], darkTheme['--vscode-charts-blue']]);
      assert.notEqual(light.button, dark.button);
      await assertCleanPage(harness);
    });

    it('admits Plot\'s styles by nonce, and the CSP refuses what has none', async () => {
      const styles = await harness.page.evaluate(() => {
        const script = document.querySelector('script[src]') as HTMLScriptElement;
        const svgStyles = Array.from(document.querySelectorAll('svg style')) as SVGStyleElement[];
        return { count: svgStyles.length, nonces: svgStyles.every((s) => s.nonce === script.nonce && s.nonce !== ''), display: getComputedStyle(document.querySelector('figure.chart svg')!).display };
      });
      assert.ok(styles.count >= 3, `${styles.count} Plot style elements`);
      assert.ok(styles.nonces);
      // `display: block` comes from Plot's own stylesheet: it was applied, not refused.
      assert.equal(styles.display, 'block');
      assert.deepEqual(await cspViolations(harness.page), []);
      const refused = await harness.page.evaluate(async () => {
        const style = document.createElement('style');
        style.textContent = 'body { background: rgb(1, 2, 3) !important; }';
        document.head.append(style);
        const script = document.createElement('script');
        script.textContent = 'window.__inlineRan = true;';
        document.head.append(script);
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { background: getComputedStyle(document.body).backgroundColor, ran: 'inlineRan' in window || '__inlineRan' in window };
      });
      assert.notEqual(refused.background, 'rgb(1, 2, 3)');
      assert.equal(refused.ran, false);
      const violations = await cspViolations(harness.page);
      assert.ok(violations.some((v) => v.startsWith('style-src')) && violations.some((v) => v.startsWith('script-src')), violations.join('; '));
      // The probes above violated the policy on purpose (Chromium logs each as a console error); start the next test clean.
      await harness.page.evaluate(() => ((window as unknown as { __cspViolations: string[] }).__cspViolations.length = 0));
      await harness.page.waitForTimeout(50);
      const logged = harness.pageErrors.splice(0);
      assert.equal(logged.length, 2, logged.join('\n'));
      assert.ok(logged.every((line) => line.includes('Content Security Policy')));
    });
  });

  it('shows names with HTML in them as text: no element injected, no dialog', async () => {
    await applyTheme(harness.page, 'dark');
    await postResults(harness.page, htmlNames);
    const evil = '<img src=x onerror=alert(1)>';
    const model = '<script>alert(2)</script>';
    const control = '<b>bold</b> & "quoted"';
    const page = harness.page;
    assert.deepEqual(await text(page, 'table.results .task-name'), [evil, control]);
    assert.deepEqual(await text(page, 'table.results thead .model-name'), [model]);
    assert.deepEqual(await text(page, 'table.results .reference-model'), ['<a href="javascript:alert(4)">ft</a>']);
    assert.deepEqual(await text(page, '.error-box'), [htmlNames.error]);
    assert.deepEqual(await text(page, 'header .recipe-path'), [htmlNames.recipe.path]);
    assert.deepEqual(await text(page, 'ul.notes li'), htmlNames.notes);
    assert.deepEqual(await text(page, 'table.posterior caption'), ['<i>w</i>: on 3 validation documents of <u>t</u>, top 2 kept']);
    assert.deepEqual(await text(page, 'table.posterior tbody tr'), ['<b>a</b> 0.250', 'm2 0.750']);
    assert.deepEqual(await page.evaluate(() => Array.from(document.querySelectorAll('table.posterior meter')).map((m) => (m as HTMLMeterElement).value)), [0.25, 0.75]);
    assert.deepEqual(await text(page, '.objective'), ['best mean normalized accuracy <em>across</em> tasks']);
    assert.deepEqual(await text(page, '.chart h3'), [`${model}: validation loss against lam`, `${model}: validation accuracy against lam`]);
    // Better is up: on the loss chart a lower loss is drawn higher, and the axis says so.
    const lossChart = await chartGeometry(page, model);
    const lossValues = htmlNames.evaluations[0]!.points.filter((p) => p.model === model).sort((a, b) => a.point['lam']! - b.point['lam']!).map((p) => Object.values(p.metrics)[0]!.loss!);
    const vertices = lossChart.lines.find((l) => l.vertices.length === lossValues.length)!.vertices;
    const byLoss = [...vertices.keys()].sort((i, j) => lossValues[i]! - lossValues[j]!);
    assert.ok(vertices[byLoss[0]!]!.y < vertices[byLoss.at(-1)!]!.y, 'the lowest loss is drawn above the highest');
    assert.match((await text(page, 'figure.chart svg g[aria-label="y-axis label"] text'))[0]!, /validation loss \(lower is better\)/);
    const labels = await page.evaluate(() => Array.from(document.querySelectorAll('g[aria-description="sweep lines"] path')).map((p) => p.getAttribute('aria-label')));
    assert.deepEqual(labels, [evil, control]);
    const ticks = await text(page, '.heatmap svg g[aria-label="y-axis tick label"] text');
    assert.deepEqual(ticks, htmlNames.similarity!.vectors);
    // Loss reads as a plain number; lower loss is an improvement for an `add` objective.
    const rows = await tableRows(page);
    assert.deepEqual(rows.map((r) => r.cells.map((c) => c.abs)), [['2.450', '\u2014', '2.000'], ['70.0%', '79.0%', '67.3%']]);
    assert.deepEqual(rows.map((r) => [r.cells[2]!.delta, r.cells[2]!.deltaClass]), [[`${minus}0.450`, 'delta good'], [`${minus}2.8 pp`, 'delta bad']]);
    const injected = await page.evaluate(() => ({
      img: document.querySelectorAll('img, image[href="x"]').length,
      scripts: document.querySelectorAll('script').length,
      markup: document.querySelectorAll('b, em, u, i, a').length,
    }));
    assert.deepEqual(injected, { img: 0, scripts: 1, markup: 0 });
    await page.waitForTimeout(100);
    assert.deepEqual(harness.dialogs, []);
    await assertCleanPage(harness);
    await screenshot(page, 'html-names-dark');
  });

  it('shows a failed run with its error and nothing else to draw', async () => {
    await applyTheme(harness.page, 'light');
    await postResults(harness.page, failed);
    assert.deepEqual(await text(harness.page, '.status-badge'), ['failed']);
    assert.deepEqual(await text(harness.page, '.error-box'), [failed.error]);
    const counts = await harness.page.evaluate(() => ({ tables: document.querySelectorAll('table').length, svgs: document.querySelectorAll('svg').length }));
    assert.deepEqual(counts, { tables: 0, svgs: 0 });
    await assertCleanPage(harness);
    await screenshot(harness.page, 'failed-light');
  });

  it('updates live: a running run with part of the sweep, then the finished run', async () => {
    const evaluation = negation.evaluations[0]!;
    const partial: RunResults = {
      ...negation, status: 'running', finishedAt: undefined, outputs: [],
      evaluations: [{ ...evaluation, points: evaluation.points.slice(0, 12), chosen: [] }],
    };
    const page = harness.page;
    await postResults(page, partial);
    await post(page, { type: 'progress', message: 'evaluating 24/132: forget_ta lam = 0.35 on sci', fraction: 0.18 });
    assert.deepEqual(await text(page, '.status-badge'), ['running']);
    assert.deepEqual(await text(page, '.progress-message'), ['evaluating 24/132: forget_ta lam = 0.35 on sci']);
    assert.equal(await page.evaluate(() => document.querySelector('progress')!.value), 0.18);
    const pendingRows = await tableRows(page);
    assert.deepEqual(pendingRows.map((r) => r.cells.filter((c) => c.column === 'edited').map((c) => c.abs)), [['\u2014', '\u2014'], ['\u2014', '\u2014'], ['\u2014', '\u2014']]);
    // The first 12 points are 6 coefficients for each of the two models.
    const early = await chartGeometry(page, 'forget_ta');
    assert.deepEqual(early.lines.map((l) => l.vertices.length), [6, 6, 6]);
    assert.deepEqual([early.chosen.length, early.rule.length], [0, 0]);
    await screenshot(page, 'negation-sweep-running');

    await postResults(page, negation);
    assert.deepEqual(await text(page, '.status-badge'), ['done']);
    assert.deepEqual(await text(page, '.progress-line'), []);
    const done = await chartGeometry(page, 'forget_ta');
    assert.deepEqual(done.lines.map((l) => l.vertices.length), [21, 21, 21]);
    assert.equal(done.chosen.length, 3);
    assert.deepEqual((await tableRows(page))[0]!.cells[2]!.abs, '13.1%');
    await assertCleanPage(harness);
  });

  it('restores the last results after a reload without a new message', async () => {
    const page = harness.page;
    await postResults(page, negation);
    const before = await tableRows(page);
    await page.reload();
    await waitForReady(page);
    const restored = await page.evaluate(() => ({
      writes: (window as unknown as { __stateWrites: number }).__stateWrites,
      svgs: document.querySelectorAll('figure.chart svg').length,
    }));
    assert.deepEqual(restored, { writes: 0, svgs: 2 });
    assert.deepEqual(await tableRows(page), before);
    assert.deepEqual((await posted(page)).map(parseWebviewMessage), [{ type: 'ready' }]);
    await assertCleanPage(harness);
  });

  it('ignores messages it does not know and results of an unknown schema version get a clear message', async () => {
    const page = harness.page;
    await page.evaluate(() => {
      window.postMessage({ type: 'results', results: { nonsense: true } }, '*');
      window.postMessage('<img src=x onerror=alert(5)>', '*');
    });
    await page.waitForTimeout(50);
    assert.equal(await page.evaluate(() => (window as unknown as { __stateWrites: number }).__stateWrites), 0);
    await postResults(page, { ...negation, schemaVersion: 2 } as unknown as RunResults);
    assert.deepEqual(await text(page, '.error-box'), ['These results use schema version 2; this extension reads version 1. Update the extension or rerun the recipe.']);
    assert.deepEqual(harness.dialogs, []);
  });
});
