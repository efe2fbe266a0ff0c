import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { decimalOf, duckType, ident, isSilverType } from '../engine/sql';
import { normalizeName } from '../pipeline/stageInput';
import { bronzePatternProblems } from './bronzePath';
import { type Contract, ContractError, DEFAULT_SCHEMA, IDENTIFIER, type SilverType, type TypedColumn, unresolvedWarning } from './contract';

/**
 * Contract validation: every mistake a user can make in a contract, found before any data moves,
 * each reported with the contract, the field and what to write instead. `validateContract`
 * checks the shape (synchronous); `checkContractSql` compiles every SQL expression in DuckDB
 * against the contract's columns (a typo in SQL is reported at load time, not mid-run).
 */

const SILVER_TYPES = "'string', 'bigint', 'int', 'double', 'boolean', 'timestamp', 'date' or 'decimal(p,s)' (1 ≤ p ≤ 38, 0 ≤ s ≤ p)";
/** Columns every silver table has besides the contract's (lineage + rescued values). */
const RESERVED_COLUMNS = ['source_file', 'source_line', 'ingestion_run_id', 'ingested_at', '_rescued'];
/** Columns a `dedup.mode: 'line'` (staging) table has besides the contract's (shared/engine/compile.ts LINE_COLUMNS). */
const LINE_RESERVED_COLUMNS = ['scope', 'blob_path', 'line_no', 'record', 'run_id', 'extracted_at'];
/** Schemas a contract's `table` may name: silver, or a staging schema (created by infra/hooks/app-role.sql in Azure). */
const TABLE_SCHEMA = /^(silver|stg_[a-z0-9_]+)$/;
export const MAX_MULTILINE_RECORD_LINES = 10_000;

/** Type names from other systems → the silver type to write. */
const TYPE_SYNONYMS: Record<string, string> = {
  integer: 'int',
  int4: 'int',
  int32: 'int',
  smallint: 'int',
  int8: 'bigint',
  int64: 'bigint',
  long: 'bigint',
  float: 'double',
  float8: 'double',
  real: 'double',
  'double precision': 'double',
  numeric: 'decimal(18,2)',
  decimal: 'decimal(18,2)',
  money: 'decimal(18,2)',
  text: 'string',
  varchar: 'string',
  char: 'string',
  str: 'string',
  bool: 'boolean',
  datetime: 'timestamp',
  timestamptz: 'timestamp',
  time: 'timestamp',
};

const CONTRACT_KEYS = ['name', 'description', 'bronzePrefix', 'bronzePattern', 'table', 'format', 'source', 'typed', 'expectations', 'dedup', 'derived', 'partitionBy', 'rangeColumn', 'unknownColumns', 'references'];
const OPTIONAL_CONTRACT_KEYS = new Set(['bronzePattern', 'table', 'unknownColumns', 'references']);
const COLUMN_KEYS = ['name', 'type', 'sql', 'description', 'pii', 'from', 'onInvalid', 'bounds'];
const SOURCE_KEYS = ['name', 'aliases', 'required', 'json'];
const EXPECTATION_KEYS = ['name', 'check', 'action', 'description'];
const CSV_KEYS = ['type', 'delimiter', 'quote', 'multiLine'];
const REFERENCE_KEYS = ['column', 'dataset', 'key'];
/** Types a reference compares (as text, identically in DuckDB and PostgreSQL). */
const REFERENCE_TYPES: readonly string[] = ['string', 'int', 'bigint'];

function quoteList(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(', ');
}

function closest(word: string, options: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) d[0]![j] = j;
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    return d[a.length]![b.length]!;
  };
  const w = word.toLowerCase();
  const prefix = options.find((o) => o.length >= 3 && w.length >= 3 && (w.startsWith(o.toLowerCase()) || o.toLowerCase().startsWith(w)));
  if (prefix) return prefix;
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const x = dist(word.toLowerCase(), o.toLowerCase());
    if (x < bestD) [best, bestD] = [o, x];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function suggest(word: string, options: readonly string[]): string {
  const c = closest(word, options);
  return c ? `did you mean '${c}'? (one of ${quoteList(options)})` : `use one of ${quoteList(options)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const oneChar = (v: string) => [...v].length === 1;

/** A bound written as ISO date/time text (YYYY-MM-DD, optionally with a time). */
function parsesAsDate(v: string): boolean {
  return /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v.includes(' ') ? v.replace(' ', 'T') : v));
}

/**
 * Every problem of the contract's shape, one message per problem (empty: none). Each message
 * names the field (`typed[2] 'price'.type`) and what to write instead.
 */
export function contractProblems(c: Contract): string[] {
  const out: string[] = [];
  const fail = (msg: string) => out.push(msg);
  const raw = c as unknown as Record<string, unknown>;
  if (!isObject(raw)) return ['the default export is not a contract object'];

  const unknownKeys = (obj: Record<string, unknown>, allowed: readonly string[], where: string) => {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`${where}: unknown field '${k}'; ${suggest(k, allowed)}`);
  };
  unknownKeys(raw, CONTRACT_KEYS, 'contract');
  for (const k of CONTRACT_KEYS) if (!OPTIONAL_CONTRACT_KEYS.has(k) && raw[k] === undefined) fail(`the field '${k}' is missing`);

  if (typeof c.name !== 'string' || !IDENTIFIER.test(c.name)) fail(`name '${String(c.name)}' must be lower snake_case (letters, digits, _; starting with a letter; at most 63 characters), e.g. 'web_orders'`);
  if (c.description !== undefined && typeof c.description !== 'string') fail('description must be text');

  // bronzePrefix
  if (typeof c.bronzePrefix !== 'string') fail(`bronzePrefix must be text like '${c.name}/'`);
  else if (
    !c.bronzePrefix.endsWith('/') ||
    c.bronzePrefix.startsWith('/') ||
    c.bronzePrefix.includes('//') ||
    c.bronzePrefix.includes('\\') ||
    c.bronzePrefix.split('/').some((p) => p === '.' || p === '..') ||
    /\s/.test(c.bronzePrefix)
  ) {
    fail(`bronzePrefix '${c.bronzePrefix}' must look like 'folder/' or 'folder/sub/' (no leading '/', ending in '/', no spaces, '.' or '..'); write '${c.name}/'`);
  }
  if (c.bronzePattern !== undefined) for (const p of bronzePatternProblems(c.bronzePattern, c.bronzePrefix)) fail(p);

  // table (staging datasets only)
  const lineMode = isObject(c.dedup as unknown) && (c.dedup as { mode?: unknown }).mode === 'line';
  if (c.table !== undefined) {
    const [schema, table, ...rest] = typeof c.table === 'string' ? c.table.split('.') : [];
    if (typeof c.table !== 'string' || rest.length || !schema || !table || !IDENTIFIER.test(schema) || !IDENTIFIER.test(table)) {
      fail(`table '${String(c.table)}' must be 'schema.table' in lower snake_case, e.g. 'stg_pipedrive.deals_raw'`);
    } else if (!TABLE_SCHEMA.test(schema)) {
      fail(`table '${c.table}': schema '${schema}' is not one rows may land in; use '${DEFAULT_SCHEMA}' or a staging schema 'stg_<source>'`);
    } else if (table.length + '_quarantine'.length > 63) {
      fail(`table '${c.table}': the name is too long for its quarantine table '${table}_quarantine' (PostgreSQL names are at most 63 characters)`);
    }
    if (!lineMode) fail(`table '${String(c.table)}': only dedup.mode 'line' (staging) datasets name their table; other datasets land in ${DEFAULT_SCHEMA}.<name>, where gold models read them`);
  }

  // format
  const format = c.format as unknown;
  if (!isObject(format) || (format.type !== 'csv' && format.type !== 'jsonl')) {
    fail(`format.type '${isObject(format) ? String(format.type) : String(format)}' is not a format; write { type: 'csv' } or { type: 'jsonl' }`);
  } else if (format.type === 'csv') {
    unknownKeys(format, CSV_KEYS, 'format');
    const delimiter = format.delimiter ?? ',';
    const quote = format.quote ?? '"';
    if (typeof delimiter !== 'string' || !oneChar(delimiter) || delimiter === '\n' || delimiter === '\r') fail(`format.delimiter ${JSON.stringify(delimiter)} must be one character (not a line break), e.g. ',' or ';' or '\\t'`);
    if (typeof quote !== 'string' || !oneChar(quote) || quote === '\n' || quote === '\r') fail(`format.quote ${JSON.stringify(quote)} must be one character (not a line break), e.g. '"'`);
    if (typeof delimiter === 'string' && delimiter === quote) fail(`format.delimiter and format.quote are both ${JSON.stringify(delimiter)}; they must differ (e.g. delimiter ',' and quote '"')`);
    if (format.multiLine !== undefined) {
      const ml = format.multiLine;
      const max = isObject(ml) ? ml.maxLines : undefined;
      if (!isObject(ml)) fail(`format.multiLine must be { maxLines: <n> } (1 ≤ n ≤ ${MAX_MULTILINE_RECORD_LINES}), e.g. { maxLines: 100 }`);
      else {
        unknownKeys(ml, ['maxLines'], 'format.multiLine');
        if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_MULTILINE_RECORD_LINES) {
          fail(`format.multiLine.maxLines ${JSON.stringify(max)} must be a whole number from 1 to ${MAX_MULTILINE_RECORD_LINES}, e.g. { maxLines: 100 }`);
        }
      }
    }
  } else {
    unknownKeys(format, ['type', 'maxLineBytes'], 'format (jsonl)');
    const max = format.maxLineBytes;
    if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1024 || max > 64 * 1024 * 1024)) {
      fail(`format.maxLineBytes ${JSON.stringify(max)} must be a whole number of bytes from 1024 to 67108864 (64 MiB), e.g. 16777216`);
    }
  }
  if (lineMode && isObject(format) && format.type !== 'jsonl') fail(`dedup.mode 'line' keeps each line's JSON record: format must be { type: 'jsonl' }`);

  // unknownColumns
  const unknownModes = ['rescue', 'ignore', 'fail'];
  if (c.unknownColumns !== undefined && !unknownModes.includes(c.unknownColumns)) fail(`unknownColumns '${String(c.unknownColumns)}' is not a mode; ${suggest(String(c.unknownColumns), unknownModes)}`);

  // source
  const sourceNames = new Set<string>();
  const spellings = new Map<string, string>(); // normalized header spelling → 'source[i] name'
  if (!Array.isArray(c.source) || c.source.length === 0) fail(`source must list the source columns, e.g. [{ name: 'order_id' }]`);
  for (const [i, s] of (Array.isArray(c.source) ? c.source : []).entries()) {
    const where = `source[${i}]`;
    if (!isObject(s)) {
      fail(`${where} must be { name: '<column>' }`);
      continue;
    }
    unknownKeys(s, SOURCE_KEYS, `${where} '${String(s.name)}'`);
    if (typeof s.name !== 'string' || !IDENTIFIER.test(s.name)) {
      fail(`source column ${where} name '${String(s.name)}' must be lower snake_case (put the file's spelling in aliases, e.g. { name: 'customer_id', aliases: ['CustomerID'] })`);
      continue;
    }
    if (sourceNames.has(s.name)) fail(`source column '${s.name}' is listed twice in source; remove one (or give the other spelling as an alias)`);
    sourceNames.add(s.name);
    if (s.required !== undefined && typeof s.required !== 'boolean') fail(`source column '${s.name}'.required must be true or false`);
    if (s.aliases !== undefined && !Array.isArray(s.aliases)) fail(`source column '${s.name}'.aliases must be a list of header spellings, e.g. ['CustomerID']`);
    if (s.json !== undefined && s.json !== 'integer') fail(`source column '${s.name}'.json must be 'integer' (the only JSON type a column can ask for)`);
    if (s.json !== undefined && c.format !== undefined && isObject(c.format) && c.format.type !== 'jsonl') fail(`source column '${s.name}'.json applies to JSON lines only; the contract's format is ${String(c.format.type)}`);
    if (!spellings.has(normalizeName(s.name))) spellings.set(normalizeName(s.name), s.name);
  }
  // Aliases after every name, so that a clash names the alias (the mistake) and the column it hits.
  for (const s of Array.isArray(c.source) ? c.source : []) {
    if (!isObject(s) || typeof s.name !== 'string' || !IDENTIFIER.test(s.name)) continue;
    for (const a of Array.isArray(s.aliases) ? s.aliases : []) {
      if (!isText(a)) {
        fail(`source column '${s.name}'.aliases has an empty or non-text alias; write header spellings like 'CustomerID'`);
        continue;
      }
      const key = normalizeName(a);
      const owner = spellings.get(key);
      if (owner && owner !== s.name) {
        fail(`source column '${s.name}'.aliases: '${a}' clashes with source column '${owner}' (its name or an alias; headers match case-insensitively); remove the alias or rename one column`);
      }
      if (!owner) spellings.set(key, s.name);
    }
  }

  // typed + derived columns
  const silver = new Map<string, { type: SilverType | undefined; kind: 'typed' | 'derived' }>();
  const checkColumn = (col: TypedColumn, i: number, kind: 'typed' | 'derived') => {
    const where = `${kind}[${i}]`;
    if (!isObject(col)) {
      fail(`${where} must be { name, type, sql, description }`);
      return;
    }
    const label = `${kind} column '${String(col.name)}'`;
    unknownKeys(col as unknown as Record<string, unknown>, COLUMN_KEYS, label);
    if (typeof col.name !== 'string' || !IDENTIFIER.test(col.name)) fail(`${where} column name '${String(col.name)}' must be lower snake_case, e.g. 'unit_price'`);
    else if (silver.has(col.name)) fail(`column '${col.name}' is declared twice (in ${silver.get(col.name)!.kind} and ${kind}); rename or remove one`);
    else if (RESERVED_COLUMNS.includes(col.name)) fail(`${label}: '${col.name}' is a column the platform adds to every silver table; choose another name`);
    else if (lineMode && LINE_RESERVED_COLUMNS.includes(col.name)) fail(`${label}: '${col.name}' is a column the platform adds to every staging (dedup.mode 'line') table; choose another name`);
    const typeOk = typeof col.type === 'string' && isSilverType(col.type);
    const typeHint = (t: string): string | undefined => TYPE_SYNONYMS[t.toLowerCase().replace(/\(.*$/, '')] ?? closest(t, ['string', 'bigint', 'int', 'double', 'boolean', 'timestamp', 'date']);
    if (!typeOk) {
      const d = typeof col.type === 'string' ? decimalOf(col.type) : undefined;
      fail(
        d
          ? `${label}.type '${col.type}': decimal precision must be 1-38 and the scale at most the precision, e.g. 'decimal(18,2)'`
          : `${label}.type '${String(col.type)}' is not a silver type; ${typeHint(String(col.type)) ? `did you mean '${typeHint(String(col.type))}'? ` : ''}use ${SILVER_TYPES}`,
      );
    }
    if (!isText(col.sql)) fail(`${label}.sql must be a DuckDB expression, e.g. "trim(${kind === 'typed' ? (col.name ?? 'x') : 'x'})"`);
    if (col.description !== undefined && typeof col.description !== 'string') fail(`${label}.description must be text`);
    if (col.pii !== undefined && typeof col.pii !== 'boolean') fail(`${label}.pii must be true or false`);
    if (kind === 'derived') {
      for (const k of ['from', 'onInvalid', 'bounds'] as const) if (col[k] !== undefined) fail(`${label}.${k}: only typed (source) columns take '${k}'; move the column to typed or remove '${k}'`);
    } else {
      if (col.from !== undefined && col.from !== null && (typeof col.from !== 'string' || !sourceNames.has(col.from))) {
        fail(`${label}.from '${String(col.from)}' is not a source column; ${suggest(String(col.from), [...sourceNames])}, or null for a column computed from several`);
      }
      if (col.onInvalid !== undefined && col.onInvalid !== 'quarantine' && col.onInvalid !== 'warn') fail(`${label}.onInvalid '${String(col.onInvalid)}' is not an action; ${suggest(String(col.onInvalid), ['quarantine', 'warn'])}`);
      if (col.bounds !== undefined) {
        if (typeOk && col.type !== 'timestamp' && col.type !== 'date') fail(`${label}.bounds: bounds apply to timestamp and date columns only (this one is '${col.type}'); remove bounds or use an expectation`);
        if (!isObject(col.bounds)) fail(`${label}.bounds must be { min?: 'YYYY-MM-DD', max?: 'YYYY-MM-DD' | 'none' }`);
        else {
          unknownKeys(col.bounds, ['min', 'max'], `${label}.bounds`);
          for (const k of ['min', 'max'] as const) {
            const v = col.bounds[k];
            if (v !== undefined && (typeof v !== 'string' || (v !== 'none' && !parsesAsDate(v)))) fail(`${label}.bounds.${k} '${String(v)}' is not a date; write ISO text like '2000-01-01' or '2000-01-01T00:00:00Z', or 'none' to lift the bound`);
          }
          const { min, max } = col.bounds;
          if (typeof min === 'string' && typeof max === 'string' && parsesAsDate(min) && parsesAsDate(max) && Date.parse(min) > Date.parse(max)) fail(`${label}.bounds: min '${min}' is after max '${max}'; swap them`);
        }
      }
    }
    if (typeof col.name === 'string' && !silver.has(col.name)) silver.set(col.name, { type: typeOk ? col.type : undefined, kind });
  };
  if (!Array.isArray(c.typed) || c.typed.length === 0) fail(`typed must list at least one silver column, e.g. [{ name: 'order_id', type: 'string', sql: 'trim(order_id)', description: '...' }]`);
  for (const [i, col] of (Array.isArray(c.typed) ? c.typed : []).entries()) checkColumn(col, i, 'typed');
  if (c.derived !== undefined && !Array.isArray(c.derived)) fail('derived must be a list of columns (or [])');
  for (const [i, col] of (Array.isArray(c.derived) ? c.derived : []).entries()) checkColumn(col, i, 'derived');
  const silverNames = [...silver.keys()];
  const notColumn = (field: string, name: unknown, hint = 'a typed or derived column') =>
    `${field} '${String(name)}' is not a silver column; ${typeof name === 'string' && closest(name, silverNames) ? `did you mean '${closest(name, silverNames)}'? ` : ''}name ${hint} (${quoteList(silverNames)})`;

  // dedup
  const dedup = c.dedup as unknown;
  if (!isObject(dedup)) fail(`dedup must be { mode: 'first' | 'latest', key: [...], idColumn: '...' } or { mode: 'line', key: [...], orderBy: '...' }`);
  else {
    unknownKeys(dedup, dedup.mode === 'latest' ? ['mode', 'key', 'idColumn', 'orderBy', 'lateAfterMinutes'] : dedup.mode === 'line' ? ['mode', 'key', 'orderBy'] : ['mode', 'key', 'idColumn'], 'dedup');
    if (dedup.mode !== 'first' && dedup.mode !== 'latest' && dedup.mode !== 'line') fail(`dedup.mode '${String(dedup.mode)}' is not a mode; ${suggest(String(dedup.mode), ['first', 'latest', 'line'])}`);
    if (dedup.mode === 'line') {
      // no id column: rows are keyed by their lineage (scope, blob_path, line_no)
    } else if (typeof dedup.idColumn !== 'string' || !IDENTIFIER.test(dedup.idColumn)) fail(`dedup.idColumn '${String(dedup.idColumn)}' must be lower snake_case, e.g. '${c.name}_id'`);
    else if (silver.has(dedup.idColumn)) fail(`dedup.idColumn '${dedup.idColumn}': the id column is generated (a hash of the key); do not declare it as a column, or pick another idColumn name`);
    else if (RESERVED_COLUMNS.includes(dedup.idColumn)) fail(`dedup.idColumn '${dedup.idColumn}' is a column the platform adds; pick another name, e.g. '${c.name}_id'`);
    if (!Array.isArray(dedup.key) || dedup.key.length === 0) fail(`dedup.key must list the typed columns that identify a record, e.g. ['order_id']`);
    const keys = new Set<string>();
    for (const k of Array.isArray(dedup.key) ? (dedup.key as unknown[]) : []) {
      if (typeof k === 'string' && keys.has(k)) fail(`dedup.key lists '${k}' twice; remove one`);
      if (typeof k === 'string') keys.add(k);
      if (typeof k !== 'string' || !silver.has(k)) fail(`dedup key column '${String(k)}' is not a silver column: ${notColumn('dedup.key', k, 'a typed column')}`);
      else if (silver.get(k)!.kind !== 'typed') fail(`dedup key column '${k}' is a derived column; the key must be typed (source) columns — move '${k}' to typed or key on the columns it is derived from`);
    }
    if (dedup.mode === 'latest' || dedup.mode === 'line') {
      if (typeof dedup.orderBy !== 'string' || !silver.has(dedup.orderBy)) fail(`dedup orderBy '${String(dedup.orderBy)}' is not a silver column: ${notColumn('dedup.orderBy', dedup.orderBy, 'a timestamp or number column')}`);
      else if (silver.get(dedup.orderBy)!.type === 'boolean') fail(`dedup.orderBy '${dedup.orderBy}' is boolean; order by a timestamp or number column`);
      const late = dedup.lateAfterMinutes;
      if (late !== undefined && typeof late !== 'function' && (typeof late !== 'number' || !Number.isFinite(late) || late < 0)) fail(`dedup.lateAfterMinutes ${JSON.stringify(late)} must be a number of minutes ≥ 0 (or a function returning one), e.g. 10`);
    }
  }

  // partitionBy, rangeColumn
  if (!Array.isArray(c.partitionBy)) fail(`partitionBy must be a list of columns (or []), e.g. ['order_date']`);
  const parts = new Set<string>();
  for (const p of Array.isArray(c.partitionBy) ? (c.partitionBy as unknown[]) : []) {
    if (typeof p === 'string' && parts.has(p)) fail(`partitionBy lists '${p}' twice; remove one`);
    if (typeof p === 'string') parts.add(p);
    if (typeof p !== 'string' || !silver.has(p)) fail(`partition column '${String(p)}' is not a silver column: ${notColumn('partitionBy', p, 'a column to partition by, usually a date')}`);
  }
  if (typeof c.rangeColumn !== 'string' || !silver.has(c.rangeColumn)) fail(`rangeColumn '${String(c.rangeColumn)}' is not a silver column: ${notColumn('rangeColumn', c.rangeColumn, 'a time column')}`);
  else if (silver.get(c.rangeColumn)!.type === 'boolean') fail(`rangeColumn '${c.rangeColumn}' is boolean; name a time (timestamp/date) or number column`);

  // expectations
  const seen = new Set<string>();
  const actions = ['warn', 'drop', 'fail'];
  if (!Array.isArray(c.expectations)) fail('expectations must be a list (or [])');
  for (const [i, e] of (Array.isArray(c.expectations) ? c.expectations : []).entries()) {
    if (!isObject(e)) {
      fail(`expectations[${i}] must be { name, check, action, description }`);
      continue;
    }
    const label = `expectation '${String(e.name)}'`;
    unknownKeys(e, EXPECTATION_KEYS, label);
    if (typeof e.name !== 'string' || !IDENTIFIER.test(e.name)) fail(`expectations[${i}] name '${String(e.name)}' must be lower snake_case, e.g. 'valid_quantity'`);
    else if (seen.has(e.name)) fail(`expectation '${e.name}' is declared twice; rename one`);
    if (typeof e.name === 'string') seen.add(e.name);
    if (!actions.includes(e.action as string)) fail(`${label}.action '${String(e.action)}' is not an action; ${suggest(String(e.action), actions)} (warn: keep and count, drop: quarantine the row, fail: reject the file)`);
    if (!isText(e.check)) fail(`${label}.check must be a DuckDB predicate over the typed columns, e.g. 'quantity > 0'`);
  }

  // references (the referenced dataset and its key are checked by referenceProblems, against the registry)
  if (c.references !== undefined && !Array.isArray(c.references)) fail(`references must be a list, e.g. [{ column: 'account', dataset: 'crm_accounts', key: 'account' }]`);
  const referenced = new Set<string>();
  for (const [i, r] of (Array.isArray(c.references) ? c.references : []).entries()) {
    if (!isObject(r)) {
      fail(`references[${i}] must be { column, dataset, key }`);
      continue;
    }
    const label = `references[${i}]`;
    unknownKeys(r, REFERENCE_KEYS, label);
    const col = (Array.isArray(c.typed) ? c.typed : []).find((t) => isObject(t) && t.name === r.column);
    if (typeof r.column !== 'string' || !silver.has(r.column)) fail(`${label}.column '${String(r.column)}' is not a silver column: ${notColumn(`${label}.column`, r.column, 'a typed column')}`);
    else if (!col) fail(`${label}.column '${r.column}' is a derived column; a reference must be a typed (source) column`);
    else if (!REFERENCE_TYPES.includes(col.type)) fail(`${label}.column '${r.column}' is ${col.type}; a reference must be a ${quoteList(REFERENCE_TYPES)} column`);
    else if (referenced.has(r.column)) fail(`${label}: column '${r.column}' is referenced twice; keep one reference per column`);
    if (typeof r.column === 'string') referenced.add(r.column);
    if (typeof r.dataset !== 'string' || !IDENTIFIER.test(r.dataset)) fail(`${label}.dataset '${String(r.dataset)}' must be a dataset name (lower snake_case), e.g. 'crm_accounts'`);
    else if (r.dataset === c.name) fail(`${label}.dataset '${r.dataset}' is this dataset; a reference names another dataset (rows of the same file are not in silver yet)`);
    if (typeof r.key !== 'string' || !IDENTIFIER.test(r.key)) fail(`${label}.key '${String(r.key)}' must be a column of '${String(r.dataset)}' (lower snake_case), e.g. 'account'`);
    if (typeof r.column === 'string' && seen.has(unresolvedWarning({ column: r.column }))) {
      fail(`${label}: its warning '${unresolvedWarning({ column: r.column })}' has the name of an expectation; rename the expectation`);
    }
  }
  return out;
}

/**
 * Problems of the contract's references against the other datasets (empty: none): each
 * referenced dataset must be a known one (or one whose contract does not load right now, in
 * `broken`: its silver table is read as it is) and its key a silver column of the same type as
 * the referencing column. Checked when a file of the dataset is transformed.
 */
export function referenceProblems(c: Contract, lookup: (dataset: string) => Contract | undefined, known: readonly string[], broken: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const [i, r] of (c.references ?? []).entries()) {
    const label = `references[${i}] '${r.column}'`;
    const target = lookup(r.dataset);
    if (!target) {
      if (!broken.has(r.dataset)) out.push(`${label}: dataset '${r.dataset}' is not a dataset; ${suggest(r.dataset, known.filter((k) => k !== c.name))}`);
      continue;
    }
    const key = [...target.typed, ...target.derived].find((x) => x.name === r.key);
    const own = c.typed.find((x) => x.name === r.column);
    const keys = [...target.typed, ...target.derived].map((x) => x.name);
    if (!key) out.push(`${label}: '${r.key}' is not a column of '${r.dataset}'; ${suggest(r.key, keys)}`);
    else if (own && key.type !== own.type) out.push(`${label}: '${r.column}' is ${own.type} but '${r.dataset}.${r.key}' is ${key.type}; a reference and its key have the same type`);
  }
  return out;
}

function fail(c: Contract, problems: string[]): never {
  const name = typeof c?.name === 'string' ? c.name : '?';
  throw new ContractError(problems.length === 1 ? `contract '${name}': ${problems[0]}` : `contract '${name}' has ${problems.length} problems:\n  - ${problems.join('\n  - ')}`);
}

/** Checks a contract's shape so a mistake fails at start-up with a clear message, not mid-run. */
export function validateContract(c: Contract): Contract {
  const problems = contractProblems(c);
  if (problems.length) fail(c, problems);
  return c;
}

// ---------------------------------------------------------------------------------------------
// SQL: compiled by DuckDB against the contract's relations.

/** What `{{run_started_at}}` becomes in a check (any timestamp literal: only compilation matters). */
const RUN_STARTED_AT = "CAST('2000-01-01 00:00:00' AS TIMESTAMP)";

function expand(sql: string): string {
  return sql.replace(/\{\{run_started_at\}\}/g, RUN_STARTED_AT);
}

let engine: Promise<{ instance: DuckDBInstance; con: DuckDBConnection }> | undefined;
let tableSeq = 0;

async function duck(): Promise<DuckDBConnection> {
  engine ??= (async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const con = await instance.connect();
    await con.run("SET TimeZone = 'UTC'");
    return { instance, con };
  })();
  return (await engine).con;
}

function firstLine(e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  return msg
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 2)
    .join(' ');
}

/**
 * Every SQL problem of the contract (empty: none): typed columns' `sql` compiled over the
 * source columns (all VARCHAR), expectations' `check` over the typed columns, derived columns'
 * `sql` over the typed columns and the derived columns before them (as the engine does);
 * `{{run_started_at}}` becomes a timestamp literal. Expects a contract that passed
 * `validateContract`.
 */
export async function contractSqlProblems(c: Contract): Promise<string[]> {
  const con = await duck();
  const out: string[] = [];
  const seq = ++tableSeq;
  const src = `__contract_src_${seq}`;
  const typed = `__contract_typed_${seq}`;
  const colDefs = (cols: { name: string; type: string }[]) => cols.map((x) => `${ident(x.name)} ${x.type}`).join(', ');
  await con.run(`CREATE TEMP TABLE ${src} (${colDefs(c.source.map((s) => ({ name: s.name, type: 'VARCHAR' })))})`);
  await con.run(`CREATE TEMP TABLE ${typed} (${colDefs(c.typed.map((t) => ({ name: t.name, type: duckType(t.type) })))})`);
  const compiles = async (sql: string): Promise<string | undefined> => {
    try {
      await con.run(sql);
      return undefined;
    } catch (e) {
      return firstLine(e);
    }
  };
  const cast = (col: TypedColumn) => `CAST((${expand(col.sql)}) AS ${duckType(col.type)}) AS ${ident(col.name)}`;
  try {
    for (const col of c.typed) {
      const err = await compiles(`SELECT ${cast(col)} FROM ${src} LIMIT 0`);
      if (err) out.push(`typed column '${col.name}'.sql does not compile over the source columns (${c.source.map((s) => s.name).join(', ')}, all text): ${err}; sql: ${col.sql}`);
    }
    for (const e of c.expectations) {
      const err = await compiles(`SELECT coalesce((${expand(e.check)}), false) AS __ok FROM ${typed} LIMIT 0`);
      if (err) out.push(`expectation '${e.name}'.check does not compile over the typed columns (${c.typed.map((t) => t.name).join(', ')}): ${err}; check: ${e.check}`);
    }
    for (const [i, col] of c.derived.entries()) {
      const select = c.derived.slice(0, i + 1).map(cast).join(', ');
      const err = await compiles(`SELECT *, ${select} FROM ${typed} LIMIT 0`);
      if (err) {
        const visible = [...c.typed.map((t) => t.name), ...c.derived.slice(0, i).map((d) => d.name)];
        out.push(`derived column '${col.name}'.sql does not compile over the typed columns and the derived columns before it (${visible.join(', ')}): ${err}; sql: ${col.sql}`);
      }
    }
  } finally {
    await con.run(`DROP TABLE IF EXISTS ${src}`);
    await con.run(`DROP TABLE IF EXISTS ${typed}`);
  }
  return out;
}

const checked = new Map<string, Promise<string[]>>();
/** One check at a time on the shared connection. */
let queue: Promise<unknown> = Promise.resolve();

function sqlKey(c: Contract): string {
  return JSON.stringify([c.name, c.source.map((s) => s.name), c.typed.map((t) => [t.name, t.type, t.sql]), c.expectations.map((e) => [e.name, e.check]), c.derived.map((d) => [d.name, d.type, d.sql])]);
}

/**
 * Compiles every SQL expression of the contract in DuckDB (in memory); throws a ContractError
 * naming each expression that does not compile and why. Each distinct contract is checked once
 * per process.
 */
export async function checkContractSql(c: Contract): Promise<void> {
  const key = sqlKey(c);
  let p = checked.get(key);
  if (!p) {
    p = queue.then(() => contractSqlProblems(c));
    queue = p.catch(() => undefined);
    checked.set(key, p);
    p.catch(() => checked.delete(key));
  }
  const problems = await p;
  if (problems.length) fail(c, problems);
}
