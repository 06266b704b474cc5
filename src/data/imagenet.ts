import sharp from 'sharp';
import { ConvlabError } from '../ir/errors.js';
import CLASSES from './imagenet_classes.json' with { type: 'json' };

/** The 1000 ImageNet class names in index order, torchvision's list (models/_meta.py). */
export const IMAGENET_CLASSES: readonly string[] = CLASSES;

/** torchvision's ImageNet normalisation: the per-channel mean and std of its training set (RGB). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Pillow's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2). */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;

interface Taps {
  readonly first: number;
  readonly weights: readonly number[];
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for its bilinear filter: a triangle
 * stretched by the downscale factor (that is its antialiasing), normalised, then fixed point.
 * Written in the same double operations in the same order, so the taps are Pillow's exactly.
 */
function taps(inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const out: Taps[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const ss = 1 / filterScale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    const k: number[] = [];
    let total = 0;
    for (let x = 0; x < count; x++) {
      const w = Math.max(0, 1 - Math.abs((x + first - center + 0.5) * ss));
      k.push(w);
      total += w;
    }
    out.push({ first, weights: k.map((w) => Math.trunc(0.5 + (total !== 0 ? w / total : w) * ONE)) });
  }
  return out;
}

const clip8 = (acc: number): number => (acc <= 0 ? 0 : acc >= ONE * 256 ? 255 : Math.floor(acc / ONE));

/**
 * Pillow's Image.resize(BILINEAR) of an RGB image to rw x rh, then crop (left, top, w, h): a
 * horizontal pass rounded to 8 bits, then a vertical one, as Pillow does; only the pixels inside the
 * crop are computed.
 */
export function resizeCrop(
  rgb: Uint8Array,
  [sw, sh]: readonly [number, number],
  [rw, rh]: readonly [number, number],
  [left, top, w, h]: readonly [number, number, number, number],
): Uint8Array {
  const xt = taps(sw, rw).slice(left, left + w);
  const yt = taps(sh, rh).slice(top, top + h);
  const rowFirst = Math.min(...yt.map((t) => t.first));
  const rowEnd = Math.max(...yt.map((t) => t.first + t.weights.length));
  const tmp = new Uint8Array((rowEnd - rowFirst) * w * 3);
  for (let y = rowFirst; y < rowEnd; y++) {
    for (let x = 0; x < w; x++) {
      const { first, weights } = xt[x]!;
      for (let c = 0; c < 3; c++) {
        let acc = ONE / 2;
        for (let k = 0; k < weights.length; k++) acc += rgb[3 * (y * sw + first + k) + c]! * weights[k]!;
        tmp[3 * ((y - rowFirst) * w + x) + c] = clip8(acc);
      }
    }
  }
  const out = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    const { first, weights } = yt[y]!;
    for (let i = 0; i < w * 3; i++) {
      let acc = ONE / 2;
      for (let k = 0; k < weights.length; k++) acc += tmp[(first - rowFirst + k) * w * 3 + i]! * weights[k]!;
      out[y * w * 3 + i] = clip8(acc);
    }
  }
  return out;
}

/** Python's round(): halves go to the even neighbour, as torchvision's center_crop computes offsets. */
const roundHalfEven = (x: number): number => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * torchvision's ImageNet evaluation transform on PIL for an H x W crop, pixel for pixel: Resize(S)
 * with S = ceil(max(H, W) * 256 / 224) (256 for 224, 342 for Inception v3's 299, as torchvision's
 * weights declare; the longer side becomes int(S * long / short)), bilinear with antialiasing,
 * CenterCrop, ToTensor (/255), Normalize (ImageNet's statistics unless `mean` and `std` say otherwise). sharp (libvips) only decodes the file, to 8-bit RGB with
 * any alpha dropped as PIL's convert('RGB') does, and no EXIF rotation, as PIL. Returns NCHW
 * float32 at batch 1.
 */
export async function imagenetTensor(
  image: Uint8Array,
  [c, h, w]: readonly number[],
  options: { source?: string; mean?: readonly number[]; std?: readonly number[] } = {},
): Promise<Float32Array> {
  const { source = 'the image', mean = IMAGENET_MEAN, std = IMAGENET_STD } = options;
  if (c !== 3) {
    throw new ConvlabError(`an image needs a model with 3 input channels (RGB), this one takes ${c}`);
  }
  const decoded = await sharp(image, { failOn: 'warning' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true })
    .catch((e: Error) => {
      throw new ConvlabError(`cannot decode ${source}: ${e.message.split('\n')[0]} (PNG or JPEG expected)`);
    });
  const { width, height, channels } = decoded.info;
  if (channels !== 3) throw new ConvlabError(`cannot decode ${source}: ${channels} channels, expected RGB`);

  const resize = Math.ceil((Math.max(h!, w!) * 256) / 224);
  const long = Math.floor((resize * Math.max(width, height)) / Math.min(width, height));
  const [rw, rh] = width <= height ? [resize, long] : [long, resize];
  const crop = [roundHalfEven((rw - w!) / 2), roundHalfEven((rh - h!) / 2), w!, h!] as const;
  const pixels = resizeCrop(decoded.data, [width, height], [rw, rh], crop);

  const plane = h! * w!;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      out[k * plane + i] = (pixels[3 * i + k]! / 255 - mean[k]!) / std[k]!;
    }
  }
  return out;
}
