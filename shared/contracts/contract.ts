import { validateContract as validateShape } from './validate';

/**
 * A dataset contract: everything the platform needs to move one dataset from bronze to silver,
 * declared in one file. Expressions are DuckDB SQL over the source columns (for `typed`) or the
 * typed columns (for expectations and derived columns); they are the spec, compiled by
 * shared/engine into the transform. Adding a dataset = one contract file + its gold SQL.
 */
/**
 * Silver column types. `decimal(p,s)` is exact end to end (DuckDB DECIMAL, Parquet DECIMAL,
 * PostgreSQL numeric(p,s)); p ≤ 38, 0 ≤ s ≤ p.
 */
export type SilverType = 'string' | 'bigint' | 'int' | 'double' | 'boolean' | 'timestamp' | 'date' | `decimal(${number},${number})`;

/** What happens to a row whose non-blank source value does not parse into its typed column. */
export type InvalidAction = 'quarantine' | 'warn';

export type Action = 'warn' | 'drop' | 'fail';

export interface SourceColumn {
  /** Column name as the contract refers to it. */
  name: string;
  /** Other header spellings accepted for this column (matched case-insensitively). */
  aliases?: string[];
  /** A file without this column is rejected as a whole. Default true. */
  required?: boolean;
  /**
   * JSON lines only: the JSON type the value must have. 'integer': a JSON number without fraction
   * or exponent; any other JSON value (a string "7", 5.0, 1e2, true, an object) reaches the typed
   * columns as a text that names it (e.g. `not a JSON integer: "7"`), so the column that parses it
   * finds it invalid (never converted between JSON types).
   */
  json?: 'integer';
}

export interface TypedColumn {
  name: string;
  type: SilverType;
  /** DuckDB expression over the source columns (all VARCHAR): parse + standardize. */
  sql: string;
  description: string;
  /** Personal data: masked in gold unless GOLD_SHOW_PII=true. */
  pii?: boolean;
  /**
   * Typed (source) columns only. The source column whose value this column parses: a non-blank
   * value there that yields NULL here is invalid (never silently NULL). Default: the source
   * column of the same name, when there is one; `null` for a column computed from several.
   */
  from?: string | null;
  /**
   * Invalid values (see `from`, and `bounds`): 'quarantine' the row (default, reason
   * `invalid_<column>`) or 'warn' (keep the row with NULL here; counted as `invalid_<column>` in
   * the ledger's warnings).
   */
  onInvalid?: InvalidAction;
  /**
   * timestamp / date columns: plausible range, inclusive, as ISO text; a value outside it is
   * invalid (one absurd date cannot move gold's "now"). Default: min 1900-01-01, max one day after
   * the run started. `max: 'none'` / `min: 'none'` lift a bound.
   */
  bounds?: { min?: string; max?: string };
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
  /**
   * Raw staging (JSON lines only, e.g. the API sources' `stg_<source>.<entity>_raw`): no dedup by
   * content. Every line of every file is one row holding the record as JSONB with its lineage,
   * keyed by (scope, blob_path, line_no): a line delivered again replaces its row only when the
   * record changed (otherwise it counts as a duplicate), so a re-delivered file changes nothing.
   * `key` (typed columns, required: a record without them is quarantined as `missing_<column>`)
   * and `orderBy` name the record's business key and version: what a reader uses to pick the
   * latest version of each record (the table is indexed on them), never a uniqueness constraint.
   */
  | { mode: 'line'; key: string[]; orderBy: string }
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
  | {
      type: 'csv';
      delimiter?: string;
      quote?: string;
      /**
       * Quoted fields may span lines (opt-in; default: a record never spans lines, as Spark's
       * multiLine=false, so an unclosed quote costs only its own line). `maxLines` caps the
       * physical lines of one record; a record still open after that is malformed.
       */
      multiLine?: { maxLines: number };
    }
  | {
      type: 'jsonl';
      /**
       * A line longer than this many bytes is quarantined as line_too_long (default 1 MiB, at most
       * 64 MiB; a staging dataset takes records as large as an extraction part, 64 MiB).
       */
      maxLineBytes?: number;
    };

/**
 * A column whose values name a record of another dataset (a foreign key into that dataset's
 * silver table), e.g. a deal's `account` → `crm_accounts.account`. Checked in the transform
 * against the referenced silver table as it is at that moment: a non-NULL value found there is
 * resolved; one that is not (or a referenced table that does not exist yet) is kept in silver and
 * counted in the ledger's warnings as `unresolved_<column>` (like a `warn` expectation). NULL is
 * not a reference (whether it is allowed is an expectation's job). Nothing is re-written when the
 * referenced record arrives later: joins (gold) resolve it then.
 */
export interface Reference {
  /** A typed column of this contract (string, int or bigint). */
  column: string;
  /** The referenced dataset (another contract's name): its silver table is read. */
  dataset: string;
  /** The column of the referenced dataset's silver table the value must be found in (same type). */
  key: string;
}

/** The ledger warning a reference counts its unresolved values under. */
export function unresolvedWarning(r: Pick<Reference, 'column'>): string {
  return `unresolved_${r.column}`;
}

/** Source columns (CSV headers, JSON keys) that the contract does not name. */
export type UnknownColumns = 'rescue' | 'ignore' | 'fail';

export interface Contract {
  /** Dataset name: lower snake_case; also the silver table name and lake folder. */
  name: string;
  description: string;
  /** Bronze paths that start with this prefix belong to the dataset (e.g. 'ecommerce_events/'). */
  bronzePrefix: string;
  /**
   * Narrows the paths under `bronzePrefix` that belong to the dataset, for folders that hold
   * several datasets: folder segments where `*` is any segment and `name=*` any value of a
   * Hive-style key; e.g. the segments `pipedrive`, `scope=*`, `entity=deals` route
   * `pipedrive/scope=acme/entity=deals/...` to the dataset (shared/contracts/bronzePath.ts).
   */
  bronzePattern?: string;
  /**
   * The table rows land in, `schema.table` (default `silver.<name>`); the quarantine table is
   * `schema.<table>_quarantine`. Only for `dedup.mode: 'line'` datasets (staging tables such as
   * 'stg_pipedrive.deals_raw'); the schema is `silver` or a `stg_*` schema.
   */
  table?: string;
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
  /**
   * Source columns the contract does not name: 'rescue' (default) keeps them per row in silver's
   * `_rescued` JSON column, so nothing a producer sends is lost; 'ignore' drops them (the ledger
   * still lists them); 'fail' refuses the file.
   */
  unknownColumns?: UnknownColumns;
  /** Columns that name records of other datasets: unresolved values are kept and counted (see Reference). */
  references?: Reference[];
}

export const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

export class ContractError extends Error {
  override name = 'ContractError';
}

/**
 * Checks a contract's shape so a mistake fails at start-up with a clear message, not mid-run
 * (shared/contracts/validate.ts; its SQL is compiled by checkContractSql when contracts load).
 */
export function validateContract(c: Contract): Contract {
  return validateShape(c);
}

/** The schema silver tables live in by default. */
export const DEFAULT_SCHEMA = 'silver';

/** The table a dataset's rows land in: `table` (`schema.name`) when the contract names one, else `silver.<name>`. */
export function tableOf(c: Pick<Contract, 'name' | 'table'>): { schema: string; name: string } {
  if (typeof c.table === 'string' && c.table.includes('.')) {
    const [schema, name] = c.table.split('.') as [string, string];
    return { schema, name };
  }
  return { schema: DEFAULT_SCHEMA, name: c.name };
}
