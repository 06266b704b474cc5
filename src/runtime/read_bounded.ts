import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ConvlabError } from '../ir/errors.js';
import { LIMITS } from '../ir/limits.js';

/** The file size bounds of src/ir/limits.ts. */
export type FileLimit = 'specBytes' | 'imageBytes' | 'weightsBytes' | 'datasetBytes' | 'namesBytes';

const CHUNK = 1 << 20;

const reason = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file (ENOENT)';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a folder, not a file';
  return code ?? (e as Error).message;
};

/**
 * A whole file's bytes, never more than the bound of `limit`: a regular file larger than the bound
 * is refused before reading, and a device or pipe (/dev/zero, /dev/stdin) is read only up to it.
 * `what` names the file for the user ('spec', 'image', 'weights'); every failure is one line.
 */
export function readBounded(path: string, limit: FileLimit, what: string): Buffer {
  const max = LIMITS[limit].max;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ConvlabError(`cannot read ${what} '${path}': ${reason(e)}`);
  }
  const tooLarge = (size: string) =>
    new ConvlabError(`${what} '${path}' is ${size} bytes, above the limit of ${max} (${LIMITS[limit].why})`);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory())
      throw new ConvlabError(`cannot read ${what} '${path}': it is a folder, not a file`);
    if (stat.isFile() && stat.size > max) throw tooLarge(String(stat.size));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(stat.isFile() ? Math.max(1, stat.size - total + 1) : CHUNK);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > max) throw tooLarge(`more than ${max}`);
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } catch (e) {
    if (e instanceof ConvlabError) throw e;
    throw new ConvlabError(`cannot read ${what} '${path}': ${reason(e)}`, 1);
  } finally {
    closeSync(fd);
  }
}
