import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultLabRoot, type LabServer, startLabServer } from '../../src/cli/lab.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { buildModel } from '../../src/zoo/index.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/** The lab opens an .onnx file from disk in the page (nothing uploaded) and shows its model page. */

let server: LabServer;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(join(defaultLabRoot(), 'index.html'))) {
    throw new Error(`the lab is not built (${defaultLabRoot()}); run 'npm run build' first`);
  }
  server = await startLabServer({ port: 0 });
  profile = makeTempDir('chromium');
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    headless: true,
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (profile) removeTempDir(profile);
});

describe('the lab opens an ONNX file', () => {
  it('shows the imported model page, and a bad file as one line', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const uploads: string[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET') uploads.push(r.url());
    });
    await page.goto(server.url);
    await page.locator('[data-testid=zoo-table][data-ready=true]').waitFor({ timeout: 90_000 });
    const bytes = exportOnnx(buildModel('resnet20'), { mode: 'infer' });
    const chooser = page.locator('input[type=file]');
    await chooser.setInputFiles({
      name: 'mine.onnx',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(bytes),
    });
    await page.locator('[data-testid=graph] .node').first().waitFor({ timeout: 60_000 });
    expect(page.url()).toContain('/model/mine');
    expect(await page.textContent('body')).toContain('conv1');

    await page.goto(server.url);
    await page.locator('[data-testid=zoo-table][data-ready=true]').waitFor({ timeout: 90_000 });
    await page.locator('input[type=file]').setInputFiles({
      name: 'bad.onnx',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(bytes.subarray(0, 1000)),
    });
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(/not a valid ONNX model/);
    expect(errors).toEqual([]);
    expect(uploads).toEqual([]);
  }, 400_000);
});
