import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultLabRoot, type LabServer, startLabServer } from '../../src/cli/lab.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/**
 * The lab in a real headless Chromium (Debian's, driven by playwright-core), against the built app
 * served in-process by `convlab lab`'s own server on a free port.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
/** Where the screenshots go, for a human to look at after a run. */
const SHOTS = join(tmpdir(), 'convlab-lab-screenshots');

const CONCEPTS = [
  'inception-1x1',
  'factorised-kernels',
  'aux-losses',
  'bottleneck',
  'separable',
  'resnext-groups',
  'channel-shuffle',
  'se-overhead',
  'dense-growth',
  'spp',
  'rf-formulas',
  'maxpool-l2norm',
];

/** Every page, and what shows that it has finished drawing. */
const PAGES: readonly { path: string; ready: string }[] = [
  { path: '/', ready: '[data-testid=zoo-table][data-ready=true]' },
  { path: '/model/resnet50', ready: '[data-testid=graph] .node' },
  {
    path: '/model/googlenet?layer=inception3a',
    ready: '[data-testid=graph] .node.selected, [data-testid=graph] .container.selected',
  },
  { path: '/rf/vgg16?layer=features.30', ready: '[data-testid=rf-chart] canvas' },
  { path: '/memory', ready: '[data-testid=memory-chart] canvas' },
  { path: '/concepts', ready: '.concept-grid[data-ready=true]' },
  ...CONCEPTS.map((id) => ({ path: `/concepts/${id}`, ready: '[data-testid=verdict]' })),
  { path: '/spec', ready: '[data-testid=spec-ok]' },
];

let server: LabServer;
let context: BrowserContext;
let profile: string;
/** Console errors, failed requests and uncaught exceptions, per page. */
const problems = new Map<Page, string[]>();

async function open(path: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const list: string[] = [];
  problems.set(page, list);
  page.on('console', (m) => {
    if (m.type() === 'error') list.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => list.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => list.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) list.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(new URL(path, server.url).href);
  return page;
}

beforeAll(async () => {
  if (!existsSync(join(defaultLabRoot(), 'index.html'))) {
    throw new Error(`the lab is not built (${defaultLabRoot()}); run 'npm run build' first`);
  }
  server = await startLabServer({ port: 0 });
  profile = makeTempDir('chromium');
  mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (profile) removeTempDir(profile);
});

describe('the lab in Chromium', () => {
  it('loads every page without a console error', async () => {
    for (const { path, ready } of PAGES) {
      const page = await open(path);
      await page.locator(ready).first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(150);
      expect(problems.get(page), path).toEqual([]);
      await page.close();
    }
  }, 120_000);

  it('shows resnet50 with 25,557,032 parameters when it is chosen in the zoo', async () => {
    const page = await open('/');
    await page.getByRole('link', { name: 'resnet50', exact: true }).click();
    await page.waitForURL(/\/model\/resnet50$/);
    await expect.poll(() => page.getByTestId('params').textContent()).toContain('25,557,032');
    await page.locator('[data-testid=graph] .node').first().waitFor();
    // Edges carry their shapes; a click on a box selects it and puts it in the URL.
    expect(await page.locator('[data-testid=graph] .edge text').allTextContents()).toContain('64×56×56');
    await page.locator('[data-testid=graph] .node[data-id="conv1"]').click();
    await page.waitForURL(/layer=conv1/);
    expect(await page.getByTestId('details').textContent()).toContain('[1, 64, 112, 112]');
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('compares models side by side with bar charts', async () => {
    const page = await open('/');
    await page.locator('[data-testid=zoo-table][data-ready=true]').waitFor({ timeout: 30_000 });
    await page.getByRole('checkbox', { name: 'compare resnet50' }).check();
    await page.getByRole('checkbox', { name: 'compare densenet121' }).check();
    await page.waitForURL(/compare=resnet50,densenet121/);
    const charts = page.getByRole('region', { name: 'comparison' }).locator('canvas');
    await expect.poll(() => charts.count()).toBe(4);
    // Sorting by parameters puts the biggest first.
    await page.getByRole('button', { name: 'params' }).click();
    expect(await page.locator('[data-testid=zoo-table] tbody tr td.name').first().textContent()).toBe(
      'vgg19_bn',
    );
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('opens a bottleneck block into its ops', async () => {
    const page = await open('/model/resnet50?layer=layer1.0');
    const graph = page.getByTestId('graph');
    await graph.locator('.node[data-id="layer1.0"]').waitFor();
    await graph.getByRole('button', { name: 'expand layer1.0' }).click();
    await graph.locator('.node[data-id="layer1.0.conv2"]').waitFor();
    expect(await graph.locator('.node[data-id="layer1.0"]').count()).toBe(0);
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows a broken spec with its error at the node in error', async () => {
    const page = await open('/spec?from=basic_block');
    const editor = page.getByTestId('spec-text');
    await page.getByTestId('spec-ok').waitFor();
    const text = await editor.inputValue();
    // Six groups cannot divide 64 channels.
    const broken = text.replace(/("name": "layer1\.0\.conv2", "op": "conv2d",)/, '$1 "groups": 6,');
    expect(broken).not.toBe(text);
    await editor.fill(broken);
    const error = page.getByTestId('spec-error');
    await expect.poll(() => error.textContent()).toContain("node 'layer1.0.conv2' (conv2d)");
    expect(await error.textContent()).toContain('groups 6 must divide the input channels 64');
    const line = broken.split('\n').findIndex((l) => l.includes('"layer1.0.conv2"'));
    expect(await error.textContent()).toContain(`Line ${line + 1}`);
    expect(await page.locator('.editor .gutter .bad').textContent()).toBe(String(line + 1));
    // The valid spec downloads as ONNX.
    await editor.fill(text);
    await page.getByTestId('spec-ok').waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download ONNX' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('basic_block.onnx');
    const onnx = readFileSync((await download.path())!);
    expect(onnx.length).toBeGreaterThan(4 * 73_728);
    expect(onnx.includes(Buffer.from('layer1.0.conv2.weight'))).toBe(true);
    // Broken JSON is located too.
    await editor.fill(text.replace('"nodes": [', '"nodes": [,'));
    await expect.poll(() => error.textContent()).toContain('not valid JSON');
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows the 212-pixel receptive field of vgg16 features.30', async () => {
    const page = await open('/rf/vgg16?layer=features.30');
    const size = page.getByTestId('rf-size').locator('.v');
    await expect.poll(() => size.textContent()).toBe('212');
    expect(await page.getByTestId('rf-stride').locator('.v').textContent()).toBe('32');
    expect(await page.getByTestId('rf-padding').locator('.v').textContent()).toBe('90');
    const before = await canvasInk(page, '[data-testid=rf-canvas]');
    expect(before).toBeGreaterThan(1000);
    // A user's own image goes under the field.
    const png = await page.evaluate(() => {
      const c = document.createElement('canvas');
      c.width = 64;
      c.height = 48;
      const g = c.getContext('2d')!;
      g.fillStyle = '#c33';
      g.fillRect(0, 0, 64, 48);
      return c.toDataURL('image/png').split(',')[1]!;
    });
    await page
      .locator('input[type=file]')
      .setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: Buffer.from(png, 'base64') });
    await page.getByRole('button', { name: 'Remove image' }).waitFor();
    // Clicking the picture picks another output position.
    await page.getByTestId('rf-canvas').click({ position: { x: 5, y: 5 } });
    await page.waitForURL(/pos=0,0/);
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('draws the memory chart', async () => {
    const page = await open('/memory');
    const chart = '[data-testid=memory-chart] canvas';
    await page.locator(chart).first().waitFor();
    await expect.poll(() => canvasInk(page, chart), { timeout: 20_000 }).toBeGreaterThan(2000);
    expect(await page.locator('[data-testid=memory-chart]').count()).toBe(2);
    expect(await page.getByTestId('memory-table').textContent()).toContain('densenet121');
    // Training by default (backward included); the inference timeline is one click away.
    await page.getByRole('button', { name: 'inference' }).click();
    await page.waitForURL(/mode=infer/);
    await expect.poll(() => canvasInk(page, chart), { timeout: 20_000 }).toBeGreaterThan(2000);
    expect(problems.get(page)).toEqual([]);
    await page.close();
  }, 60_000);

  it('fits 1280x800 and a 390-wide phone without horizontal overflow', async () => {
    const views = [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ];
    for (const viewport of views) {
      for (const { path, ready } of PAGES.filter(
        (p) => !p.path.startsWith('/concepts/') || p.path.endsWith('/spp'),
      )) {
        const page = await open(path, viewport);
        await page.locator(ready).first().waitFor({ timeout: 30_000 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        expect(overflow, `${path} at ${viewport.width}px`).toBeLessThanOrEqual(0);
        const name = `${viewport.width}${path.replace(/[^a-z0-9]+/gi, '_')}.png`;
        await page.screenshot({ path: join(SHOTS, name) });
        expect(problems.get(page)).toEqual([]);
        await page.close();
      }
    }
  }, 120_000);
});

/** How many pixels of a canvas are painted. */
function canvasInk(page: Page, selector: string): Promise<number> {
  return page
    .locator(selector)
    .first()
    .evaluate((canvas) => {
      const c = canvas as HTMLCanvasElement;
      const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) ink++;
      return ink;
    });
}
