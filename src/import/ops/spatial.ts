import { registerHandler } from '../convert.js';

/* Pad and Resize of feature maps. */

registerHandler(['Pad'], (c) => {
  const x = c.tensor(0);
  const rank = x.shape.length;
  const mode = c.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') c.fail(`pad mode '${mode}'`);
  const given = c.has(1) ? c.constant(1).ints('Pad pads') : (c.ints('pads') ?? []);
  const axes = c.has(3)
    ? c
        .constant(3)
        .ints('Pad axes')
        .map((a) => (a < 0 ? a + rank : a))
    : undefined;
  // Every axis's begin then every axis's end, as ONNX orders them (axes: only those named).
  const begins = new Array<number>(rank).fill(0);
  const ends = new Array<number>(rank).fill(0);
  const listed = axes ?? Array.from({ length: rank }, (_, i) => i);
  if (given.length !== 2 * listed.length) c.fail(`pads [${given.join(',')}] do not fit rank ${rank}`);
  listed.forEach((a, i) => {
    if (a < 0 || a >= rank) c.fail(`axis ${a} is out of range`);
    begins[a] = given[i]!;
    ends[a] = given[i + listed.length]!;
  });
  if (begins[0] || ends[0]) c.fail('padding the batch axis is not supported');
  if ([...begins, ...ends].some((p) => p < 0)) c.fail('negative pads (cropping) are not supported');
  const value = c.has(2) ? c.constant(2).scalar('Pad constant_value') : c.float('value', 0);
  c.output(c.apply('pad', [x], { pads: [...begins.slice(1), ...ends.slice(1)], mode, value }));
});

registerHandler(['Resize'], (c) => {
  const x = c.tensor(0);
  const mode = c.string('mode', 'nearest');
  const transform = c.string('coordinate_transformation_mode', 'half_pixel');
  let attrs: Record<string, unknown>;
  if (mode === 'nearest') {
    // PyTorch's nearest: asymmetric coordinates, rounded down.
    if (transform !== 'asymmetric' || c.string('nearest_mode', 'round_prefer_floor') !== 'floor') {
      c.fail(
        `nearest resizing with '${transform}' coordinates is not PyTorch's; convlab imports asymmetric + floor`,
      );
    }
    attrs = { mode: 'nearest' };
  } else if (mode === 'linear') {
    if (transform !== 'pytorch_half_pixel' && transform !== 'half_pixel' && transform !== 'align_corners') {
      c.fail(`linear resizing with '${transform}' coordinates is not supported`);
    }
    attrs = { mode: 'bilinear', alignCorners: transform === 'align_corners' };
  } else return c.fail(`resize mode '${mode}' is not supported (nearest, linear)`);
  const scales = c.has(2) ? c.constant(2) : undefined;
  const sizes = c.has(3) ? c.constant(3).ints('Resize sizes') : undefined;
  const [h, w] = x.shape.slice(-2) as [number, number];
  let out: [number, number];
  if (sizes && sizes.length === 4) {
    out = [sizes[2]!, sizes[3]!];
    attrs = { ...attrs, size: out };
  } else if (scales && scales.size === 4) {
    const s = Array.from(scales.values());
    if (s[0] !== 1 || s[1] !== 1) c.fail('resizing the batch or channel axis is not supported');
    out = [Math.floor(h * s[2]!), Math.floor(w * s[3]!)];
    // ONNX maps align_corners coordinates with the unrounded length in_length * scale; PyTorch
    // (and convlab) with the integer output length. They agree only when the product is whole.
    if (transform === 'align_corners' && !(Number.isInteger(h * s[2]!) && Number.isInteger(w * s[3]!)))
      c.fail(`align_corners resizing by scales [${s[2]}, ${s[3]}] to a fractional length is not PyTorch's`);
    attrs = { ...attrs, scale: [s[2]!, s[3]!] };
  } else return c.fail('Resize needs 4 scales or 4 sizes known at import');
  // half_pixel samples an output of length 1 at the input's centre; PyTorch's bilinear (pytorch_half_pixel) at its start.
  if (mode === 'linear' && transform === 'half_pixel' && out.includes(1))
    c.fail(
      "linear resizing with 'half_pixel' coordinates to a length of 1 is not PyTorch's (pytorch_half_pixel)",
    );
  c.output(c.apply('resize', [x], attrs));
});
