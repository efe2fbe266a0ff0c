/**
 * A small seeded PRNG (mulberry32): the same seed gives the same stream on every platform, which
 * is all the synthetic data and the seeded models need. Not for anything security-related.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; // uniform in [0, 1)
  };
}

/** A standard normal draw from two uniforms (Box–Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1], so log(u) is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
