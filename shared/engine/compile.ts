import { closeSync, openSync, readSync } from 'node:fs';
import type { Contract, SourceFormat, TypedColumn } from '../contracts/contract';
import { matchColumns } from '../pipeline/stageInput';
import { canonicalText, DUCK_TYPES, ident, literal } from './sql';

/**
 * Compiles a contract into the DuckDB SQL of one file's transform. Every query reads the same
 * source relation (`src`): the file's records numbered in file order (`__rec`, rows DuckDB could
 * not parse excluded), with the contract's source column names. `__rec` is numbered so that
 * `__rec + 1` is the record's physical line when no line was malformed: 1-based for CSV (one
 * header line), 0-based for JSON lines (no header).
 */
export interface CompileInput {
  contract: Contract;
  /** Local path of the (decompressed) bronze file. */
  inputPath: string;
  /** CSV: position of each contract source column in the file's header (undefined when absent). */
  columnPositions?: Record<string, number | undefined>;
  /** CSV: number of columns in the header. */
  headerWidth?: number;
  lineage: { sourceFile: string; runId: string; ingestedAt: Date };
  /** Malformed-line correction table exists (see lineExpr). */
  hasRejects?: boolean;
}

export const REJECTS_TABLE = 'bronze_rejects';
export const REJECT_SCANS_TABLE = 'bronze_reject_scans';

function tsLiteral(d: Date): string {
  return `CAST(${literal(d.toISOString().replace("T", " ").replace("Z", ""))} AS TIMESTAMP)`;
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
  const name = bronzePath.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return contract.format.type === 'csv' ? contract.format : { type: 'csv' };
  if (/\.(jsonl|ndjson|json)$/.test(name)) return { type: 'jsonl' };
  return contract.format;
}

const HEADER_PROBE_BYTES = 1024 * 1024;

/**
 * Column positions of a CSV file: the ones the pipeline found when it checked the header, or
 * (callers that did not) read from the staged file's header line with the same rules.
 */
function csvColumnsOf(input: CompileInput, delimiter: string): { positions: Record<string, number | undefined>; width: number } {
  if (input.columnPositions) return { positions: input.columnPositions, width: input.headerWidth ?? input.contract.source.length };
  const fd = openSync(input.inputPath, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(HEADER_PROBE_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    head = buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
  return matchColumns(input.contract.source, head.split('\n', 1)[0]!.replace(/^\uFEFF/, '').replace(/\r$/, ''), delimiter);
}

/** Delimiter of the one-column read of a JSON-lines file: a byte valid JSON text never holds. */
const JSONL_DELIM = '\u0001';

/** The file as a relation; malformed rows go to the rejects table with their line and raw text. */
export function sourceRelation(input: CompileInput): string {
  const { contract } = input;
  const path = literal(input.inputPath);
  const format = resolveFormat(contract, input.lineage.sourceFile);
  const errors = `store_rejects = true, rejects_table = '${REJECTS_TABLE}', rejects_scan = '${REJECT_SCANS_TABLE}'`;
  if (format.type === 'csv') {
    const delimiter = format.delimiter ?? ',';
    const { positions, width } = csvColumnsOf(input, delimiter);
    const columns = Array.from({ length: width }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
    const delim = literal(delimiter);
    const quote = literal(format.quote ?? '"');
    const cols = contract.source
      .map((s) => {
        const pos = positions?.[s.name];
        return pos === undefined ? `CAST(NULL AS VARCHAR) AS ${ident(s.name)}` : `c${pos} AS ${ident(s.name)}`;
      })
      .join(', ');
    return (
      `(SELECT ordinality AS __rec, ${cols} FROM read_csv(${path}, header = true, columns = {${columns}}, ` +
      `delim = ${delim}, quote = ${quote}, escape = ${quote}, auto_detect = false, ${errors}) WITH ORDINALITY)`
    );
  }
  // JSON lines: one record per physical line, read as one JSON column so that a line that is not
  // JSON is a malformed row like a bad CSV line (rejects table: raw text + line number, then
  // quarantine). Every field is taken as text (typing is the contract's job): strings as they
  // are, numbers and booleans as their JSON text, nested values as JSON text, missing keys and
  // null as NULL; aliases are alternative keys. All keys are extracted in one call (one parse of
  // the line). Blank lines are not records. __rec is 0-based (no header line) so that the CSV
  // line arithmetic (__rec + 1 + malformed lines before) holds.
  const paths: string[] = [];
  const cols = contract.source
    .map((s) => {
      const keys = [s.name, ...(s.aliases ?? []).filter((a) => a !== s.name)];
      const refs = keys.map((k) => {
        paths.push(literal(`$."${k.replace(/["\\]/g, (c) => `\\${c}`)}"`));
        return `__v[${paths.length}]`;
      });
      return `${refs.length === 1 ? refs[0] : `coalesce(${refs.join(', ')})`} AS ${ident(s.name)}`;
    })
    .join(', ');
  return (
    `(SELECT __rec, ${cols} FROM (SELECT ordinality - 1 AS __rec, json_extract_string(j, [${paths.join(', ')}]) AS __v ` +
    `FROM read_csv(${path}, header = false, columns = {'j': 'JSON'}, delim = ${literal(JSONL_DELIM)}, quote = '', escape = '', auto_detect = false, ${errors}) ` +
    `WITH ORDINALITY WHERE j IS NOT NULL))`
  );
}

function typedSelect(columns: TypedColumn[], input: CompileInput): string {
  return columns.map((c) => `CAST((${expand(c.sql, input)}) AS ${DUCK_TYPES[c.type]}) AS ${ident(c.name)}`).join(',\n    ');
}

/** Rows with typed columns, plus the raw source values as a struct for quarantine. */
function typedRelation(input: CompileInput): string {
  const raw = `struct_pack(${input.contract.source.map((s) => `${ident(s.name)} := ${ident(s.name)}`).join(', ')}) AS __raw`;
  return `(SELECT __rec,\n    ${typedSelect(input.contract.typed, input)},\n    ${raw}\n  FROM ${sourceRelation(input)})`;
}

function passes(check: string): string {
  return `coalesce((${check}), false)`;
}

/** The physical line of a record: header line + record number + malformed lines before it. */
function lineExpr(input: CompileInput): string {
  return input.hasRejects ? `(__rec + 1 + coalesce(__reject_shift, 0))` : '(__rec + 1)';
}

function idExpr(input: CompileInput): string {
  const parts = input.contract.dedup.key.map((k) => {
    const col = input.contract.typed.find((c) => c.name === k);
    if (!col) throw new Error(`dedup key '${k}' of '${input.contract.name}' must be a typed (source) column`);
    return `coalesce(${canonicalText(ident(k), col.type)}, '')`;
  });
  return `sha256(concat_ws('|', ${parts.join(', ')}))`;
}

/**
 * The one pass over the file: every record typed, checked and, when valid, given its id; raw
 * values kept only for dropped records (for quarantine). Everything after reads this table
 * (columnar, spillable) instead of parsing the file again.
 */
export function stagedQuery(input: CompileInput): string {
  const { expectations } = input.contract;
  const drops = expectations.filter((e) => e.action === 'drop');
  const others = expectations.filter((e) => e.action !== 'drop');
  const reason = drops.length
    ? `CASE ${drops.map((e) => `WHEN NOT ${passes(e.check)} THEN ${literal(e.name)}`).join(' ')} END`
    : 'CAST(NULL AS VARCHAR)';
  const flags = others.map((e) => `, NOT ${passes(e.check)} AS ${ident(`__x_${e.name}`)}`).join('');
  const typed = input.contract.typed.map((c) => ident(c.name)).join(', ');
  return `CREATE OR REPLACE TABLE staged AS
SELECT __rec, ${typed}, __reason${others.map((e) => `, ${ident(`__x_${e.name}`)}`).join('')},
  CASE WHEN __reason IS NOT NULL THEN __raw END AS __raw,
  CASE WHEN __reason IS NULL THEN ${idExpr(input)} END AS __id
FROM (SELECT *, ${reason} AS __reason${flags} FROM ${typedRelation(input)})`;
}

/** Counts of the staged records (parsed, dropped, warn/fail per expectation) and the range of kept ones. */
export function countsQuery(input: CompileInput): string {
  const range = ident(input.contract.rangeColumn);
  const others = input.contract.expectations.filter((e) => e.action !== 'drop');
  const aggregates = [
    'count(*) AS parsed',
    'count(*) FILTER (WHERE __reason IS NOT NULL) AS dropped',
    `CAST(min(${range}) FILTER (WHERE __reason IS NULL) AS VARCHAR) AS range_min`,
    `CAST(max(${range}) FILTER (WHERE __reason IS NULL) AS VARCHAR) AS range_max`,
    // warn: among kept records; fail: among all records
    ...others.map((e) =>
      e.action === 'warn'
        ? `count(*) FILTER (WHERE __reason IS NULL AND ${ident(`__x_${e.name}`)}) AS ${ident(`x_${e.name}`)}`
        : `count(*) FILTER (WHERE ${ident(`__x_${e.name}`)}) AS ${ident(`x_${e.name}`)}`,
    ),
  ];
  return `SELECT ${aggregates.join(', ')} FROM staged`;
}

/** Silver output columns, in table order (id, typed, derived, lineage). */
export function silverColumns(contract: Contract): { name: string; duckType: string }[] {
  return [
    { name: contract.dedup.idColumn, duckType: 'VARCHAR' },
    ...[...contract.typed, ...contract.derived].map((c) => ({ name: c.name, duckType: DUCK_TYPES[c.type] })),
    ...LINEAGE_COLUMNS,
  ];
}

export const LINEAGE_COLUMNS = [
  { name: 'source_file', duckType: 'VARCHAR' },
  { name: 'source_line', duckType: 'BIGINT' },
  { name: 'ingestion_run_id', duckType: 'VARCHAR' },
  { name: 'ingested_at', duckType: 'TIMESTAMP' },
];

function lineageSelect(input: CompileInput): string {
  return [
    `${literal(input.lineage.sourceFile)} AS source_file`,
    `CAST(${lineExpr(input)} AS BIGINT) AS source_line`,
    `${literal(input.lineage.runId)} AS ingestion_run_id`,
    `${tsLiteral(input.lineage.ingestedAt)} AS ingested_at`,
  ].join(', ');
}

/** Staged records with the count of malformed lines before them (for exact line numbers). */
function withShift(input: CompileInput, relation: string, alias: string): string {
  return input.hasRejects
    ? `(SELECT ${alias}.*, rs.shift AS __reject_shift FROM ${relation} ${alias} ASOF LEFT JOIN reject_shift rs ON ${alias}.__rec >= rs.from_rec)`
    : relation;
}

/**
 * Records that repeat an earlier record's key in the same file (mode 'first': all but the first
 * occurrence; mode 'latest': all but the latest by orderBy, later file position winning ties).
 * A narrow window over two or three columns of the staged table.
 */
export function dupRecsQuery(input: CompileInput): string {
  const { dedup } = input.contract;
  const win =
    dedup.mode === 'first'
      ? `min(__rec) OVER (PARTITION BY __id) <> __rec`
      : `row_number() OVER (PARTITION BY __id ORDER BY ${ident(dedup.orderBy)} DESC NULLS LAST, __rec DESC) > 1`;
  return `CREATE OR REPLACE TABLE dup_recs AS SELECT __rec FROM (SELECT __rec, ${win} AS __dup FROM staged WHERE __reason IS NULL) WHERE __dup`;
}

/** Kept records: valid, not an in-file duplicate and (mode 'first') not already in silver. */
function keptRelation(withExisting: boolean): string {
  const existing = withExisting ? ' ANTI JOIN existing_ids e ON s.__id = e.id' : '';
  return `(SELECT s.* FROM staged s ANTI JOIN dup_recs d ON s.__rec = d.__rec${existing} WHERE s.__reason IS NULL)`;
}

export function silverSelect(input: CompileInput, withExisting: boolean): string {
  const { contract } = input;
  const existing = withExisting && contract.dedup.mode === 'first';
  const derived = contract.derived.length ? `, ${typedSelect(contract.derived, input)}` : '';
  const cols = [
    `__id AS ${ident(contract.dedup.idColumn)}`,
    ...contract.typed.map((c) => ident(c.name)),
    ...contract.derived.map((c) => ident(c.name)),
  ];
  return `SELECT ${cols.join(', ')}, ${lineageSelect(input)} FROM (SELECT *${derived} FROM ${withShift(input, keptRelation(existing), 'k')})`;
}

/** Kept records whose id silver already holds (only run when there are candidates). */
export function crossFileCountQuery(): string {
  return `SELECT count(*) AS n FROM (SELECT s.__id FROM staged s ANTI JOIN dup_recs d ON s.__rec = d.__rec WHERE s.__reason IS NULL) k SEMI JOIN existing_ids e ON k.__id = e.id`;
}

/** Quarantine rows: raw values, reason, lineage; malformed lines included with their raw text. */
export function quarantineSelect(input: CompileInput, withRejects: boolean): string {
  const src = input.contract.source.map((s) => s.name);
  const fromStaged =
    `SELECT ${src.map((s) => `__raw.${ident(s)} AS ${ident(s)}`).join(', ')}, CAST(NULL AS VARCHAR) AS raw_line, __reason AS quarantine_reason, ` +
    `CAST(NULL AS VARCHAR) AS quarantine_detail, ${lineageSelect(input)} ` +
    `FROM ${withShift(input, '(SELECT __rec, __raw, __reason FROM staged WHERE __reason IS NOT NULL)', 'q')}`;
  if (!withRejects) return fromStaged;
  const fromRejects =
    `SELECT ${src.map((s) => `CAST(NULL AS VARCHAR) AS ${ident(s)}`).join(', ')}, trim(csv_line, e'\\r\\n') AS raw_line, 'malformed_row' AS quarantine_reason, ` +
    `error_message AS quarantine_detail, ${literal(input.lineage.sourceFile)} AS source_file, CAST(line AS BIGINT) AS source_line, ` +
    `${literal(input.lineage.runId)} AS ingestion_run_id, ${tsLiteral(input.lineage.ingestedAt)} AS ingested_at ` +
    `FROM (SELECT DISTINCT ON (line) * FROM ${REJECTS_TABLE} ORDER BY line)`;
  return `${fromStaged} UNION ALL ${fromRejects}`;
}

/** Maps each malformed line to the record numbers after it, for exact source_line values. */
export function rejectShiftQuery(): string {
  return `CREATE OR REPLACE TEMP TABLE reject_shift AS
SELECT from_rec, max(shift) AS shift FROM (
  SELECT line - row_number() OVER (ORDER BY line) AS from_rec, row_number() OVER (ORDER BY line) AS shift
  FROM (SELECT DISTINCT line FROM ${REJECTS_TABLE})
) GROUP BY from_rec`;
}

export function quarantineColumns(contract: Contract): string[] {
  return [...contract.source.map((s) => s.name), 'raw_line', 'quarantine_reason', 'quarantine_detail', ...LINEAGE_COLUMNS.map((c) => c.name)];
}
