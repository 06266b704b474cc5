/** A tensor shape. Feature maps are NCHW; vectors are [N, F]. */
export type Shape = readonly number[];

export type Pair = readonly [number, number];

/** Padding per spatial edge, in ONNX order: [top, left, bottom, right]. */
export type Padding4 = readonly [number, number, number, number];

export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export const formatShape = (shape: Shape): string => `[${shape.join(',')}]`;

export const isSpatial = (shape: Shape): boolean => shape.length === 4;

export const DTYPE_BYTES = { float32: 4, int64: 8, bool: 1 } as const;
export type DType = keyof typeof DTYPE_BYTES;
