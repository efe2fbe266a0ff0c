import type { Contract, TypedColumn } from '../contracts/contract';
import { canonicalText, DUCK_TYPES, ident, literal } from './sql';

/**
 * Compiles a contract into the DuckDB SQL of one file's transform. Every query reads the same
 * source relation (`src`): the file's records numbered in file order (`__rec`, 1-based, rows
 * DuckDB could not parse excluded), with the contract's source column names.
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

/** The file as a relation. `storeRejects` records malformed rows (first pass only). */
export function sourceRelation(input: CompileInput, storeRejects: boolean): string {
  const { contract } = input;
  const path = literal(input.inputPath);
  if (contract.format.type === 'csv') {
    const width = input.headerWidth ?? contract.source.length;
    const columns = Array.from({ length: width }, (_, i) => `'c${i}': 'VARCHAR'`).join(', ');
    const delim = literal(contract.format.delimiter ?? ',');
    const quote = literal(contract.format.quote ?? '"');
    const errors = storeRejects
      ? `store_rejects = true, rejects_table = '${REJECTS_TABLE}', rejects_scan = '${REJECT_SCANS_TABLE}'`
      : 'ignore_errors = true';
    const cols = contract.source
      .map((s) => {
        const pos = input.columnPositions?.[s.name];
        return pos === undefined ? `CAST(NULL AS VARCHAR) AS ${ident(s.name)}` : `c${pos} AS ${ident(s.name)}`;
      })
      .join(', ');
    return (
      `(SELECT ordinality AS __rec, ${cols} FROM read_csv(${path}, header = true, columns = {${columns}}, ` +
      `delim = ${delim}, quote = ${quote}, escape = ${quote}, auto_detect = false, ${errors}) WITH ORDINALITY)`
    );
  }
  const columns = contract.source.map((s) => `${literal(s.name)}: 'VARCHAR'`).join(', ');
  // JSON lines: every field read as text (typing is the contract's job); bad lines are malformed rows.
  const errors = storeRejects ? 'ignore_errors = true' : 'ignore_errors = true';
  return `(SELECT ordinality AS __rec, * FROM read_json(${path}, format = 'newline_delimited', columns = {${columns}}, ${errors}) WITH ORDINALITY)`;
}

function typedSelect(columns: TypedColumn[], input: CompileInput): string {
  return columns.map((c) => `CAST((${expand(c.sql, input)}) AS ${DUCK_TYPES[c.type]}) AS ${ident(c.name)}`).join(',\n    ');
}

/** Rows with typed columns, plus the raw source values as a struct for quarantine. */
export function typedRelation(input: CompileInput, storeRejects: boolean, withRaw: boolean): string {
  const raw = withRaw
    ? `, struct_pack(${input.contract.source.map((s) => `${ident(s.name)} := ${ident(s.name)}`).join(', ')}) AS __raw`
    : '';
  return `(SELECT __rec,\n    ${typedSelect(input.contract.typed, input)}${raw}\n  FROM ${sourceRelation(input, storeRejects)})`;
}

function passes(check: string): string {
  return `coalesce((${check}), false)`;
}

/**
 * First pass: one row per record that any expectation flags. Dropped rows keep their raw
 * values (for quarantine) and the first failing drop expectation as the reason; warn/fail
 * results are booleans per expectation.
 */
export function flagsQuery(input: CompileInput): string {
  const { expectations } = input.contract;
  const drops = expectations.filter((e) => e.action === 'drop');
  const others = expectations.filter((e) => e.action !== 'drop');
  const reason = drops.length
    ? `CASE ${drops.map((e) => `WHEN NOT ${passes(e.check)} THEN ${literal(e.name)}`).join(' ')} END`
    : 'CAST(NULL AS VARCHAR)';
  const flagCols = others.map((e) => `NOT ${passes(e.check)} AS ${ident(`__x_${e.name}`)}`);
  const anyOther = others.length ? others.map((e) => `NOT ${passes(e.check)}`).join(' OR ') : 'false';
  return `CREATE OR REPLACE TEMP TABLE flags AS
SELECT __rec, __reason, CASE WHEN __reason IS NOT NULL THEN __raw END AS __raw${flagCols.length ? ', ' + others.map((e) => ident(`__x_${e.name}`)).join(', ') : ''}
FROM (
  SELECT __rec, __raw, ${reason} AS __reason${flagCols.length ? ',\n    ' + flagCols.join(',\n    ') : ''}, (${anyOther}) AS __any_other
  FROM ${typedRelation(input, true, true)}
)
WHERE __reason IS NOT NULL OR __any_other`;
}

/** Count of parsed records and the bounds of the range column among them. */
export function profileQuery(input: CompileInput): string {
  const range = input.contract.typed.find((c) => c.name === input.contract.rangeColumn);
  const rangeSql = range ? `CAST((${expand(range.sql, input)}) AS ${DUCK_TYPES[range.type]})` : 'NULL';
  return `SELECT count(*) AS parsed, CAST(min(r) AS VARCHAR) AS range_min, CAST(max(r) AS VARCHAR) AS range_max
FROM (SELECT ${rangeSql} AS r FROM ${sourceRelation(input, false)})`;
}

/** The physical line of a record: header line + record number + malformed lines before it. */
function lineExpr(input: CompileInput): string {
  return input.hasRejects ? `(__rec + 1 + coalesce(__reject_shift, 0))` : '(__rec + 1)';
}

function idExpr(input: CompileInput): string {
  const all = [...input.contract.typed, ...input.contract.derived];
  const parts = input.contract.dedup.key.map((k) => {
    const col = all.find((c) => c.name === k)!;
    return `coalesce(${canonicalText(ident(k), col.type)}, '')`;
  });
  return `sha256(concat_ws('|', ${parts.join(', ')}))`;
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

function rejectShiftJoin(input: CompileInput): string {
  return input.hasRejects ? ` ASOF LEFT JOIN reject_shift rs ON k.__rec >= rs.from_rec` : '';
}

function goodRelation(input: CompileInput): string {
  return `(SELECT t.* FROM ${typedRelation(input, false, false)} t ANTI JOIN (SELECT __rec FROM flags WHERE __reason IS NOT NULL) d ON t.__rec = d.__rec)`;
}

/**
 * Records that repeat an earlier record's key in the same file (mode 'first': all but the first
 * occurrence; mode 'latest': all but the latest by orderBy, later file position winning ties).
 * Only the key columns are read, so the window stays narrow.
 */
export function dupRecsQuery(input: CompileInput): string {
  const { dedup } = input.contract;
  const keyed = `(SELECT __rec, ${idExpr(input)} AS __id${dedup.mode === 'latest' ? `, ${ident(dedup.orderBy)} AS __ord` : ''} FROM ${goodRelation(input)})`;
  const win =
    dedup.mode === 'first'
      ? `min(__rec) OVER (PARTITION BY __id) <> __rec`
      : `row_number() OVER (PARTITION BY __id ORDER BY __ord DESC NULLS LAST, __rec DESC) > 1`;
  return `CREATE OR REPLACE TEMP TABLE dup_recs AS SELECT __rec FROM (SELECT __rec, ${win} AS __dup FROM ${keyed}) WHERE __dup`;
}

/**
 * Kept rows: typed, not dropped, not an in-file duplicate, with derived columns and the id; for
 * 'first' mode also minus ids silver already holds from earlier files.
 */
export function keptRelation(input: CompileInput, withExisting: boolean): string {
  const { contract } = input;
  const derived = contract.derived.length ? `,\n    ${typedSelect(contract.derived, input)}` : '';
  const unique = `(SELECT g.* FROM ${goodRelation(input)} g ANTI JOIN dup_recs x ON g.__rec = x.__rec)`;
  const id = ident(contract.dedup.idColumn);
  const keyed = `(SELECT *${derived}, ${idExpr(input)} AS ${id} FROM ${unique})`;
  const existing = withExisting && contract.dedup.mode === 'first' ? ` ANTI JOIN existing_ids e ON k.${id} = e.id` : '';
  return `(SELECT k.*${input.hasRejects ? ', rs.shift AS __reject_shift' : ''} FROM ${keyed} k${existing}${rejectShiftJoin(input)})`;
}

export function silverSelect(input: CompileInput, withExisting: boolean): string {
  const cols = [input.contract.dedup.idColumn, ...input.contract.typed.map((c) => c.name), ...input.contract.derived.map((c) => c.name)];
  return `SELECT ${cols.map(ident).join(', ')}, ${lineageSelect(input)} FROM ${keptRelation(input, withExisting)}`;
}

/** Ids of the file's kept rows that silver already holds (only run when there are candidates). */
export function crossFileCountQuery(input: CompileInput): string {
  return `SELECT count(*) AS n FROM (SELECT ${ident(input.contract.dedup.idColumn)} AS id FROM ${keptRelation(input, false)}) k SEMI JOIN existing_ids e ON k.id = e.id`;
}

/** Quarantine rows: raw values, reason, lineage; malformed lines included with their raw text. */
export function quarantineSelect(input: CompileInput, withRejects: boolean): string {
  const src = input.contract.source.map((s) => s.name);
  const fromFlags =
    `SELECT ${src.map((s) => `__raw.${ident(s)} AS ${ident(s)}`).join(', ')}, CAST(NULL AS VARCHAR) AS raw_line, __reason AS quarantine_reason, ` +
    `CAST(NULL AS VARCHAR) AS quarantine_detail, ${lineageSelect(input)} ` +
    `FROM (SELECT f.*${input.hasRejects ? ', rs.shift AS __reject_shift' : ''} FROM flags f${input.hasRejects ? ' ASOF LEFT JOIN reject_shift rs ON f.__rec >= rs.from_rec' : ''}) WHERE __reason IS NOT NULL`;
  if (!withRejects) return fromFlags;
  const fromRejects =
    `SELECT ${src.map((s) => `CAST(NULL AS VARCHAR) AS ${ident(s)}`).join(', ')}, trim(csv_line, e'\\r\\n') AS raw_line, 'malformed_row' AS quarantine_reason, ` +
    `error_message AS quarantine_detail, ${literal(input.lineage.sourceFile)} AS source_file, CAST(line AS BIGINT) AS source_line, ` +
    `${literal(input.lineage.runId)} AS ingestion_run_id, ${tsLiteral(input.lineage.ingestedAt)} AS ingested_at ` +
    `FROM (SELECT DISTINCT ON (line) * FROM ${REJECTS_TABLE} ORDER BY line)`;
  return `${fromFlags} UNION ALL ${fromRejects}`;
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
