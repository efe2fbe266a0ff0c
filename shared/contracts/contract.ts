/**
 * A dataset contract: everything the platform needs to move one dataset from bronze to silver,
 * declared in one file. Expressions are DuckDB SQL over the source columns (for `typed`) or the
 * typed columns (for expectations and derived columns); they are the spec, compiled by
 * shared/engine into the transform. Adding a dataset = one contract file + its gold SQL.
 */
export type SilverType = 'string' | 'bigint' | 'int' | 'double' | 'boolean' | 'timestamp' | 'date';

export type Action = 'warn' | 'drop' | 'fail';

export interface SourceColumn {
  /** Column name as the contract refers to it. */
  name: string;
  /** Other header spellings accepted for this column (matched case-insensitively). */
  aliases?: string[];
  /** A file without this column is rejected as a whole. Default true. */
  required?: boolean;
}

export interface TypedColumn {
  name: string;
  type: SilverType;
  /** DuckDB expression over the source columns (all VARCHAR): parse + standardize. */
  sql: string;
  description: string;
  /** Personal data: masked in gold unless GOLD_SHOW_PII=true. */
  pii?: boolean;
}

export interface Expectation {
  /** The reason recorded on a quarantined row (snake_case). */
  name: string;
  /** DuckDB predicate over the typed columns; a row passes when it is TRUE (NULL fails). */
  check: string;
  /** warn: keep the row and count it; drop: quarantine the row; fail: reject the whole file. */
  action: Action;
  description: string;
}

export type Dedup =
  /** Keep the first occurrence (file order) of each key; later files never re-add a key. */
  | { mode: 'first'; key: string[]; idColumn: string }
  /** Keep the latest version of each key by `orderBy` (later ties win); older arrivals never overwrite newer. */
  | {
      mode: 'latest';
      key: string[];
      idColumn: string;
      orderBy: string;
      /** Records more than this many minutes behind the newest `orderBy` already in silver are applied but counted as `late_records`. */
      lateAfterMinutes?: number | (() => number);
    };

export type SourceFormat =
  | { type: 'csv'; delimiter?: string; quote?: string }
  | { type: 'jsonl' };

export interface Contract {
  /** Dataset name: lower snake_case; also the silver table name and lake folder. */
  name: string;
  description: string;
  /** Bronze paths that start with this prefix belong to the dataset (e.g. 'ecommerce_events/'). */
  bronzePrefix: string;
  format: SourceFormat;
  source: SourceColumn[];
  /** Silver columns taken from the source, typed and standardized, in output order. */
  typed: TypedColumn[];
  expectations: Expectation[];
  dedup: Dedup;
  /** Silver columns computed from the typed columns, appended after them. */
  derived: TypedColumn[];
  /** Lake partitioning of silver: hive-style folders of these derived/typed columns. */
  partitionBy: string[];
  /** Column whose min/max bounds the cross-file dedup look-up (a time column). */
  rangeColumn: string;
}

export const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

export class ContractError extends Error {
  override name = 'ContractError';
}

/** Checks a contract's shape so a typo fails at start-up with a clear message, not mid-run. */
export function validateContract(c: Contract): Contract {
  const fail = (msg: string): never => {
    throw new ContractError(`contract '${c.name}': ${msg}`);
  };
  if (!IDENTIFIER.test(c.name)) fail('name must be lower snake_case');
  if (!c.bronzePrefix.endsWith('/') || c.bronzePrefix.startsWith('/')) fail(`bronzePrefix '${c.bronzePrefix}' must look like 'folder/'`);
  const names = new Set<string>();
  for (const col of [...c.typed, ...c.derived]) {
    if (!IDENTIFIER.test(col.name)) fail(`column '${col.name}' must be lower snake_case`);
    if (names.has(col.name)) fail(`column '${col.name}' is declared twice`);
    names.add(col.name);
  }
  if (names.has(c.dedup.idColumn)) fail(`the id column '${c.dedup.idColumn}' is generated; do not declare it`);
  for (const k of c.dedup.key) if (!names.has(k)) fail(`dedup key column '${k}' is not a silver column`);
  if (c.dedup.mode === 'latest' && !names.has(c.dedup.orderBy)) fail(`dedup orderBy '${c.dedup.orderBy}' is not a silver column`);
  for (const p of c.partitionBy) if (!names.has(p)) fail(`partition column '${p}' is not a silver column`);
  if (!names.has(c.rangeColumn)) fail(`rangeColumn '${c.rangeColumn}' is not a silver column`);
  const seen = new Set<string>();
  for (const e of c.expectations) {
    if (!IDENTIFIER.test(e.name)) fail(`expectation '${e.name}' must be lower snake_case`);
    if (seen.has(e.name)) fail(`expectation '${e.name}' is declared twice`);
    seen.add(e.name);
  }
  const srcNames = new Set<string>();
  for (const s of c.source) {
    if (!IDENTIFIER.test(s.name)) fail(`source column '${s.name}' must be lower snake_case`);
    srcNames.add(s.name);
  }
  return c;
}
