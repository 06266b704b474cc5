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
  if (sizes && sizes.length === 4) attrs = { ...attrs, size: [sizes[2]!, sizes[3]!] };
  else if (scales && scales.size === 4) {
    const s = Array.from(scales.values());
    if (s[0] !== 1 || s[1] !== 1) c.fail('resizing the batch or channel axis is not supported');
    attrs = { ...attrs, scale: [s[2]!, s[3]!] };
  } else c.fail('Resize needs 4 scales or 4 sizes known at import');
  c.output(c.apply('resize', [x], attrs));
});
