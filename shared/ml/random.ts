import { rng } from '../samples/ecommerceSample';

/**
 * The samples' seeded PRNG (mulberry32): the same seed gives the same stream on every platform,
 * which is all the synthetic data and the seeded models need. Not for anything security-related.
 */
export const mulberry32 = rng;

/** A standard normal draw from two uniforms (Box–Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1], so log(u) is finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
