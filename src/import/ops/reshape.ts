import type { Tensor } from '../../ir/builder.js';
import { hasOp } from '../../ir/registry.js';
import { type NodeContext, registerHandler } from '../convert.js';
import type { OnnxNode } from '../proto.js';
import { BATCH, isConst } from '../values.js';

/*
 * Reshape and Transpose. The patterns that are one convlab op become that op: channel shuffle
 * (Reshape to [N, g, C/g, H, W], Transpose [0,2,1,3,4], Reshape back) and flatten (Reshape to
 * [N, -1]). The batch stays symbolic: a target must keep axis 0 as the batch (0, -1 or Shape's
 * batch), which is what view(x.size(0), ...) and torch.flatten export.
 */

/** Reshape's target for input `x` with the batch axis resolved, or a one-line failure. */
function reshapeTarget(c: NodeContext, node: OnnxNode, x: readonly number[]): number[] {
  const raw = c.cv.value(node.inputs[1]!, node);
  if (!isConst(raw))
    c.fail(`the shape of Reshape '${node.name}' is computed; convlab needs it known at import`);
  const target = raw.ints('Reshape shape');
  const allowZero = node.attributes.get('allowzero');
  const copies = !(allowZero?.kind === 'int' && allowZero.value === 1);
  const dims = target.map((d, i) =>
    d === 0 && copies ? (x[i] ?? c.fail('0 copies an axis the input lacks')) : d,
  );
  const first = dims[0];
  const total = x.reduce((a, b) => a * b, 1); // x[0] is 1: per-sample elements
  // The batch: Shape's symbolic one, 0 (copied from the input), -1 (inferred), or a file's fixed batch.
  if (first === BATCH || target[0] === 0 || first === -1 || first === c.cv.fileBatch) dims[0] = 1;
  else
    c.fail(
      `Reshape to [${target.map((d) => (d === BATCH ? 'N' : d)).join(',')}] does not keep the batch axis`,
    );
  const rest = dims.slice(1);
  if (rest.some((d) => d === BATCH || d < -1 || (d === -1 && first === -1))) {
    c.fail(`Reshape target [${target.join(',')}] mixes the batch into other axes`);
  }
  const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const inferred = rest.map((d) => (d === -1 ? total / known : d));
  if (inferred.reduce((a, b) => a * b, 1) !== total || !inferred.every(Number.isInteger)) {
    c.fail(`cannot reshape [${x.join(',')}] per sample to [${target.join(',')}]`);
  }
  return [1, ...inferred];
}

/**
 * Reshape to [N, g, C/g, H, W] -> Transpose [0,2,1,3,4] -> Reshape back: ShuffleNet's channel
 * shuffle. The last Reshape's target is often computed by nodes that come after the Transpose, so
 * the fusion is decided here and completed when the main loop reaches that Reshape.
 */
const shuffles = new WeakMap<OnnxNode, { x: Tensor; groups: number; first: OnnxNode }>();

function startShuffle(c: NodeContext, x: Tensor, split: readonly number[]): boolean {
  const [, c0, h, w] = x.shape;
  if (x.shape.length !== 4 || split.length !== 5 || split[3] !== h || split[4] !== w) return false;
  if (split[1]! * split[2]! !== c0) return false;
  const transpose = c.soleConsumer(c.node.outputs[0]!, 'Transpose');
  const perm = transpose?.attributes.get('perm');
  if (!transpose || perm?.kind !== 'ints' || perm.value.join() !== '0,2,1,3,4') return false;
  const back = c.soleConsumer(transpose.outputs[0]!, 'Reshape');
  if (!back) return false;
  c.cv.consume(transpose);
  shuffles.set(back, { x, groups: split[1]!, first: c.node });
  return true;
}

function finishShuffle(c: NodeContext): boolean {
  const s = shuffles.get(c.node);
  if (!s) return false;
  const target = reshapeTarget(c, c.node, s.x.shape);
  if (target.join() !== s.x.shape.join()) c.fail('a Reshape-Transpose-Reshape that is not a channel shuffle');
  c.cv.fused('channel_shuffle');
  const name = c.cv.names.forNode({ ...s.first, opType: 'ChannelShuffle' });
  c.output(c.apply('channel_shuffle', [s.x], { groups: s.groups }, { name }));
  return true;
}

registerHandler(['Reshape'], (c) => {
  if (finishShuffle(c)) return;
  const x = c.tensor(0);
  const target = reshapeTarget(c, c.node, x.shape);
  if (target.join() === x.shape.join()) return c.output(x);
  if (startShuffle(c, x, target)) return;
  if (target.length === 2 && x.shape.length > 2) {
    c.cv.fused('flatten (Reshape)');
    return c.output(c.apply('flatten', [x], {}));
  }
  if (!hasOp('reshape')) c.fail(`convlab imports this Reshape only as a flatten or a channel shuffle`);
  c.output(c.apply('reshape', [x], { shape: target.slice(1) }));
});

registerHandler(['Transpose'], (c) => {
  const x = c.tensor(0);
  const perm = c.ints('perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  if (perm[0] !== 0) c.fail(`Transpose perm [${perm.join(',')}] moves the batch axis`);
  if (!hasOp('transpose')) c.fail('convlab has no transpose op to import it into yet');
  c.output(c.apply('transpose', [x], { perm }));
});
