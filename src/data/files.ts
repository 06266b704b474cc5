import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConvlabError } from '../ir/errors.js';

/**
 * The largest dataset file convlab reads, decompressed: far above any IDX or CIFAR file (MNIST's
 * training images are 47 MB, EMNIST's largest 550 MB), far below what would exhaust memory. A gzip
 * file that inflates past it is corrupt or a decompression bomb, and is stopped at the cap.
 */
export const MAX_FILE_BYTES = 2 ** 30;

const GZIP_MAGIC = [0x1f, 0x8b];

const formatBytes = (n: number): string =>
  n >= 2 ** 30
    ? `${(n / 2 ** 30).toFixed(1)} GiB`
    : n >= 2 ** 20
      ? `${(n / 2 ** 20).toFixed(1)} MiB`
      : `${n} bytes`;

export const isGzip = (bytes: Uint8Array): boolean =>
  bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];

/** Inflate gzip bytes (all members), refusing output past `maxBytes`. */
export function gunzip(bytes: Uint8Array, file: string, maxBytes = MAX_FILE_BYTES): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ConvlabError(
        `${file} inflates to more than ${formatBytes(maxBytes)}: a corrupt file or a gzip bomb, not a dataset`,
      );
    }
    throw new ConvlabError(`${file} is not valid gzip (${(e as Error).message}); download it again`);
  }
}

/** `bytes` inflated when they start with the gzip magic (whatever the file's name says), else as they are. */
export const inflate = (bytes: Uint8Array, file: string, maxBytes = MAX_FILE_BYTES): Uint8Array =>
  isGzip(bytes) ? gunzip(bytes, file, maxBytes) : bytes;

/** A file's bytes, inflated when gzip'ed. */
export function readDataFile(file: string, maxBytes = MAX_FILE_BYTES): Uint8Array {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new ConvlabError(`${file} is not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof ConvlabError) throw e;
    throw new ConvlabError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (size > maxBytes)
    throw new ConvlabError(`${file} is ${formatBytes(size)}, more than the ${formatBytes(maxBytes)} cap`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new ConvlabError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return inflate(bytes, file, maxBytes);
}

/**
 * The first of `names` that exists in `dir`; otherwise an error that says what was missing, every
 * name tried, where, and `hint` (how to get the files).
 */
export function findFile(dir: string, names: readonly string[], what: string, hint = ''): string {
  for (const n of names) {
    const p = join(dir, n);
    if (existsSync(p)) return p;
  }
  const where = existsSync(dir) ? `in ${dir}` : `(${dir} does not exist)`;
  throw new ConvlabError(
    `missing ${what}: looked for ${names.join(', ')} ${where}${hint ? `; ${hint}` : ''}`,
  );
}

/** `dir` itself, or the one subfolder of it a dataset's archive unpacks to, whichever holds `marker`. */
export function datasetDir(dir: string, archiveFolder: string, marker: string): string {
  const inner = join(dir, archiveFolder);
  return !existsSync(join(dir, marker)) && existsSync(join(inner, marker)) ? inner : dir;
}
