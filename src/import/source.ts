import { ConvlabError } from '../ir/errors.js';

/**
 * Random access to the bytes of a model file, so the decoder can skip a tensor's half gigabyte
 * without reading it. In memory (a browser File's ArrayBuffer, a test's bytes) it is a view; on disk
 * (src/import/file.ts) each read is a positioned read of just those bytes. Browser-safe: no node:*.
 */
export interface ByteSource {
  /** Where the bytes come from, for messages ("model 'resnet18.onnx'"). */
  readonly label: string;
  readonly length: number;
  /** `length` bytes from `offset`; the caller has checked the range lies within the source. */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes already in memory; reads are views, never copies. */
export function memorySource(data: Uint8Array, label = 'model'): ByteSource {
  // A plain view (a Node Buffer's slice() would not copy), over exactly these bytes.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { label, length: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * Where the tensors an ONNX file keeps as external data live: given the `location` the file names
 * (relative to the model's folder), its bytes. The CLI opens files beside the model; the lab has none.
 */
export type ExternalFiles = (location: string) => ByteSource;

export const noExternalFiles =
  (what: string): ExternalFiles =>
  (location) => {
    throw new ConvlabError(
      `${what} keeps tensors in the external file '${location}', which is not available here`,
    );
  };
