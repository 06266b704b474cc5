import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFolder } from '../../src/data/folder.js';
import { expectUserError } from '../support/errors.js';
import { tempDir } from '../support/tmp.js';

const tmp = tempDir('folder');
let dirs = 0;

type Rgb = [number, number, number];

/** A solid-colour image file; the format follows the extension. */
async function solid(file: string, rgb: Rgb, width = 6, height = 4, alpha = false): Promise<void> {
  const [r, g, b] = rgb;
  const image = sharp({
    create: {
      width,
      height,
      channels: alpha ? 4 : 3,
      background: alpha ? { r, g, b, alpha: 0.5 } : { r, g, b },
    },
  });
  const ext = file.split('.').pop();
  const encoded =
    ext === 'jpg'
      ? image.jpeg({ quality: 100 })
      : ext === 'webp'
        ? image.webp({ lossless: true })
        : image.png();
  await encoded.toFile(file);
}

const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];

/**
 * train/{dog,cat,bird}, test/{cat,dog}: classes sort to bird=0, cat=1, dog=2. Each class has its own
 * colour, so a sample's label can be read off its pixels.
 */
async function makeFolder(): Promise<string> {
  const dir = join(tmp, `f${dirs++}`);
  const put = async (
    split: string,
    cls: string,
    name: string,
    rgb: Rgb,
    w?: number,
    h?: number,
    alpha?: boolean,
  ) => {
    mkdirSync(join(dir, split, cls), { recursive: true });
    await solid(join(dir, split, cls, name), rgb, w, h, alpha);
  };
  await put('train', 'dog', 'b.png', BLUE);
  await put('train', 'dog', 'a.png', BLUE, 6, 4, true);
  await put('train', 'cat', 'x.webp', GREEN);
  mkdirSync(join(dir, 'train', 'cat', 'nested'), { recursive: true });
  await solid(join(dir, 'train', 'cat', 'nested', 'y.png'), GREEN, 12, 8);
  await put('train', 'bird', '1.png', RED);
  writeFileSync(join(dir, 'train', 'bird', 'notes.txt'), 'not an image');
  writeFileSync(join(dir, 'train', 'bird', '.hidden.png'), 'skipped');
  await put('test', 'dog', 'q.png', BLUE, 3, 2);
  await put('test', 'cat', 'r.png', GREEN);
  return dir;
}

describe('image folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeFolder();
  });

  it('sorts classes by name, labels files in sorted walk order, decodes to CHW planes', async () => {
    const d = await loadFolder(dir);
    expect(d.train.classNames).toEqual(['bird', 'cat', 'dog']);
    expect(d.train.classes).toBe(3);
    expect(d.train.count).toBe(5);
    expect(d.test.count).toBe(2);
    expect(Array.from(d.train.labels)).toEqual([0, 1, 1, 2, 2]);
    expect(Array.from(d.test.labels)).toEqual([1, 2]);
    // Default size: the first training image's (bird/1.png, 6 wide, 4 high), 3 channels.
    expect(d.train.shape).toEqual([3, 4, 6]);
    const plane = 24;
    const colourOf = (images: Uint8Array, n: number) =>
      [0, 1, 2].map((k) => {
        const p = images.subarray((n * 3 + k) * plane, (n * 3 + k + 1) * plane);
        return Math.round(p.reduce((a, b) => a + b, 0) / plane);
      });
    expect(colourOf(d.train.images, 0)).toEqual(RED);
    expect(colourOf(d.train.images, 1)).toEqual(GREEN); // webp
    expect(colourOf(d.train.images, 2)).toEqual(GREEN); // nested/y.png, 12x8 scaled down
    expect(colourOf(d.train.images, 3)).toEqual(BLUE); // a.png: alpha dropped, not blended
    expect(colourOf(d.test.images, 1)).toEqual(BLUE); // 3x2 scaled up
  });

  it('brings every image to a given shape, greyscale on request', async () => {
    const d = await loadFolder(dir, { shape: [1, 5, 5] });
    expect(d.train.shape).toEqual([1, 5, 5]);
    expect(d.train.images.length).toBe(5 * 25);
    // Greyscale of pure red, green, blue differ, and each image is uniform.
    const grey = (n: number) => d.train.images[n * 25]!;
    expect(new Set([grey(0), grey(1), grey(3)]).size).toBe(3);
    for (let n = 0; n < 5; n++) {
      expect(d.train.images.subarray(n * 25, (n + 1) * 25).every((v) => Math.abs(v - grey(n)) <= 1)).toBe(
        true,
      );
    }
    const rgb = await loadFolder(dir, { shape: [3, 7, 9], concurrency: 1 });
    expect(rgb.test.images.length).toBe(2 * 3 * 63);
  });

  it('falls back to val/ when there is no test/', async () => {
    const d2 = await makeFolder();
    renameSync(join(d2, 'test'), join(d2, 'val'));
    expect((await loadFolder(d2)).test.count).toBe(2);
  });

  it('bad input: missing folders, empty class folders, unknown test classes, undecodable images', async () => {
    await expectUserError(() => loadFolder(join(tmp, 'missing')), 'does not exist');
    const noTrain = join(tmp, 'no-train');
    mkdirSync(join(noTrain, 'test'), { recursive: true });
    await expectUserError(() => loadFolder(noTrain), 'no train/ folder');
    const noClasses = join(tmp, 'no-classes');
    mkdirSync(join(noClasses, 'train'), { recursive: true });
    mkdirSync(join(noClasses, 'test'), { recursive: true });
    await expectUserError(() => loadFolder(noClasses), 'holds no class folders');

    const noTest = await makeFolder();
    rmSync(join(noTest, 'test'), { recursive: true });
    await expectUserError(() => loadFolder(noTest), 'no test/ (or val/) folder');

    const emptyClass = await makeFolder();
    mkdirSync(join(emptyClass, 'train', 'eel'));
    writeFileSync(join(emptyClass, 'train', 'eel', 'readme.txt'), 'x');
    await expectUserError(() => loadFolder(emptyClass), join(emptyClass, 'train', 'eel'), 'holds no images');

    const stranger = await makeFolder();
    mkdirSync(join(stranger, 'test', 'fox'));
    await solid(join(stranger, 'test', 'fox', 'f.png'), RED);
    await expectUserError(() => loadFolder(stranger), "class 'fox' has no folder in the training split");

    const broken = await makeFolder();
    const bad = join(broken, 'train', 'cat', 'broken.png');
    writeFileSync(bad, 'this is not a png');
    await expectUserError(() => loadFolder(broken), `cannot decode image ${bad}`);

    const truncated = await makeFolder();
    const cut = join(truncated, 'test', 'dog', 'q.png');
    const bytes = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 1, g: 2, b: 3 } },
    })
      .png()
      .toBuffer();
    writeFileSync(cut, bytes.subarray(0, bytes.length - 30));
    await expectUserError(() => loadFolder(truncated), `cannot decode image ${cut}`);

    const bmp = await makeFolder();
    writeFileSync(join(bmp, 'train', 'dog', 'old.bmp'), 'BM');
    await expectUserError(() => loadFolder(bmp), 'old.bmp', '.bmp images cannot be decoded here');

    await expectUserError(() => loadFolder(dir, { shape: [2, 4, 4] }), 'must be 1xHxW or 3xHxW');
  });
});
