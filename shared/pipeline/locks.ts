/** The advisory-lock key that serialises a dataset's file loads and its full gold rebuilds. */
export function lockKey(dataset: string): string {
  return `medallion:dataset:${dataset}`;
}
