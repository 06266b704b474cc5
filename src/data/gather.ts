import type { Worker } from 'node:worker_threads';
import { ConvlabError } from '../ir/errors.js';

/**
 * Copying the samples of a batch into one buffer, whole samples at a time, on another thread.
 *
 * onnxruntime-node runs a session synchronously on the JavaScript thread (its run() is a
 * setImmediate around a blocking native call), so a batch assembled "while the caller awaits" a
 * run would in fact wait for the run to finish. A worker thread really overlaps it: the worker
 * holds the images in a SharedArrayBuffer and copies each batch's samples into a fresh buffer that
 * it transfers back. The shared copy of the images is made once, when the first batch is asked
 * for; the dataset itself stays in ordinary memory because onnxruntime-node refuses tensors over
 * shared memory.
 */

export interface Gatherer {
  /** The samples `order` names, in that order, in a fresh buffer of order.length * sampleBytes bytes. */
  gather(order: Int32Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Run `make` on a later turn of the event loop. */
export function later<T>(make: () => T): Promise<T> {
  return new Promise((resolve, reject) =>
    setImmediate(() => {
      try {
        resolve(make());
      } catch (e) {
        reject(e);
      }
    }),
  );
}

function copySamples(images: Uint8Array, sampleBytes: number, order: Int32Array): Uint8Array {
  const out = new Uint8Array(order.length * sampleBytes);
  for (let j = 0; j < order.length; j++) {
    const s = order[j]!;
    out.set(images.subarray(s * sampleBytes, (s + 1) * sampleBytes), j * sampleBytes);
  }
  return out;
}

/** Assembly on the main thread, on the next turn of the event loop: for where threads are not wanted. */
export function inlineGatherer(images: Uint8Array, sampleBytes: number): Gatherer {
  return {
    gather: (order) => later(() => copySamples(images, sampleBytes, order)),
    close: async () => {},
  };
}

// Plain JavaScript, run as a CommonJS script by `new Worker(source, { eval: true })`: no file to
// locate, whether convlab runs from TypeScript sources or from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { images, sampleBytes } = workerData;
parentPort.on('message', ({ id, order }) => {
  const out = new Uint8Array(order.length * sampleBytes);
  for (let j = 0; j < order.length; j++) {
    const s = order[j];
    out.set(images.subarray(s * sampleBytes, (s + 1) * sampleBytes), j * sampleBytes);
  }
  parentPort.postMessage({ id, images: out }, [out.buffer]);
});
`;

interface Job {
  resolve: (images: Uint8Array) => void;
  reject: (e: Error) => void;
}

class ThreadGatherer implements Gatherer {
  private worker: Promise<Worker> | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(
    private readonly images: Uint8Array,
    private readonly sampleBytes: number,
  ) {}

  private start(): Promise<Worker> {
    this.worker ??= (async () => {
      const { Worker } = await import('node:worker_threads');
      const shared = new Uint8Array(new SharedArrayBuffer(this.images.length));
      shared.set(this.images);
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { images: shared, sampleBytes: this.sampleBytes },
      });
      // An idle worker must not keep the process alive; a busy one must, or an awaited batch is lost.
      worker.unref();
      worker.on('message', ({ id, images }: { id: number; images: Uint8Array }) => {
        const job = this.jobs.get(id);
        // A reply to a job close() abandoned: close() has ref'ed the worker to await its exit, and
        // an unref here would let the process end with that await pending (exit code 13).
        if (!job) return;
        this.jobs.delete(id);
        if (!this.jobs.size) worker.unref();
        job.resolve(images);
      });
      worker.on('error', (e) => this.fail(e));
      worker.on('exit', (code) => {
        if (this.jobs.size) this.fail(new Error(`it exited with code ${code}`));
      });
      return worker;
    })();
    return this.worker;
  }

  private fail(e: Error): void {
    this.failure = new ConvlabError(`the batch-assembly thread failed: ${e.message}`, 1);
    for (const job of this.jobs.values()) job.reject(this.failure);
    this.jobs.clear();
  }

  async gather(order: Int32Array): Promise<Uint8Array> {
    if (this.failure) throw this.failure;
    const worker = await this.start();
    const id = this.nextId++;
    const indices = order.slice();
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, order: indices }, [indices.buffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    const abandoned = [...this.jobs.values()];
    this.jobs.clear();
    if (worker) {
      // An unref'ed worker's terminate() would not keep the process alive until it completes.
      const thread = await worker;
      thread.ref();
      await thread.terminate();
    }
    for (const job of abandoned) job.reject(new ConvlabError('the data loader was closed', 1));
  }
}

/** Assembly on a worker thread, started with the first batch. */
export function threadGatherer(images: Uint8Array, sampleBytes: number): Gatherer {
  return new ThreadGatherer(images, sampleBytes);
}
