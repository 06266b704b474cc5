/** A small deterministic generator for fuzzing (tests only). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A copy of `bytes`, cut short or with a few bytes overwritten, or both. */
export function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  // Uint8Array.from, not slice(): a Buffer's slice() is a view, and would corrupt the original.
  let out = Uint8Array.from(bytes);
  const r = random();
  if (r < 0.4) out = out.slice(0, Math.floor(random() * out.length));
  if (r >= 0.3) {
    const flips = 1 + Math.floor(random() * 4);
    for (let i = 0; i < flips && out.length; i++) {
      // Headers are where parsers break: aim half the flips at the first 24 bytes.
      const at =
        random() < 0.5 ? Math.floor(random() * Math.min(24, out.length)) : Math.floor(random() * out.length);
      out[at] = Math.floor(random() * 256);
    }
  }
  return out;
}
