import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultLabRoot, type LabServer, startLabServer } from '../../src/cli/lab.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/**
 * Issue #18 case 7: the model page opens with the whole graph inside its pane, at a desktop width
 * (where it sat at the pane's right edge) and at a phone width (where the pane showed nothing).
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--no-first-run',
];
const SHOTS = join(tmpdir(), 'convlab-lab-screenshots');

let server: LabServer;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(join(defaultLabRoot(), 'index.html'))) {
    throw new Error(`the lab is not built (${defaultLabRoot()}); run 'npm run build' first`);
  }
  server = await startLabServer({ port: 0 });
  profile = makeTempDir('chromium-fit');
  mkdirSync(SHOTS, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.close();
  if (profile) removeTempDir(profile);
});

interface Rect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

describe('the model page fits its graph to the pane on open', () => {
  for (const viewport of [
    { width: 1440, height: 900 },
    { width: 390, height: 844 },
  ]) {
    for (const model of ['resnet50', 'googlenet']) {
      it(`${model} at ${viewport.width}x${viewport.height}`, async () => {
        const page = await context.newPage();
        await page.setViewportSize(viewport);
        await page.goto(new URL(`/model/${model}`, server.url).href);
        await page.locator('[data-testid=graph] .node').first().waitFor({ timeout: 60_000 });
        await page.waitForTimeout(300); // the pane's size settles, then the scale follows
        const { pane, graph, boxes } = await page.evaluate(() => {
          const rect = (el: Element): Rect => {
            const r = el.getBoundingClientRect();
            return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
          };
          const drawn = Array.from(
            document.querySelectorAll('[data-testid=graph] .node, [data-testid=graph] .container'),
          );
          const all = drawn.map(rect);
          return {
            pane: rect(document.querySelector('.graph-scroll')!),
            graph: {
              left: Math.min(...all.map((r) => r.left)),
              top: Math.min(...all.map((r) => r.top)),
              right: Math.max(...all.map((r) => r.right)),
              bottom: Math.max(...all.map((r) => r.bottom)),
            },
            boxes: all.length,
          };
        });
        await page.screenshot({ path: join(SHOTS, `fit-${model}-${viewport.width}.png`) });
        const where = `${model} at ${viewport.width}px: graph ${JSON.stringify(graph)} in pane ${JSON.stringify(pane)}`;
        expect(boxes).toBeGreaterThan(3);
        expect(graph.left, where).toBeGreaterThanOrEqual(pane.left - 1);
        expect(graph.right, where).toBeLessThanOrEqual(pane.right + 1);
        expect(graph.top, where).toBeGreaterThanOrEqual(pane.top - 1);
        expect(graph.bottom, where).toBeLessThanOrEqual(pane.bottom + 1);
        await page.close();
      }, 90_000);
    }
  }
});
