import type { Attrs, Schema } from './schema.js';
import type { DType, Padding4, Pair, Shape } from './shape.js';

/** How a parameter or buffer starts. Mirrors torch.nn.init so training starts from PyTorch's distributions. */
export type Init =
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number; mean?: number }
  | { kind: 'trunc_normal'; std: number; a: number; b: number }
  | { kind: 'uniform'; bound: number }
  /** torch.nn.init.kaiming_normal_: std = gain / sqrt(fan), gain = sqrt(2) for ReLU. */
  | { kind: 'kaiming_normal'; mode: 'fan_in' | 'fan_out' }
  /** PyTorch's default for Conv2d/Linear weights: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)). */
  | { kind: 'default_weight' }
  /** PyTorch's default for Conv2d/Linear biases: U(+-1/sqrt(fan_in)) of the layer's weight. */
  | { kind: 'default_bias' }
  | { kind: 'xavier_uniform' }
  | { kind: 'xavier_normal' };

export interface TensorSpec {
  /** Local name; the full name is `${node}.${name}`, as in a torchvision state_dict. */
  readonly name: string;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Learnable parameters train; buffers (BatchNorm running statistics) do not. */
  readonly role: 'param' | 'buffer';
  readonly init: Init;
  /** Fan-in of the owning layer, which PyTorch's default initialisers read. */
  readonly fanIn?: number;
  readonly fanOut?: number;
}

/** Everything a facet may read about one node once its input shapes are known. */
export interface NodeContext<A> {
  readonly attrs: A;
  readonly inputs: readonly Shape[];
  readonly output: Shape;
}

/**
 * How an op maps input positions to output positions along H and W, for receptive-field and
 * memory passes. `window` is the sliding-window family (conv, pooling); `identity` keeps geometry
 * (pointwise and channel ops); `global` makes every output depend on the whole input plane.
 */
export type SpatialTransfer =
  | { readonly kind: 'identity' }
  | {
      readonly kind: 'window';
      readonly kernel: Pair;
      readonly stride: Pair;
      readonly padding: Padding4;
      readonly dilation: Pair;
      readonly ceilMode: boolean;
    }
  /** Adaptive pooling with bins of unequal size: each output bin covers a different input span. */
  | { readonly kind: 'adaptive'; readonly outputSize: Pair }
  | { readonly kind: 'global' };

/** A tensor the backward pass needs, kept alive from forward to backward. */
export interface SavedTensor<What extends string = string> {
  readonly what: What;
  readonly shape: Shape;
  readonly dtype: DType;
}

/**
 * What an op keeps for its backward pass: the memory estimator counts these bytes and the gradient
 * rule reads the same declaration, so the two can never disagree (tfjs-core's `inputsToSave`).
 * `defineOp` keeps the declaration's literal types, and `Saved` turns them into what the op's
 * gradient rule may read.
 */
export interface SaveDeclaration<A = never> {
  /** Indices of inputs the gradient needs. */
  readonly inputs: readonly number[];
  /** Whether the gradient needs the forward output (ReLU, sigmoid). */
  readonly output: boolean;
  /**
   * Further tensors the forward makes only for backward (max-pool indices, dropout mask, BN
   * statistics), the list written `as const` so that the gradient rule sees their names.
   */
  readonly extra?: (ctx: NodeContext<A>) => readonly SavedTensor[];
}

/** The names of the extra tensors a declaration lists (`indices`, `mask`, `save_mean`). */
type ExtraNames<D> = D extends { readonly extra: (ctx: never) => readonly SavedTensor<infer W>[] }
  ? string extends W
    ? never // names not written `as const`: none is readable, rather than any
    : W
  : never;

/**
 * The tensors save declaration `D` keeps, as a back-end holds them (`T`: an ONNX tensor name, a
 * native buffer), each under its own name: `input0`, `input1`, ... for the declared inputs,
 * `output` when the output is declared, and every extra tensor by its `what`. A gradient rule's
 * `saved` has this type, so reading a tensor its op does not save fails to compile.
 */
export type Saved<D extends SaveDeclaration<never>, T = string> = {
  readonly [I in D['inputs'][number] as `input${I}`]: T;
} & (D['output'] extends true ? { readonly output: T } : unknown) & {
    readonly [W in ExtraNames<D>]: T;
  };

export interface MemoryFacet<A, D extends SaveDeclaration<A> = SaveDeclaration<A>> {
  /** The output may overwrite the buffer of its first input when that input dies here. */
  readonly inplace: boolean;
  /** The output aliases its input's storage (a reshape or channel slice): it costs no new bytes. */
  readonly view: boolean;
  readonly saves: D;
}

/** TensorProto.DataType values convlab writes (Cast's `to`, tensor element types). */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** An ONNX attribute value; the wrapper says its ONNX type, since a JS number is either. */
export type OnnxAttr =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

/**
 * What an op's ONNX facet writes into: the export pass implements it. An op lowers itself to
 * standard ONNX nodes (opset 17) and returns the name of the tensor that carries its output.
 */
export interface OnnxWriter {
  /** 'infer' exports the inference graph; 'train' the training forward (BN with batch statistics, live dropout). */
  readonly mode: 'infer' | 'train';
  /** The back-end the graph is written for, with its own lowerings of some computations (see OnnxTarget). */
  readonly target: OnnxTarget;
  /**
   * Append one ONNX node and return its output names (`outputs` of them, default 1); `domain`
   * names a non-default operator set (a target's own ops).
   */
  node(
    opType: string,
    inputs: readonly string[],
    attrs?: Readonly<Record<string, OnnxAttr>>,
    outputs?: number,
    domain?: string,
  ): string[];
  /** A constant initializer (shapes for Reshape, axes, a kernel of ones). */
  constant(values: readonly number[], shape: Shape, dtype: 'float32' | 'int64'): string;
  /** The initializer name of this node's parameter or buffer `local` ('weight' -> 'layer1.0.conv1.weight'). */
  param(local: string): string;
  /**
   * In train mode, hand over a tensor only the backward pass needs, under the name the op's memory
   * facet declares (`indices`, `save_mean`, `mask`); the gradient rule reads it back by that name.
   */
  save(what: string, tensor: string): void;
  /** In train mode, the value buffer `local` takes after this step (BatchNorm's running statistics). */
  update(local: string, tensor: string): void;
  /**
   * In a training step's graph, what this node's random draws derive from (dropout's mask; see
   * ops/random.ts): the run's seed, the step counter (a float32 scalar graph input) and the node's
   * name. Undefined elsewhere: a standalone training-forward export has no step input, and uses
   * ONNX's own random ops.
   */
  randomSource(): { readonly seed: number; readonly step: string; readonly node: string } | undefined;
}

/**
 * A 2-D convolution to write as ONNX: NCHW `x` [N, channels, H, W] by `weight`
 * [out, channels / groups, kh, kw], plus `bias` [out] when there is one.
 */
export interface Convolution {
  readonly x: string;
  readonly weight: string;
  readonly bias: string | undefined;
  readonly channels: number;
  readonly out: number;
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Padding4;
  readonly dilation: Pair;
  readonly groups: number;
}

/**
 * The back-end an ONNX graph is written for, where it prefers its own form of a computation to
 * standard ONNX (onnxruntime's channel-blocked convolutions: src/runtime/nchwc.ts). A lowering
 * returns the name of the tensor carrying its result, or undefined to have the standard ONNX form
 * written. `{}` is plain standard ONNX, what an exported model is.
 */
export interface OnnxTarget {
  convolution?(w: OnnxWriter, c: Convolution): string | undefined;
}

/**
 * One op, defined once with all of its facets. Every pass of convlab asks a node's OpDef for one
 * facet; no pass switches over op kinds or model names.
 */
export interface OpDef<
  S extends Schema = Schema,
  D extends SaveDeclaration<Attrs<S>> = SaveDeclaration<Attrs<S>>,
> {
  readonly kind: string;
  /** One line for `--help` and the lab. */
  readonly summary: string;
  /** Number of inputs; `variadic` for concat. */
  readonly arity: number | 'variadic';
  readonly attrs: S;
  /** Output shape, or a RuleError naming the rule the inputs break. */
  inferShape(inputs: readonly Shape[], attrs: Attrs<S>): Shape;
  /** Parameters and buffers, in torchvision's state_dict order. */
  params(ctx: NodeContext<Attrs<S>>): readonly TensorSpec[];
  /** Multiply-accumulates of conv and fully connected layers (torchvision's convention); 0 elsewhere. */
  macs(ctx: NodeContext<Attrs<S>>): number;
  /** All floating-point operations of the inference forward pass, by the rule documented on the op. */
  flops(ctx: NodeContext<Attrs<S>>): number;
  spatial(ctx: NodeContext<Attrs<S>>): SpatialTransfer;
  readonly memory: MemoryFacet<Attrs<S>, D>;
  /** Lower to ONNX: given the names of the input tensors, emit nodes and return the output's name. */
  onnx(ctx: NodeContext<Attrs<S>>, writer: OnnxWriter, inputs: readonly string[]): string;
}

export const IDENTITY: SpatialTransfer = { kind: 'identity' };
export const GLOBAL: SpatialTransfer = { kind: 'global' };

/** The memory facet of an op that neither saves anything nor works in place. */
export const SAVES_NOTHING = { inputs: [], output: false } as const;

/** Define an op; identity helper that keeps the schema's types and the save declaration's literals. */
export const defineOp = <S extends Schema, const D extends SaveDeclaration<Attrs<S>>>(
  def: OpDef<S, D>,
): OpDef<S, D> => def;
