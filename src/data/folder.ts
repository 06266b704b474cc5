import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join, relative } from 'node:path';
import sharp from 'sharp';
import { ConvlabError } from '../ir/errors.js';
import { type Dataset, dataset, type ImageSet, imageSet } from './dataset.js';

/**
 * A folder of images in torchvision's ImageFolder layout: DIR/train/<class>/**\/*.png and
 * DIR/test/<class>/** (DIR/val when there is no DIR/test). Classes are the training split's
 * subfolders sorted by name, label i for the i-th, as ImageFolder numbers them; files are taken in
 * the same sorted walk. Files of other types are skipped, as ImageFolder skips them.
 *
 * Every image is decoded by sharp (libvips), its alpha dropped (as PIL's convert('RGB') drops it),
 * converted to RGB (3 channels, the default) or to greyscale (1 channel) and brought to one size:
 * `shape` when given (the model's input), else the first training image's size. An image of another
 * size is scaled to cover that size and centre-cropped, like torchvision's Resize + CenterCrop:
 * the aspect ratio is kept, nothing is stretched.
 */

/** What sharp decodes, by extension (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif'] as const;
/** ImageFolder accepts these but sharp cannot decode them: reported, not silently skipped. */
const UNSUPPORTED_EXTENSIONS = ['.bmp', '.ppm', '.pgm'];

export interface FolderOptions {
  /** [channels (1 or 3), height, width]; default [3, first image's height, first image's width]. */
  readonly shape?: readonly [number, number, number];
  /** Images decoded at once; default twice the cores. */
  readonly concurrency?: number;
}

const visible = (name: string) => !name.startsWith('.');

function subfolders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter(
      (e) =>
        visible(e.name) &&
        (e.isDirectory() || (e.isSymbolicLink() && statSync(join(dir, e.name)).isDirectory())),
    )
    .map((e) => e.name)
    .sort();
}

/** The image files under `dir`, in os.walk order with sorted names, as ImageFolder lists them. */
function imageFiles(dir: string, out: string[] = []): string[] {
  const entries = readdirSync(dir, { withFileTypes: true })
    .filter((e) => visible(e.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const dirs: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && statSync(path).isDirectory());
    if (isDir) {
      dirs.push(path);
      continue;
    }
    const ext = extname(e.name).toLowerCase();
    if (UNSUPPORTED_EXTENSIONS.includes(ext)) {
      throw new ConvlabError(`${path}: ${ext} images cannot be decoded here; convert them to .png`);
    }
    if ((IMAGE_EXTENSIONS as readonly string[]).includes(ext)) out.push(path);
  }
  for (const d of dirs) imageFiles(d, out);
  return out;
}

interface Listing {
  readonly files: string[];
  readonly labels: Int32Array;
}

function listSplit(splitDir: string, classes: readonly string[], root: string): Listing {
  const files: string[] = [];
  const labels: number[] = [];
  for (const cls of subfolders(splitDir)) {
    const label = classes.indexOf(cls);
    if (label < 0) {
      throw new ConvlabError(
        `${join(splitDir, cls)}: class '${cls}' has no folder in the training split (${classes.join(', ')})`,
      );
    }
    const before = files.length;
    imageFiles(join(splitDir, cls), files);
    if (files.length === before) {
      throw new ConvlabError(
        `${join(splitDir, cls)} holds no images (${IMAGE_EXTENSIONS.join(' ')}); remove the folder or add images`,
      );
    }
    while (labels.length < files.length) labels.push(label);
  }
  if (!files.length) throw new ConvlabError(`${relative(root, splitDir) || splitDir} holds no class folders`);
  return { files, labels: Int32Array.from(labels) };
}

/** One image as C planes of H*W bytes, written into `out` at `offset`. */
async function decodeInto(
  file: string,
  shape: readonly [number, number, number],
  out: Uint8Array,
  offset: number,
) {
  const [c, h, w] = shape;
  try {
    let pipeline = sharp(file, { failOn: 'error' }).removeAlpha();
    pipeline = c === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline
      .resize(w, h, { fit: 'cover', position: 'centre' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== c || info.width !== w || info.height !== h) {
      throw new Error(`decoded to ${info.channels}x${info.height}x${info.width}, expected ${c}x${h}x${w}`);
    }
    if (c === 1) {
      out.set(data, offset);
      return;
    }
    // libvips splits the interleaved HWC pixels into CHW planes, so no JavaScript loop touches a pixel.
    const raw = { raw: { width: w, height: h, channels: c as 3 } };
    const planes = await Promise.all(
      ([0, 1, 2] as const).map((k) => sharp(data, raw).extractChannel(k).raw().toBuffer()),
    );
    for (const [k, p] of planes.entries()) out.set(p, offset + k * h * w);
  } catch (e) {
    throw new ConvlabError(`cannot decode image ${file}: ${(e as Error).message}`);
  }
}

async function decodeAll(listing: Listing, shape: readonly [number, number, number], concurrency: number) {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(listing.files.length * size);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < listing.files.length; i = next++) {
      await decodeInto(listing.files[i]!, shape, images, i * size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, listing.files.length) }, worker));
  return images;
}

async function firstImageSize(file: string): Promise<[number, number]> {
  try {
    const m = await sharp(file).metadata();
    if (!m.width || !m.height) throw new Error('no dimensions');
    return [m.height, m.width];
  } catch (e) {
    throw new ConvlabError(`cannot decode image ${file}: ${(e as Error).message}`);
  }
}

export async function loadFolder(dir: string, options: FolderOptions = {}): Promise<Dataset> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ConvlabError(`image folder ${dir} does not exist`);
  const trainDir = join(dir, 'train');
  if (!existsSync(trainDir)) {
    throw new ConvlabError(
      `${dir} has no train/ folder: expected ${dir}/train/<class>/*.png and ${dir}/test/<class>/*.png`,
    );
  }
  const testDir = [join(dir, 'test'), join(dir, 'val')].find((d) => existsSync(d));
  if (!testDir)
    throw new ConvlabError(`${dir} has no test/ (or val/) folder: expected ${dir}/test/<class>/*.png`);
  const classes = subfolders(trainDir);
  if (!classes.length)
    throw new ConvlabError(`${trainDir} holds no class folders: expected ${trainDir}/<class>/*.png`);
  const train = listSplit(trainDir, classes, dir);
  const test = listSplit(testDir, classes, dir);

  if (options.shape) {
    const [c, h, w] = options.shape;
    if ((c !== 1 && c !== 3) || !(h > 0 && w > 0 && Number.isInteger(h) && Number.isInteger(w))) {
      throw new ConvlabError(`image folder shape must be 1xHxW or 3xHxW, got ${options.shape.join('x')}`);
    }
  }
  const shape = options.shape ?? ([3, ...(await firstImageSize(train.files[0]!))] as const);
  const concurrency = options.concurrency ?? 2 * availableParallelism();
  const set = async (split: string, l: Listing): Promise<ImageSet> =>
    imageSet({
      name: `folder/${split}`,
      images: await decodeAll(l, shape, concurrency),
      labels: l.labels,
      count: l.files.length,
      shape: [shape[0], shape[1], shape[2]],
      classes: classes.length,
      classNames: classes,
    });
  return dataset(`folder:${dir}`, await set('train', train), await set('test', test));
}
