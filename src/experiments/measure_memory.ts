import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { trainingGraph } from '../autodiff/training_graph.js';
import { ConvlabError } from '../ir/errors.js';
import type { Graph } from '../ir/graph.js';
import { numel } from '../ir/shape.js';
import { onnxruntimeTarget, type SessionOptions } from '../runtime/session.js';
import type { BackendName, StepSession } from '../train/backend.js';
import { trainingBackend } from '../train/backends.js';
import { TrainingSession } from '../train/step.js';
import { buildModel } from '../zoo/index.js';
import { SGD } from './training.js';

/**
 * The memory a training step really takes, as the operating system sees it: in a fresh Node
 * process per model (so none inherits another's freed-but-kept pages), the peak resident set
 * (VmHWM, reset through /proc/self/clear_refs) over a few steps of convlab's compiled training
 * graph, above the resident set of the open session at rest, plus the state the steps are fed.
 * The session's own structures (graph, kernels, execution plan: up to tens of MB, growing with
 * the node count, not the batch) are left out: they are not tensors, and no feature-map estimate
 * models them. Linux only (/proc/self).
 *
 * onnxruntime's defaults keep a growing arena (BFC, extended in chunks rounded up to powers of two)
 * and, after the first run, one pre-planned block for all intermediate tensors (the memory
 * pattern); both hold more than is live. `allocator: 'system'` turns both off so every tensor is
 * its own allocation, and the child runs with glibc's mmap threshold pinned at 64 KiB
 * (MALLOC_MMAP_THRESHOLD_, which also stops glibc raising it after frees), so each feature map is
 * mapped when onnxruntime allocates it and unmapped when it frees it: the resident set follows the
 * live tensors, and its peak is the step's true peak. `allocator: 'arena'` keeps convlab's
 * defaults: what `convlab train` holds.
 *
 * `backend: 'onednn'` measures the native backend's step instead: it plans its memory (every
 * buffer placed once in arenas by liveness), so besides the resident peak the measurement reports
 * the arenas it planned, and everything the session holds above the baseline at the step's peak.
 */

export type Allocator = 'system' | 'arena';

export interface PeakRequest {
  /** A zoo model, built for `input` and `classes`. */
  readonly model: string;
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly batch: number;
  readonly steps: number;
  readonly seed: number;
  readonly allocator: Allocator;
  /** What runs the step (default onnxruntime); the allocator applies to onnxruntime only. */
  readonly backend?: BackendName;
  /**
   * The model of the warm-up step (batch 1) that runs before the baseline; default `model`. A
   * smaller model of the same family pages in the same kernels for less session-creation time.
   */
  readonly warmUp?: string;
  readonly threads?: number;
  /** One batch: `batch` uint8 images (NCHW) then `batch` little-endian int32 labels (see `writeBatch`). */
  readonly batchFile: string;
}

export interface PeakMeasurement {
  /**
   * The step's peak: the state it is fed plus the most the steps' resident set rose above the
   * resting session (activations, gradients, the updated state; onnxruntime's transients).
   */
  readonly peak: number;
  /** The same after each step (a running maximum): it should settle after the first. */
  readonly peakAfterStep: readonly number[];
  /** Bytes of the state each step is fed: parameters, buffers and optimiser slots. */
  readonly state: number;
  /** Resident bytes before the session: modules, the batch, the model, its compiled step graph. */
  readonly baseline: number;
  /**
   * Resident bytes the open session added above `baseline` before its first step, the state
   * included; less than its structures take where it reuses memory the warm-up freed.
   */
  readonly session: number;
  /** Everything the session held above `baseline` at the steps' peak: its resting bytes and the rise. */
  readonly held: number;
  /** The bytes the backend planned for the step, by arena, where it plans them (the native backend). */
  readonly planned?: Readonly<Record<string, number>>;
  readonly sessionSeconds: number;
  readonly stepSeconds: readonly number[];
  readonly losses: readonly number[];
}

/** A small learning rate, so that the few measured steps stay finite on images only scaled to [0, 1]. */
const LR = 0.01;
const STATUS = '/proc/self/status';
/** glibc's mmap threshold in the child: every buffer of 64 KiB or more is its own mapping. */
const MMAP_THRESHOLD = 64 * 1024;

/** Resident and peak resident bytes of this process (VmRSS, VmHWM). */
export function residentMemory(status = readStatus()): { rss: number; peak: number } {
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s*(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new ConvlabError(`${STATUS} has no ${field} line; peak memory is measured on Linux only`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

function readStatus(): string {
  if (!existsSync(STATUS)) {
    throw new ConvlabError(`cannot read ${STATUS}: measuring peak memory needs Linux; run this on Linux`);
  }
  return readFileSync(STATUS, 'utf8');
}

/** Start VmHWM afresh at the current resident set (Linux 4.0+: '5' in clear_refs). */
function resetPeak(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch (e) {
    throw new ConvlabError(
      `cannot reset the peak resident set through /proc/self/clear_refs (${(e as Error).message}); ` +
        'peak memory needs a Linux kernel that allows it (4.0 or later, /proc mounted writable)',
    );
  }
}

/** Write one batch for `PeakRequest.batchFile`: the images' bytes, then the labels. */
export function writeBatch(file: string, images: Uint8Array, labels: Int32Array): void {
  const labelBytes = new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength);
  writeFileSync(file, Buffer.concat([images, labelBytes]));
}

interface Batch {
  readonly images: ort.TypedTensor<'float32'>;
  readonly labels: Int32Array;
}

function readBatch(r: PeakRequest): Batch {
  const bytes = readFileSync(r.batchFile);
  const pixels = r.batch * numel(r.input);
  if (bytes.length !== pixels + 4 * r.batch) {
    throw new ConvlabError(
      `${r.batchFile} holds ${bytes.length} bytes; a batch of ${r.batch} ${r.input.join('x')} images and labels is ${pixels + 4 * r.batch}`,
    );
  }
  // Scaled to [0, 1]; the exact normalisation does not change how much memory a step takes.
  const images = Float32Array.from(bytes.subarray(0, pixels), (v) => v / 255);
  const labels = new Int32Array(
    bytes.buffer.slice(bytes.byteOffset + pixels, bytes.byteOffset + bytes.length),
  );
  return {
    images: new ort.Tensor('float32', images, [r.batch, ...r.input]),
    labels,
  };
}

/** The first image and label of a batch, as a batch of one. */
const firstOf = (b: Batch, input: readonly number[]): Batch => ({
  images: new ort.Tensor('float32', (b.images.data as Float32Array).subarray(0, numel(input)), [1, ...input]),
  labels: b.labels.subarray(0, 1),
});

const collectGarbage = (globalThis as { gc?: () => void }).gc ?? (() => {});

/**
 * Collect garbage and give V8 time to sweep and unmap the pages it freed (it does so
 * concurrently, after `gc()` returns), so the baseline holds no garbage the steps would free.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    collectGarbage();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The arenas a session planned, where its backend plans them (the native session's `memory.arenas`). */
function plannedArenas(session: StepSession): Readonly<Record<string, number>> | undefined {
  const memory = (session as { memory?: { arenas?: Readonly<Record<string, number>> } }).memory;
  return memory?.arenas && { ...memory.arenas };
}

/**
 * What happens before the baseline, and how the measured session opens after it: onnxruntime's
 * step graph is compiled first (the graph `convlab train` compiles, NCHWc convolutions included),
 * so the baseline holds it; another backend compiles inside `create`.
 */
async function opener(
  r: PeakRequest,
  model: Graph,
  session: SessionOptions,
): Promise<() => Promise<StepSession>> {
  const seed = { seed: r.seed };
  if ((r.backend ?? 'onnxruntime') === 'onnxruntime') {
    const graph = trainingGraph(model, { batch: r.batch, optimizer: SGD, target: await onnxruntimeTarget() });
    return () => TrainingSession.open(graph, seed, session);
  }
  const backend = await trainingBackend(r.backend);
  return () => backend.create(model, { batch: r.batch, optimizer: SGD }, seed, session);
}

/**
 * Run in the measuring process itself (the child's side). A warm-up step of a small model at
 * batch 1 first, released again, so that the backend's code is paged in and its thread pool runs
 * before anything is measured. Then the session at the full batch; once it rests, the peak is
 * reset, and the steps run.
 */
export async function measureHere(r: PeakRequest): Promise<PeakMeasurement> {
  const batch = readBatch(r);
  const model = buildModel(r.model, { input: r.input, classes: r.classes });
  const small = r.warmUp ? buildModel(r.warmUp, { input: r.input, classes: r.classes }) : model;
  const session = {
    arena: r.allocator === 'arena',
    ...(r.threads !== undefined && { threads: r.threads }),
  };
  const backend = await trainingBackend(r.backend ?? 'onnxruntime');
  const warmUp = await backend.create(small, { batch: 1, optimizer: SGD }, { seed: r.seed }, session);
  const first = firstOf(batch, r.input);
  await warmUp.step(first.images, first.labels, LR, 1);
  await warmUp.release();
  const open = await opener(r, model, session);
  await settle();
  const baseline = residentMemory().rss;

  const started = performance.now();
  const runner = await open();
  const sessionSeconds = (performance.now() - started) / 1000;
  await settle();
  resetPeak();
  const resting = residentMemory().rss;
  const steps = await measureSteps(r, runner, batch, resting);
  const planned = plannedArenas(runner);
  await runner.release();
  return {
    peak: Math.max(...steps.peakAfterStep),
    ...steps,
    state: runner.stateBytes,
    baseline,
    session: resting - baseline,
    held: residentMemory().peak - baseline,
    ...(planned && { planned }),
    sessionSeconds,
  };
}

/** The steps, each followed by the running peak: the state fed plus the rise above the resting session. */
async function measureSteps(r: PeakRequest, runner: StepSession, batch: Batch, resting: number) {
  const peakAfterStep: number[] = [];
  const stepSeconds: number[] = [];
  const losses: number[] = [];
  for (let step = 0; step < r.steps; step++) {
    const t = performance.now();
    losses.push((await runner.step(batch.images, batch.labels, LR, step + 1)).loss);
    stepSeconds.push((performance.now() - t) / 1000);
    peakAfterStep.push(runner.stateBytes + residentMemory().peak - resting);
    // The state the step replaced is garbage now; collected, it cannot pile up over the steps.
    await settle();
  }
  return { peakAfterStep, stepSeconds, losses };
}

/** The child's script: beside this file, TypeScript under tsx in a checkout, JavaScript once built. */
function childCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    return ['--import', tsx, join(dirname(here), 'measure_memory_child.ts')];
  }
  return [join(dirname(here), 'measure_memory_child.js')];
}

/** Measure one model's training peak in a fresh Node process (see the file comment). */
export async function measureInFreshProcess(r: PeakRequest): Promise<PeakMeasurement> {
  readStatus(); // not Linux: say so before spawning anything
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', ...childCommand(), JSON.stringify(r)],
      {
        env: { ...process.env, MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD) },
        maxBuffer: 1 << 20,
      },
    ));
  } catch (e) {
    const err = e as Error & { stderr?: string };
    const why = (err.stderr || err.message).trim().split('\n').at(-1);
    throw new ConvlabError(`measuring the training peak of ${r.model} in a child process failed: ${why}`);
  }
  const last = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as PeakMeasurement;
  } catch {
    throw new ConvlabError(
      `the memory-measuring child process for ${r.model} printed no result line; its output ended: ${last.slice(-200)}`,
    );
  }
}
