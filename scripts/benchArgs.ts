/** `--name 2_000_000` style numeric flags of the benchmark scripts. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const n = Number((process.argv[i + 1] ?? '').replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} takes a non-negative number`);
  return n;
}
