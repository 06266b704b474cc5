import { ConvlabError } from '../ir/errors.js';
import { loadCifar10, loadCifar100 } from './cifar.js';
import { type Dataset, limit } from './dataset.js';
import { loadFolder } from './folder.js';
import { FASHION_MNIST_DIR, loadFashionMnist, loadIdx, loadMnist } from './idx.js';
import { type SyntheticOptions, synthetic } from './synthetic.js';

/**
 * `--data SOURCE` (docs/cli.md): where a dataset comes from, parsed once into a plain value
 * and loaded by one call. Everything is read and checked when it loads, before any training work.
 */

const FOLDER_KINDS = ['fashion-mnist', 'mnist', 'idx', 'cifar10', 'cifar100', 'folder'] as const;
type FolderKind = (typeof FOLDER_KINDS)[number];

export type DataSource =
  | { readonly kind: FolderKind; readonly dir: string }
  | { readonly kind: 'synthetic'; readonly options: SyntheticOptions };

/** The accepted forms, for help text and error messages. */
export const SOURCE_FORMS: readonly string[] = [
  `fashion-mnist[:DIR]   Fashion-MNIST IDX files (default DIR ${FASHION_MNIST_DIR})`,
  'mnist:DIR             MNIST IDX files',
  'idx:DIR               any MNIST-layout IDX files (classes: the largest label + 1)',
  'cifar10:DIR           CIFAR-10 binary version',
  'cifar100:DIR          CIFAR-100 binary version, fine labels',
  'folder:DIR            DIR/train/<class>/*.png|jpg and DIR/test/<class>/*',
  'synthetic[:k=v,...]   seeded oriented-grating images; keys classes, shape (CxHxW), train, test, seed, noise',
];

const usage = () => `accepted forms:\n  ${SOURCE_FORMS.join('\n  ')}`;

function parseSynthetic(text: string): SyntheticOptions {
  const out: Record<string, unknown> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const [key, value, extra] = pair.split('=');
    if (!key || value === undefined || extra !== undefined) {
      throw new ConvlabError(`synthetic data: '${pair}' is not key=value; ${usage()}`);
    }
    if (key === 'shape') {
      const dims = value.split('x').map(Number);
      if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) {
        throw new ConvlabError(`synthetic data: shape must be CxHxW, got '${value}'`);
      }
      out.shape = dims;
    } else if (['classes', 'train', 'test', 'seed', 'noise'].includes(key)) {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n))
        throw new ConvlabError(`synthetic data: ${key} must be a number, got '${value}'`);
      out[key] = n;
    } else {
      throw new ConvlabError(
        `synthetic data: unknown key '${key}' (keys: classes, shape, train, test, seed, noise)`,
      );
    }
  }
  return out as SyntheticOptions;
}

export function parseSource(text: string): DataSource {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const arg = colon < 0 ? undefined : text.slice(colon + 1);
  if (kind === 'synthetic') return { kind, options: arg ? parseSynthetic(arg) : {} };
  if (kind === 'fashion-mnist' && arg === undefined) return { kind, dir: FASHION_MNIST_DIR };
  if (!FOLDER_KINDS.includes(kind as FolderKind)) {
    throw new ConvlabError(`--data ${text}: unknown data source '${kind}'; ${usage()}`);
  }
  if (!arg) throw new ConvlabError(`--data ${text}: '${kind}' needs a folder, as ${kind}:DIR; ${usage()}`);
  return { kind: kind as FolderKind, dir: arg };
}

export interface LoadOptions {
  /** The model's input [C,H,W]: the size folder images are brought to, and synthetic images' shape. */
  readonly shape?: readonly [number, number, number];
  /** The model's class count: synthetic data's classes; IDX labels must lie below it. */
  readonly classes?: number;
  /** Seed of synthetic data (when the source string sets none). */
  readonly seed?: number;
  /** Keep the first N training samples (`--limit N`); the test split stays whole. */
  readonly limit?: number;
}

export async function loadDataset(source: string | DataSource, options: LoadOptions = {}): Promise<Dataset> {
  const s = typeof source === 'string' ? parseSource(source) : source;
  const data = await loadSourced(s, options);
  return options.limit === undefined ? data : { ...data, train: limit(data.train, options.limit) };
}

async function loadSourced(s: DataSource, options: LoadOptions): Promise<Dataset> {
  switch (s.kind) {
    case 'fashion-mnist':
      return loadFashionMnist(s.dir);
    case 'mnist':
      return loadMnist(s.dir);
    case 'idx':
      return loadIdx(s.dir, options.classes === undefined ? {} : { classes: options.classes });
    case 'cifar10':
      return loadCifar10(s.dir);
    case 'cifar100':
      return loadCifar100(s.dir);
    case 'folder':
      return loadFolder(s.dir, options.shape ? { shape: options.shape } : {});
    case 'synthetic':
      return synthetic({
        ...(options.shape && { shape: options.shape }),
        ...(options.classes !== undefined && { classes: options.classes }),
        ...(options.seed !== undefined && { seed: options.seed }),
        ...s.options,
      });
  }
}
