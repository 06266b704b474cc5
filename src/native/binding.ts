import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvlabError } from '../ir/errors.js';

/**
 * The typed surface of convlab's oneDNN binding (native/dnnl_binding.cc). Handles are opaque: a
 * memory descriptor, a primitive descriptor, a primitive, a memory object over JavaScript's bytes,
 * an argument list. The binding makes and runs them; every choice is the executor's (executor.ts).
 */
declare const handle: unique symbol;
export type Md = { readonly [handle]: 'md' };
export type Pd = { readonly [handle]: 'pd' };
export type Primitive = { readonly [handle]: 'primitive' };
export type Memory = { readonly [handle]: 'memory' };
export type ArgList = { readonly [handle]: 'args' };

export type DataType = 'f32' | 's32' | 'u8' | 's8';
export type FormatTag =
  | 'any'
  | 'x'
  | 'nc'
  | 'cn'
  | 'nchw'
  | 'nhwc'
  | 'chwn'
  | 'nChw8c'
  | 'nChw16c'
  | 'oi'
  | 'io'
  | 'oihw'
  | 'goihw'
  | 'ab'
  | 'abc'
  | 'abcd'
  | 'abcde';
export type Algorithm =
  | 'convolution_direct'
  | 'convolution_winograd'
  | 'relu'
  | 'relu_use_dst'
  | 'clip'
  | 'clip_v2'
  | 'clip_v2_use_dst'
  | 'logistic'
  | 'logistic_use_dst'
  | 'hardswish'
  | 'linear'
  | 'pooling_max'
  | 'pooling_avg_include_padding'
  | 'pooling_avg_exclude_padding'
  | 'binary_add'
  | 'binary_mul'
  | 'binary_sub'
  | 'binary_div'
  | 'reduction_sum'
  | 'reduction_norm_lp_sum';
export type ConvAlgorithm = Extract<Algorithm, `convolution_${string}`>;
export type MdQuery =
  | 'src'
  | 'diff_src'
  | 'weights'
  | 'diff_weights'
  | 'dst'
  | 'diff_dst'
  | 'workspace'
  | 'scratchpad';
type Dims = readonly number[];
type Bytes = ArrayBufferLike | ArrayBufferView;

export interface Binding {
  md(dims: Dims, type: DataType, tag: FormatTag): Md;
  mdStrides(dims: Dims, type: DataType, strides: Dims): Md;
  mdReshape(md: Md, dims: Dims): Md;
  mdSub(md: Md, dims: Dims, offsets: Dims): Md;
  mdBytes(md: Md): number;
  mdEqual(a: Md, b: Md): boolean;
  mdDescribe(md: Md): string;
  convFwd(
    algorithm: ConvAlgorithm,
    src: Md,
    weights: Md,
    bias: Md | null,
    dst: Md,
    strides: Dims,
    dilates: Dims,
    padL: Dims,
    padR: Dims,
    training: boolean,
  ): Pd;
  convBwdData(
    algorithm: ConvAlgorithm,
    diffSrc: Md,
    weights: Md,
    diffDst: Md,
    strides: Dims,
    dilates: Dims,
    padL: Dims,
    padR: Dims,
    hint: Pd,
  ): Pd;
  convBwdWeights(
    algorithm: ConvAlgorithm,
    src: Md,
    diffWeights: Md,
    diffBias: Md | null,
    diffDst: Md,
    strides: Dims,
    dilates: Dims,
    padL: Dims,
    padR: Dims,
    hint: Pd,
  ): Pd;
  eltwiseFwd(algorithm: Algorithm, data: Md, alpha: number, beta: number, training: boolean): Pd;
  eltwiseBwd(algorithm: Algorithm, diffData: Md, data: Md, alpha: number, beta: number, hint: Pd): Pd;
  poolFwd(
    algorithm: Algorithm,
    src: Md,
    dst: Md,
    strides: Dims,
    kernel: Dims,
    padL: Dims,
    padR: Dims,
    training: boolean,
  ): Pd;
  poolBwd(
    algorithm: Algorithm,
    diffSrc: Md,
    diffDst: Md,
    strides: Dims,
    kernel: Dims,
    padL: Dims,
    padR: Dims,
    hint: Pd,
  ): Pd;
  ipFwd(src: Md, weights: Md, bias: Md | null, dst: Md, training: boolean): Pd;
  ipBwdData(diffSrc: Md, weights: Md, diffDst: Md, hint: Pd): Pd;
  ipBwdWeights(src: Md, diffWeights: Md, diffBias: Md | null, diffDst: Md, hint: Pd): Pd;
  binary(algorithm: Algorithm, src0: Md, src1: Md, dst: Md, postEltwise?: Algorithm | null): Pd;
  concat(dst: Md | null, axis: number, sources: readonly Md[]): Pd;
  /**
   * Sum (or another reduction) over the axes where `dst` has dimension 1; `p` and `eps` are the
   * Lp norms' (norm_lp_sum is (sum |x|^p + eps)^(1/p)), 0 for the others.
   */
  reduction(algorithm: Algorithm, src: Md, dst: Md, p: number, eps: number): Pd;
  /** Dropout's mask by src/ops/random.ts's hash: `scale` where kept, 0 where dropped. */
  dropoutMask(
    mask: Float32Array,
    count: number,
    step: number,
    salt: number,
    threshold: number,
    scale: number,
  ): void;
  /** Zeroed bytes (rounded up to 2 MiB) on huge pages where the kernel gives them: a step's arena. */
  hugeArena(bytes: number): ArrayBuffer;
  /** Mean, population variance and sum of squares of `x`'s first `count` values, into `out` (in double). */
  moments(x: Float32Array, count: number, out: Float64Array): void;
  sum(dst: Md | null, scales: readonly number[], sources: readonly Md[]): Pd;
  reorder(src: Md, dst: Md): Pd;
  pdMd(pd: Pd, what: MdQuery, index: number): Md;
  pdImpl(pd: Pd): string;
  primitive(pd: Pd): Primitive;
  memory(md: Md, bytes: Bytes, byteOffset: number): Memory;
  setData(memory: Memory, bytes: Bytes, byteOffset: number): void;
  args(ids: readonly number[], memories: readonly Memory[]): ArgList;
  execute(primitive: Primitive, args: ArgList): void;
  run(primitives: readonly Primitive[], args: readonly ArgList[], from: number, to: number): void;
  wait(): void;
  setThreads(threads: number): void;
  sgd(
    weights: Float32Array,
    grads: Float32Array,
    velocity: Float32Array | null,
    count: number,
    lr: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
  ): void;
  adamw(
    weights: Float32Array,
    grads: Float32Array,
    expAvg: Float32Array,
    expAvgSq: Float32Array,
    count: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void;
  /** Training-mode batch normalisation on nChw16c, sums in double (native/batch_norm.h). */
  bnForward(
    x: Float32Array,
    y: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    n: number,
    channels: number,
    pixels: number,
    eps: number,
    relu: boolean,
  ): void;
  bnBackward(
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
    n: number,
    channels: number,
    pixels: number,
    eps: number,
    relu: boolean,
  ): void;
  runningStats(
    runningMean: Float32Array,
    runningVar: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    channels: number,
    momentum: number,
    unbias: number,
  ): void;
  readonly ARG: Readonly<
    Record<
      | 'SRC'
      | 'SRC_1'
      | 'DST'
      | 'WEIGHTS'
      | 'BIAS'
      | 'MEAN'
      | 'VARIANCE'
      | 'SCALE'
      | 'SHIFT'
      | 'WORKSPACE'
      | 'DIFF_SRC'
      | 'DIFF_DST'
      | 'DIFF_WEIGHTS'
      | 'DIFF_BIAS'
      | 'DIFF_SCALE'
      | 'DIFF_SHIFT'
      | 'MULTIPLE_SRC'
      | 'FROM'
      | 'TO',
      number
    >
  >;
}

/** Where native/build.mjs puts the addon: the same two levels up from src/native and dist/native. */
export const ADDON_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'native',
  'build',
  'Release',
  'convlab_dnnl.node',
);

const HOW_TO_BUILD =
  'the native oneDNN backend is not built: install libdnnl-dev, g++ and make (tools/install-debian-deps.sh), then run `node native/build.mjs`; or use --backend onnxruntime';

let loaded: Binding | undefined;

/**
 * Whether the addon has been built on this machine. CONVLAB_SKIP_NATIVE (which also keeps
 * `npm ci` from building it) hides a built one, so a machine with the binding can run as one without
 * (CI's pass without it).
 */
export const bindingBuilt = (): boolean => !process.env.CONVLAB_SKIP_NATIVE && existsSync(ADDON_PATH);

/** The binding, loaded on first use; a ConvlabError saying how to build it when it is missing. */
export function binding(): Binding {
  if (loaded) return loaded;
  if (process.env.CONVLAB_SKIP_NATIVE)
    throw new ConvlabError(
      'the native oneDNN backend is not built into this run: CONVLAB_SKIP_NATIVE is set; unset it or use --backend onnxruntime',
    );
  if (!bindingBuilt()) throw new ConvlabError(HOW_TO_BUILD);
  try {
    loaded = createRequire(import.meta.url)(ADDON_PATH) as Binding;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new ConvlabError(
      `the native oneDNN backend does not load (${why}); rebuild it with \`node native/build.mjs\``,
    );
  }
  return loaded;
}
