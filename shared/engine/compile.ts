import { type Contract, type SourceFormat, type TypedColumn, unresolvedWarning } from '../contracts/contract';
import { JSONL_SEPARATOR, MAX_LINE_BYTES } from '../pipeline/stageInput';
import { canonicalText, decimalOf, duckType, ident, literal } from './sql';

/**
 * Compiles a contract into the DuckDB SQL of one file's transform. Every query reads the same
 * source relation: the staged records of the file (see shared/pipeline/stageInput.ts), each with
 * its physical line number `__line` (unique, in file order), the contract's source columns, the
 * unknown columns as `__rescued` JSON text and `__raw` (the record's text, for quarantine).
 * docs/ingestion.md is the spec of what happens to each record.
 */
export interface CompileInput {
  contract: Contract;
  /** Local path of the staged records. */
  inputPath: string;
  /** Local path of the staging pass's rejected lines (JSON lines). */
  rejectsPath?: string;
  /** CSV: position of each contract source column in the file's header (undefined when absent). */
  columnPositions?: Record<string, number | undefined>;
  /** CSV: number of columns in the header. */
  headerWidth?: number;
  /** CSV: header columns the contract does not name (rescued into `_rescued` unless the contract says otherwise). */
  unknownColumns?: { position: number; name: string }[];
  lineage: { sourceFile: string; runId: string; ingestedAt: Date; sourceHash: string; extract?: ExtractLineage };
}

/**
 * Staging (`dedup.mode: 'line'`) datasets: what the bronze path says about the file
 * (shared/pipeline/stagingPath.ts): the account and the extraction run that wrote it.
 */
export interface ExtractLineage {
  scope: string;
  /** The extraction run (the path's run_id=, YYYYMMDDTHHMMSSmmmZ). */
  runId: string;
  /** The start of that run. */
  extractedAt: Date;
}

/** DuckDB's own rejects of the staged file (rare: the staging pass sends it well-formed records only). */
export const REJECTS_TABLE = 'bronze_rejects';
export const REJECT_SCANS_TABLE = 'bronze_reject_scans';

/** The silver column that keeps source columns the contract does not name (JSON object per row). */
export const RESCUED_COLUMN = '_rescued';

function tsLiteral(d: Date): string {
  return `CAST(${literal(d.toISOString().replace('T', ' ').replace('Z', ''))} AS TIMESTAMP)`;
}

function expand(sql: string, input: CompileInput): string {
  return sql.replace(/\{\{run_started_at\}\}/g, tsLiteral(input.lineage.ingestedAt));
}

/**
 * The format a file is read with. A contract declares one format; a file whose name says
 * otherwise (`.csv`, `.jsonl`/`.ndjson`/`.json`, optionally `.gz`) is read as its name says, so
 * one dataset can take both JSON-lines batches (a stream) and CSV exports (e.g. the customers
 * stream plus the Telco CSV). Other names use the contract's format.
 */
export function resolveFormat(contract: Contract, bronzePath: string): SourceFormat {
  // Staging datasets keep each line's JSON record: their files are JSON lines whatever their name.
  if (contract.dedup.mode === 'line') return contract.format;
  const name = bronzePath.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return contract.format.type === 'csv' ? contract.format : { type: 'csv' };
  if (/\.(jsonl|ndjson|json)$/.test(name)) return { type: 'jsonl' };
  return contract.format;
}

/** Delimiter, quote and record-span settings of a CSV format, defaults applied. */
export function csvSettings(format: SourceFormat): { delimiter: string; quote: string; maxRecordLines: number; maxLineBytes: number } {
  if (format.type !== 'csv') return { delimiter: JSONL_SEPARATOR, quote: '', maxRecordLines: 1, maxLineBytes: format.maxLineBytes ?? MAX_LINE_BYTES };
  return { delimiter: format.delimiter ?? ',', quote: format.quote ?? '"', maxRecordLines: format.multiLine?.maxLines ?? 1, maxLineBytes: MAX_LINE_BYTES };
}

/** The CSV text of one field, quoted only when it must be (to show a parsed record as a line). */
function csvFieldText(expr: string, delimiter: string, quote: string): string {
  if (!quote) return `coalesce(${expr}, '')`;
  const q = literal(quote);
  const must = `(contains(${expr}, ${literal(delimiter)}) OR contains(${expr}, ${q}) OR contains(${expr}, e'\\n') OR ${expr} <> trim(${expr}))`;
  return `CASE WHEN ${expr} IS NULL THEN '' WHEN ${must} THEN ${q} || replace(${expr}, ${q}, ${q} || ${q}) || ${q} ELSE ${expr} END`;
}

/** The file as a relation (see CompileInput); DuckDB's own rejects go to REJECTS_TABLE. */
export function sourceRelation(input: CompileInput): string {
  const { contract } = input;
  const path = literal(input.inputPath);
  const format = resolveFormat(contract, input.lineage.sourceFile);
  const errors = `store_rejects = true, rejects_table = '${REJECTS_TABLE}', rejects_scan = '${REJECT_SCANS_TABLE}'`;
  const rescue = contract.unknownColumns ?? 'rescue';
  if (format.type === 'csv') {
    const { delimiter, quote } = csvSettings(format);
    const positions = input.columnPositions ?? {};
    const width = input.headerWidth ?? contract.source.length;
    const columns = [`'__line': 'BIGINT'`, ...Array.from({ length: width }, (_, i) => `'c${i}': 'VARCHAR'`)].join(', ');
    const cols = contract.source
      .map((s) => {
        const pos = positions[s.name];
        return pos === undefined ? `CAST(NULL AS VARCHAR) AS ${ident(s.name)}` : `c${pos} AS ${ident(s.name)}`;
      })
      .join(', ');
    const unknown = rescue === 'rescue' ? (input.unknownColumns ?? []) : [];
    const rescued = unknown.length
      ? `CAST(json_object(${unknown.map((u) => `${literal(u.name)}, c${u.position}`).join(', ')}) AS VARCHAR)`
      : 'CAST(NULL AS VARCHAR)';
    const raw = Array.from({ length: width }, (_, i) => csvFieldText(`c${i}`, delimiter, quote)).join(` || ${literal(delimiter)} || `);
    return (
      `(SELECT __line, ${cols}, ${rescued} AS __rescued, ${raw} AS __raw, true AS __object FROM read_csv(${path}, header = false, columns = {${columns}}, ` +
      `delim = ${literal(delimiter)}, quote = ${literal(quote)}, escape = ${literal(quote)}, auto_detect = false, strict_mode = true, ${errors}))`
    );
  }
  // JSON lines: one record per line, read as one JSON column so that a line that is not JSON is
  // a reject like a bad CSV line (raw text + line number, then quarantine). Every field is taken
  // as text (typing is the contract's job): strings as they are, numbers and booleans as their
  // JSON text, nested values as JSON text, missing keys and null as NULL; aliases are alternative
  // keys. All keys are extracted in one call (one parse of the line). A line that is JSON but not
  // an object is malformed (`__object` false).
  const paths: string[] = [];
  const known: string[] = [];
  const cols = contract.source
    .map((s) => {
      const keys = [s.name, ...(s.aliases ?? []).filter((a) => a !== s.name)];
      known.push(...keys);
      const refs = keys.map((k) => {
        paths.push(literal(`$."${k.replace(/["\\]/g, (c) => `\\${c}`)}"`));
        const i = paths.length;
        // A JSON integer stays its text; another JSON type becomes a text naming it (invalid downstream).
        return s.json === 'integer'
          ? `CASE WHEN __t[${i}] IN ('BIGINT', 'UBIGINT') THEN __v[${i}] WHEN __t[${i}] = 'DOUBLE' THEN 'not a JSON integer: a number with a fraction or exponent' ` +
              `WHEN __t[${i}] IS NOT NULL AND __t[${i}] <> 'NULL' THEN 'not a JSON integer: ' || CAST(json_extract(j, ${paths[i - 1]}) AS VARCHAR) END`
          : `__v[${i}]`;
      });
      return `${refs.length === 1 ? refs[0] : `coalesce(${refs.join(', ')})`} AS ${ident(s.name)}`;
    })
    .join(', ');
  // JSON types are read (one more parse of the line) only when a column asks for one.
  const types = contract.source.some((s) => s.json) ? `, json_type(j, [${paths.join(', ')}]) AS __t` : '';
  const knownList = `[${known.map(literal).join(', ')}]`;
  const extra = `list_filter(json_keys(j), k -> NOT list_contains(${knownList}, k))`;
  const rescued =
    rescue === 'rescue'
      ? `CASE WHEN __object AND len(${extra}) > 0 THEN '{' || array_to_string(list_transform(${extra}, k -> to_json(k) || ':' || CAST(json_extract(j, '$."' || replace(replace(k, '\\', '\\\\'), '"', '\\"') || '"') AS VARCHAR)), ',') || '}' END`
      : 'CAST(NULL AS VARCHAR)';
  // A staged line is the record plus its number: room for the longest record the stager keeps
  // (DuckDB's buffer must hold two lines; its default would be 16 of them).
  const longest = csvSettings(format).maxLineBytes + 64;
  const size = longest > MAX_LINE_BYTES ? `max_line_size = ${longest}, buffer_size = ${2 * longest}, ` : '';
  return (
    `(SELECT __line, ${cols}, ${rescued} AS __rescued, CAST(j AS VARCHAR) AS __raw, __object FROM (SELECT __line, j, json_type(j) = 'OBJECT' AS __object, ` +
    `json_extract_string(j, [${paths.join(', ')}]) AS __v${types} ` +
    `FROM read_csv(${path}, header = false, columns = {'__line': 'BIGINT', 'j': 'JSON'}, delim = ${literal(JSONL_SEPARATOR)}, quote = '', escape = '', ` +
    size +
    `auto_detect = false, ${errors}) WHERE j IS NOT NULL))`
  );
}

/** Typed columns and the source column each parses (docs/ingestion.md, strict typing). */
function sourceOf(c: TypedColumn, contract: Contract): string | undefined {
  if (c.from === null) return undefined;
  const from = c.from ?? c.name;
  return contract.source.some((s) => s.name === from) ? from : undefined;
}

/** The shape a non-blank source value must have for a numeric column (anything else is invalid). */
function numericShape(type: TypedColumn['type']): string | undefined {
  if (type === 'int' || type === 'bigint') return '[+-]?[0-9]+';
  const d = decimalOf(type);
  if (d) return `[+-]?([0-9]+|[0-9]*\\.[0-9]{0,${d.scale}}0*)`;
  if (type === 'double') return '[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?';
  return undefined;
}

const DEFAULT_MIN_TIME = '1900-01-01';

/** The plausible range of a time column as SQL bounds ('none' lifts one). */
function timeBounds(c: TypedColumn, input: CompileInput): { min?: string; max?: string } {
  if (c.type !== 'timestamp' && c.type !== 'date') return {};
  const cast = (v: string) => `CAST(${literal(v)} AS ${duckType(c.type)})`;
  const min = c.bounds?.min ?? DEFAULT_MIN_TIME;
  const runMax = new Date(input.lineage.ingestedAt.getTime() + 24 * 3600 * 1000);
  const max = c.bounds?.max ? (c.bounds.max === 'none' ? undefined : cast(c.bounds.max)) : `CAST(${tsLiteral(runMax)} AS ${duckType(c.type)})`;
  return { min: min === 'none' ? undefined : cast(min), max };
}

/** ASCII whitespace (space, \t, \n, \v, \f, \r): what a blank value consists of (DuckDB's trim() strips spaces only). */
const ASCII_WHITESPACE = [32, 9, 10, 11, 12, 13].map((c) => `chr(${c})`).join(' || ');

/** The source text of a column, trimmed of ASCII whitespace; NULL when blank. */
function nonBlankText(src: string): string {
  return `nullif(trim(${ident(src)}, ${ASCII_WHITESPACE}), '')`;
}

/** SQL that is true when column `c` (value `v`) is invalid for its source text (NULL-safe). */
function invalidCheck(c: TypedColumn, v: string, input: CompileInput): string | undefined {
  const src = sourceOf(c, input.contract);
  const parts: string[] = [];
  if (src) {
    const text = nonBlankText(src);
    parts.push(`(${text} IS NOT NULL AND ${v} IS NULL)`);
    const shape = numericShape(c.type);
    if (shape) parts.push(`(${text} IS NOT NULL AND NOT regexp_full_match(${text}, ${literal(shape)}))`);
    // A time needs digits: DuckDB's strptime with a list of formats turns 'infinity', 'epoch' and
    // the like into 1900-01-01 instead of failing.
    if (c.type === 'timestamp' || c.type === 'date') parts.push(`(${text} IS NOT NULL AND NOT regexp_matches(${text}, '[0-9]'))`);
  }
  if (c.type === 'timestamp' || c.type === 'date') parts.push(`coalesce(NOT isfinite(${v}), false)`);
  // A number too large for a double parses as infinity: not a value anyone sent.
  if (c.type === 'double') parts.push(`coalesce(isinf(${v}) OR isnan(${v}), false)`);
  const b = timeBounds(c, input);
  if (b.min) parts.push(`coalesce(${v} < ${b.min}, false)`);
  if (b.max) parts.push(`coalesce(${v} > ${b.max}, false)`);
  return parts.length ? parts.join(' OR ') : undefined;
}

export function invalidReason(column: string): string {
  return `invalid_${column}`;
}

function typedSelect(columns: TypedColumn[], input: CompileInput): string {
  return columns.map((c) => `CAST((${expand(c.sql, input)}) AS ${duckType(c.type)}) AS ${ident(c.name)}`).join(',\n    ');
}

/**
 * Records with typed columns: `__inv_<col>` flags invalid values (docs/ingestion.md); a column
 * whose contract says `onInvalid: 'warn'` is NULL where invalid (the row stays, counted).
 */
function typedRelation(input: CompileInput): string {
  const { contract } = input;
  const typedValue = (c: TypedColumn) => `struct_extract(__t, ${literal(c.name)})`;
  const checks = contract.typed.map((c) => ({ c, check: invalidCheck(c, typedValue(c), input) })).filter((x) => x.check);
  const values = contract.typed.map((c) => {
    const x = checks.find((k) => k.c === c);
    const v = x && c.onInvalid === 'warn' ? `CASE WHEN ${x.check} THEN NULL ELSE ${typedValue(c)} END` : typedValue(c);
    return `${v} AS ${ident(c.name)}`;
  });
  const flags = checks.map((x) => `, coalesce(${x.check}, false) AS ${ident(`__inv_${x.c.name}`)}`).join('');
  const srcCols = contract.source.map((s) => ident(s.name));
  const srcStruct = `struct_pack(${contract.source.map((s) => `${ident(s.name)} := ${ident(s.name)}`).join(', ')})`;
  return (
    `(SELECT __line, ${values.join(', ')}${flags}, ${srcStruct} AS __src, __rescued, __raw, __object FROM (` +
    `SELECT __line, ${srcCols.join(', ')}, __rescued, __raw, __object, struct_pack(${contract.typed.map((c) => `${ident(c.name)} := CAST((${expand(c.sql, input)}) AS ${duckType(c.type)})`).join(', ')}) AS __t FROM ${sourceRelation(input)}))`
  );
}

function passes(check: string): string {
  return `coalesce((${check}), false)`;
}

/** Columns with invalid-value checks, by action. */
function invalidColumns(input: CompileInput): { quarantine: TypedColumn[]; warn: TypedColumn[] } {
  const withCheck = input.contract.typed.filter((c) => invalidCheck(c, 'x', input));
  return { quarantine: withCheck.filter((c) => c.onInvalid !== 'warn'), warn: withCheck.filter((c) => c.onInvalid === 'warn') };
}

/** Reason a record is quarantined, in the spec's precedence (NULL: kept). */
function reasonExpr(input: CompileInput): string {
  const { contract } = input;
  const whens = [`WHEN NOT __object THEN 'malformed_row'`];
  for (const c of invalidColumns(input).quarantine) whens.push(`WHEN ${ident(`__inv_${c.name}`)} THEN ${literal(invalidReason(c.name))}`);
  for (const e of contract.expectations.filter((x) => x.action === 'drop')) whens.push(`WHEN NOT ${passes(e.check)} THEN ${literal(e.name)}`);
  if (contract.dedup.mode === 'first') whens.push(`WHEN ${ident(contract.rangeColumn)} IS NULL THEN ${literal(`missing_${contract.rangeColumn}`)}`);
  // 'line': a record without its business key (e.g. a JSON record without its id) cannot be told apart from others.
  if (contract.dedup.mode === 'line') for (const k of contract.dedup.key) whens.push(`WHEN ${ident(k)} IS NULL THEN ${literal(`missing_${k}`)}`);
  return `CASE ${whens.join(' ')} END`;
}

/** Longest value (characters of its JSON text) a detail shows in full. */
const DETAIL_VALUE_CHARS = 200;

/** `column: value "…"` for a record's column: the source text as sent (JSON-quoted, cut when long), else the typed value. */
function shownValue(c: TypedColumn, input: CompileInput): string {
  const src = sourceOf(c, input.contract);
  const json = src ? `CAST(to_json(__src.${ident(src)}) AS VARCHAR)` : `CAST(to_json(${ident(c.name)}) AS VARCHAR)`;
  const cut = `CASE WHEN length(${json}) > ${DETAIL_VALUE_CHARS} THEN left(${json}, ${DETAIL_VALUE_CHARS}) || '… (' || length(${json}) || ' characters)' ELSE ${json} END`;
  return `${literal(`${c.name}: value `)} || coalesce(${cut}, 'NULL')`;
}

/**
 * Human detail of a quarantined record: what was wrong, with the offending value(s). Every reason
 * the transform gives has one (the staging pass and DuckDB's own rejects bring theirs).
 */
function detailExpr(input: CompileInput): string {
  const { contract } = input;
  const whens: string[] = [`WHEN NOT __object THEN 'the line is JSON but not an object: each line must be one record'`];
  for (const c of invalidColumns(input).quarantine) {
    const src = sourceOf(c, contract);
    const shown = src ? `'value ' || coalesce(CAST(to_json(__src.${ident(src)}) AS VARCHAR), 'NULL')` : `'value ' || coalesce(CAST(${ident(c.name)} AS VARCHAR), 'NULL')`;
    whens.push(`WHEN ${ident(`__inv_${c.name}`)} THEN ${literal(`${c.name}: `)} || ${shown} || ${literal(` is not a valid ${c.type}${c.type === 'timestamp' || c.type === 'date' ? ' in the plausible range' : ''}`)}`);
  }
  // A failed expectation: its description, then the values of the typed columns its check names.
  for (const e of contract.expectations.filter((x) => x.action === 'drop')) {
    const named = contract.typed.filter((c) => new RegExp(`(^|[^A-Za-z0-9_"])"?${c.name}"?($|[^A-Za-z0-9_"])`).test(e.check));
    const values = named.length ? ` || ' (' || ${named.map((c) => shownValue(c, input)).join(` || ', ' || `)} || ')'` : '';
    whens.push(`WHEN __reason = ${literal(e.name)} THEN ${literal(`failed: ${e.description.replace(/\.$/, '')}`)}${values}`);
  }
  if (contract.dedup.mode === 'first') {
    const range = contract.typed.find((c) => c.name === contract.rangeColumn);
    const values = range ? ` || ' (' || ${shownValue(range, input)} || ')'` : '';
    whens.push(`WHEN __reason = ${literal(`missing_${contract.rangeColumn}`)} THEN ${literal(`${contract.rangeColumn} is missing: it leads silver's primary key`)}${values}`);
  }
  if (contract.dedup.mode === 'line') {
    for (const k of contract.dedup.key) {
      const col = contract.typed.find((c) => c.name === k);
      const src = col ? sourceOf(col, contract) : undefined;
      whens.push(`WHEN __reason = ${literal(`missing_${k}`)} THEN ${literal(`${k} is missing: the record has no ${src ? `'${src}'` : 'value for it'} (absent or null)`)}`);
    }
  }
  // Never empty, even for a reason added to reasonExpr without a detail here.
  whens.push(`WHEN __reason IS NOT NULL THEN 'quarantined as ' || __reason`);
  return `CASE ${whens.join(' ')} END`;
}

function idExpr(input: CompileInput): string {
  // 'line': every line is its own row (no content key), so the line number is its id in the file.
  if (input.contract.dedup.mode === 'line') return 'CAST(__line AS VARCHAR)';
  const parts = input.contract.dedup.key.map((k) => {
    const col = input.contract.typed.find((c) => c.name === k);
    if (!col) throw new Error(`dedup key '${k}' of '${input.contract.name}' must be a typed (source) column`);
    // NULL is distinct from every text value (a NUL character: the staging pass lets none through).
    return `coalesce(${canonicalText(ident(k), col.type)}, chr(0))`;
  });
  return `sha256(concat_ws('|', ${parts.join(', ')}))`;
}

/**
 * The one pass over the file: every record typed, checked and, when valid, given its id; raw
 * text kept only for quarantined records. Everything after reads this table (columnar,
 * spillable) instead of parsing the file again.
 */
export function stagedQuery(input: CompileInput): string {
  const others = input.contract.expectations.filter((e) => e.action !== 'drop');
  const flags = others.map((e) => `, NOT ${passes(e.check)} AS ${ident(`__x_${e.name}`)}`).join('');
  const warnInvalid = invalidColumns(input).warn.map((c) => `, ${ident(`__inv_${c.name}`)}`).join('');
  const typed = input.contract.typed.map((c) => ident(c.name)).join(', ');
  // 'line' datasets keep every record's text (it is the row's content); others only a refused one's.
  const raw = input.contract.dedup.mode === 'line' ? '__raw' : 'CASE WHEN __reason IS NOT NULL THEN __raw END';
  return `CREATE OR REPLACE TABLE staged AS
SELECT __line, ${typed}, __rescued, __reason${others.map((e) => `, ${ident(`__x_${e.name}`)}`).join('')}${warnInvalid},
  ${raw} AS __raw,
  CASE WHEN __reason IS NOT NULL THEN __src END AS __src,
  CASE WHEN __reason IS NOT NULL THEN ${detailExpr(input)} END AS __detail,
  CASE WHEN __reason IS NULL THEN ${idExpr(input)} END AS __id
FROM (SELECT *, ${reasonExpr(input)} AS __reason${flags} FROM ${typedRelation(input)})`;
}

/** Counts of the staged records (parsed, dropped, fail expectations) and the range of kept ones. */
export function countsQuery(input: CompileInput): string {
  const range = ident(input.contract.rangeColumn);
  const fails = input.contract.expectations.filter((e) => e.action === 'fail');
  const aggregates = [
    'count(*) AS parsed',
    'count(*) FILTER (WHERE __reason IS NOT NULL) AS dropped',
    `CAST(min(${range}) FILTER (WHERE __reason IS NULL) AS VARCHAR) AS range_min`,
    `CAST(max(${range}) FILTER (WHERE __reason IS NULL) AS VARCHAR) AS range_max`,
    ...fails.map((e) => `count(*) FILTER (WHERE ${ident(`__x_${e.name}`)}) AS ${ident(`x_${e.name}`)}`),
  ];
  // Kept rows with a negative zero in a float column: their silver Parquet is written without dictionaries (keepSignedZeros).
  const doubles = input.contract.typed.filter((c) => c.type === 'double').map((c) => `(${ident(c.name)} = 0 AND signbit(${ident(c.name)}))`);
  aggregates.push(doubles.length ? `count(*) FILTER (WHERE __reason IS NULL AND (${doubles.join(' OR ')})) AS negative_zeros` : '0 AS negative_zeros');
  return `SELECT ${aggregates.join(', ')} FROM staged`;
}

/**
 * The engine table holding the keys of the contract's `i`-th reference (column `key`, text): the
 * referenced silver table's current keys, loaded by the transform before the warnings are counted.
 */
export function referenceKeysTable(i: number): string {
  return `ref_keys_${i}`;
}

/**
 * Warnings counted on the records that go to silver (after dedup), so they reconcile with it:
 * `warn` expectations, `onInvalid: 'warn'` columns, and references whose non-NULL value is not
 * among the referenced keys (`unresolved_<column>`; compared as text).
 */
export function warningsQuery(input: CompileInput, withExisting: boolean): string | undefined {
  const warns = input.contract.expectations.filter((e) => e.action === 'warn');
  const inv = invalidColumns(input).warn;
  const refs = input.contract.references ?? [];
  if (!warns.length && !inv.length && !refs.length) return undefined;
  const aggregates = [
    ...warns.map((e) => `count(*) FILTER (WHERE ${ident(`__x_${e.name}`)}) AS ${ident(e.name)}`),
    ...inv.map((c) => `count(*) FILTER (WHERE ${ident(`__inv_${c.name}`)}) AS ${ident(invalidReason(c.name))}`),
    ...refs.map(
      (r, i) =>
        `count(*) FILTER (WHERE ${ident(r.column)} IS NOT NULL AND CAST(${ident(r.column)} AS VARCHAR) NOT IN (SELECT key FROM ${referenceKeysTable(i)})) AS ${ident(unresolvedWarning(r))}`,
    ),
  ];
  return `SELECT ${aggregates.join(', ')} FROM ${keptRelation(withExisting && input.contract.dedup.mode === 'first')}`;
}

/**
 * Silver output columns, in table order (id, typed, derived, rescued, lineage); for staging
 * (`dedup.mode: 'line'`) datasets: scope, blob_path, line_no, typed, derived, record, run_id,
 * extracted_at, ingestion_run_id, ingested_at (shared/db/schema.ts creates the same table).
 */
export function silverColumns(contract: Contract): { name: string; duckType: string }[] {
  if (contract.dedup.mode === 'line') {
    return [...LINE_HEAD_COLUMNS, ...[...contract.typed, ...contract.derived].map((c) => ({ name: c.name, duckType: duckType(c.type) })), ...LINE_TAIL_COLUMNS];
  }
  return [
    { name: contract.dedup.idColumn, duckType: 'VARCHAR' },
    ...[...contract.typed, ...contract.derived].map((c) => ({ name: c.name, duckType: duckType(c.type) })),
    { name: RESCUED_COLUMN, duckType: 'VARCHAR' },
    ...LINEAGE_COLUMNS,
  ];
}

/** Staging tables: the columns before the contract's (the row's key). */
export const LINE_HEAD_COLUMNS = [
  { name: 'scope', duckType: 'VARCHAR' },
  { name: 'blob_path', duckType: 'VARCHAR' },
  { name: 'line_no', duckType: 'BIGINT' },
];

/** Staging tables: the columns after the contract's (the record, then its lineage). */
export const LINE_TAIL_COLUMNS = [
  { name: 'record', duckType: 'VARCHAR' },
  { name: 'run_id', duckType: 'VARCHAR' },
  { name: 'extracted_at', duckType: 'TIMESTAMP' },
  { name: 'ingestion_run_id', duckType: 'VARCHAR' },
  { name: 'ingested_at', duckType: 'TIMESTAMP' },
];

export const LINEAGE_COLUMNS = [
  { name: 'source_file', duckType: 'VARCHAR' },
  { name: 'source_line', duckType: 'BIGINT' },
  { name: 'ingestion_run_id', duckType: 'VARCHAR' },
  { name: 'ingested_at', duckType: 'TIMESTAMP' },
];

function lineageSelect(input: CompileInput, line = '__line'): string {
  return [
    `${literal(input.lineage.sourceFile)} AS source_file`,
    `CAST(${line} AS BIGINT) AS source_line`,
    `${literal(input.lineage.runId)} AS ingestion_run_id`,
    `${tsLiteral(input.lineage.ingestedAt)} AS ingested_at`,
  ].join(', ');
}

/**
 * Records that repeat an earlier record's key in the same file (mode 'first': all but the first
 * occurrence; mode 'latest': all but the latest by orderBy, later file position winning ties).
 * A narrow window over two or three columns of the staged table.
 */
export function dupRecsQuery(input: CompileInput): string {
  const { dedup } = input.contract;
  // 'line': no two lines are the same row (a line number is unique in its file).
  if (dedup.mode === 'line') return 'CREATE OR REPLACE TABLE dup_recs AS SELECT CAST(NULL AS BIGINT) AS __line WHERE false';
  const win =
    dedup.mode === 'first'
      ? `min(__line) OVER (PARTITION BY __id) <> __line`
      : `row_number() OVER (PARTITION BY __id ORDER BY ${ident(dedup.orderBy)} DESC NULLS LAST, __line DESC) > 1`;
  return `CREATE OR REPLACE TABLE dup_recs AS SELECT __line FROM (SELECT __line, ${win} AS __dup FROM staged WHERE __reason IS NULL) WHERE __dup`;
}

/** Kept records: valid, not an in-file duplicate and (mode 'first') not already in silver. */
function keptRelation(withExisting: boolean): string {
  const existing = withExisting ? ' ANTI JOIN existing_ids e ON s.__id = e.id' : '';
  return `(SELECT s.* FROM staged s ANTI JOIN dup_recs d ON s.__line = d.__line${existing} WHERE s.__reason IS NULL)`;
}

export function silverSelect(input: CompileInput, withExisting: boolean): string {
  const { contract } = input;
  const existing = withExisting && contract.dedup.mode === 'first';
  const derived = contract.derived.length ? `, ${typedSelect(contract.derived, input)}` : '';
  if (contract.dedup.mode === 'line') {
    const x = input.lineage.extract;
    if (!x) throw new Error(`'${contract.name}' is a staging dataset: its rows need the file's scope and extraction run`);
    const cols = [
      `${literal(x.scope)} AS scope`,
      `${literal(input.lineage.sourceFile)} AS blob_path`,
      'CAST(__line AS BIGINT) AS line_no',
      ...contract.typed.map((c) => ident(c.name)),
      ...contract.derived.map((c) => ident(c.name)),
      // The line's text exactly as the file has it (CAST of DuckDB's JSON keeps the text as read).
      'CAST(__raw AS VARCHAR) AS record',
      `${literal(x.runId)} AS run_id`,
      `${tsLiteral(x.extractedAt)} AS extracted_at`,
      `${literal(input.lineage.runId)} AS ingestion_run_id`,
      `${tsLiteral(input.lineage.ingestedAt)} AS ingested_at`,
    ];
    return `SELECT ${cols.join(', ')} FROM (SELECT *${derived} FROM ${keptRelation(false)})`;
  }
  const cols = [
    `__id AS ${ident(contract.dedup.idColumn)}`,
    ...contract.typed.map((c) => ident(c.name)),
    ...contract.derived.map((c) => ident(c.name)),
    `__rescued AS ${ident(RESCUED_COLUMN)}`,
  ];
  return `SELECT ${cols.join(', ')}, ${lineageSelect(input)} FROM (SELECT *${derived} FROM ${keptRelation(existing)})`;
}

/** Kept records whose id silver already holds (only run when there are candidates). */
export function crossFileCountQuery(): string {
  return `SELECT count(*) AS n FROM (SELECT s.__id FROM staged s ANTI JOIN dup_recs d ON s.__line = d.__line WHERE s.__reason IS NULL) k SEMI JOIN existing_ids e ON k.__id = e.id`;
}

/**
 * The staged records as raw text, by line: the quarantine keeps a refused record's line exactly
 * as the file had it. Read with NUL as the delimiter (the staging pass lets no NUL through) and
 * no quoting. Records that span lines (a contract's opt-in) have no single line: for those the
 * record is shown rebuilt from its fields.
 */
function rawLines(input: CompileInput): string {
  const { delimiter, maxRecordLines } = csvSettings(resolveFormat(input.contract, input.lineage.sourceFile));
  if (maxRecordLines > 1) return '(SELECT CAST(NULL AS BIGINT) AS line, CAST(NULL AS VARCHAR) AS raw WHERE false)';
  const sep = literal(delimiter);
  return (
    `(SELECT CAST(split_part(l, ${sep}, 1) AS BIGINT) AS line, substr(l, strpos(l, ${sep}) + 1) AS raw ` +
    `FROM read_csv(${literal(input.inputPath)}, header = false, columns = {'l': 'VARCHAR'}, delim = chr(0), quote = '', escape = '', auto_detect = false))`
  );
}

/** The line number DuckDB's reject of a staged record carries (its first field). */
function rejectLine(sep: string): string {
  return `try_cast(split_part(csv_line, ${literal(sep)}, 1) AS BIGINT)`;
}

/**
 * Quarantine rows: source values (NULL for lines that did not parse), the raw text, reason,
 * detail, source hash and lineage. Three origins: records the contract refused, lines the staging
 * pass refused, and (rarely) records DuckDB could not parse.
 */
export function quarantineSelect(input: CompileInput, origins: { staged: boolean; lineRejects: boolean; engineRejects: boolean }): string {
  const src = input.contract.source.map((s) => s.name);
  const hash = literal(input.lineage.sourceHash);
  const nulls = src.map((s) => `CAST(NULL AS VARCHAR) AS ${ident(s)}`).join(', ');
  const parts: string[] = [];
  if (origins.staged) {
    parts.push(
      `SELECT ${src.map((s) => `__src.${ident(s)} AS ${ident(s)}`).join(', ')}, coalesce(r.raw, s.__raw) AS raw_line, __reason AS quarantine_reason, __detail AS quarantine_detail, ` +
        `${hash} AS source_hash, ${lineageSelect(input, 's.__line')} FROM staged s LEFT JOIN ${rawLines(input)} r ON r.line = s.__line WHERE s.__reason IS NOT NULL`,
    );
  }
  if (origins.lineRejects && input.rejectsPath) {
    parts.push(
      `SELECT ${nulls}, raw AS raw_line, reason AS quarantine_reason, detail AS quarantine_detail, ${hash} AS source_hash, ${lineageSelect(input, 'line')} ` +
        `FROM read_json(${literal(input.rejectsPath)}, format = 'newline_delimited', columns = {line: 'BIGINT', reason: 'VARCHAR', detail: 'VARCHAR', raw: 'VARCHAR'})`,
    );
  }
  if (origins.engineRejects) {
    const sep = csvSettings(resolveFormat(input.contract, input.lineage.sourceFile)).delimiter;
    parts.push(
      `SELECT ${nulls}, substr(csv_line, length(split_part(csv_line, ${literal(sep)}, 1)) + 2) AS raw_line, 'malformed_row' AS quarantine_reason, ` +
        `error_message AS quarantine_detail, ${hash} AS source_hash, ${lineageSelect(input, rejectLine(sep))} ` +
        `FROM (SELECT DISTINCT ON (line) * FROM ${REJECTS_TABLE} ORDER BY line)`,
    );
  }
  return parts.join(' UNION ALL ');
}

/** Lines DuckDB itself could not parse (distinct physical lines). */
export function engineRejectCountQuery(): string {
  return `SELECT count(DISTINCT line) AS n FROM ${REJECTS_TABLE}`;
}

export function quarantineColumns(contract: Contract): string[] {
  return [...contract.source.map((s) => s.name), 'raw_line', 'quarantine_reason', 'quarantine_detail', 'source_hash', ...LINEAGE_COLUMNS.map((c) => c.name)];
}
