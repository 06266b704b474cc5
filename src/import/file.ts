import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, dirname, isAbsolute, normalize, resolve, sep } from 'node:path';
import { ConvlabError } from '../ir/errors.js';
import { type ImportedModel, type ImportOptions, importOnnx } from './onnx.js';
import type { ByteSource, ExternalFiles } from './source.js';

/*
 * Node's edge of the importer: a model file is read where the decoder asks, by positioned reads,
 * never whole; external-data files are opened beside it. The rest of src/import is browser-safe.
 */

function openFile(path: string, label: string): { source: ByteSource; close: () => void } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConvlabError(
      `cannot read ${label}: ${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)}`,
    );
  }
  const length = fstatSync(fd).size;
  const source: ByteSource = {
    label,
    length,
    read(offset, n) {
      const out = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const got = readSync(fd, out, done, n - done, offset + done);
        if (got === 0) throw new ConvlabError(`${label} ended early (it changed while being read?)`);
        done += got;
      }
      return out;
    },
  };
  return { source, close: () => closeSync(fd) };
}

/** External-data files beside the model; a location may not leave the model's folder (as onnx checks). */
function externalBeside(model: string, opened: (() => void)[]): ExternalFiles {
  const folder = dirname(resolve(model));
  const cache = new Map<string, ByteSource>();
  return (location) => {
    const clean = normalize(location);
    if (isAbsolute(clean) || clean.startsWith('..') || clean.split(sep).includes('..')) {
      throw new ConvlabError(`external data location '${location}' must be a path inside the model's folder`);
    }
    let source = cache.get(clean);
    if (!source) {
      const file = openFile(resolve(folder, clean), `external data '${location}' of '${basename(model)}'`);
      opened.push(file.close);
      source = file.source;
      cache.set(clean, source);
    }
    return source;
  };
}

/**
 * Import an ONNX file. The file stays open while `use` runs, so weights are read from it only when
 * the caller asks (a summary reads none of them).
 */
export function withOnnxFile<T>(path: string, options: ImportOptions, use: (m: ImportedModel) => T): T {
  const file = openFile(path, `model '${path}'`);
  const opened = [file.close];
  try {
    const name = options.name ?? basename(path).replace(/\.onnx$/i, '');
    return use(importOnnx(file.source, { ...options, name, external: externalBeside(path, opened) }));
  } finally {
    for (const close of opened) close();
  }
}

export const isOnnxPath = (arg: string): boolean => arg.toLowerCase().endsWith('.onnx');
