import { createHash } from 'node:crypto';
import type pg from 'pg';
import { type Contract, tableOf } from '../contracts/contract';
import { datasetDdl, qi, quarantineTable, silverTable } from './schema';

/**
 * Silver schema migrations: a dataset's silver and quarantine tables are DIFFED against what its
 * contract's DDL (datasetDdl) creates, instead of `CREATE TABLE IF NOT EXISTS` leaving old
 * columns in place. Additive changes (new nullable column, widened type, NOT NULL dropped) are
 * applied with ALTER TABLE and recorded in ops.schema_changes; breaking ones (a column dropped or
 * renamed, a type narrowed or changed, a changed primary key, dedup key or mode, nullable → NOT
 * NULL) are never applied: the dataset is blocked, with a message naming each change and the
 * command that fixes it (`medallion dataset rebuild <name>`). The contract's fingerprint
 * (ops.dataset_contracts) catches a changed dedup key even when the columns still match.
 */

/** The same key as shared/db/schema.ts's migration lock (one migration at a time per database). */
const MIGRATION_LOCK = 4_242_001;

export const OPS_MIGRATION_DDL = `
DO $$ BEGIN IF to_regnamespace('ops') IS NULL THEN CREATE SCHEMA ops; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
CREATE TABLE IF NOT EXISTS ops.schema_changes (
  id                   bigserial   PRIMARY KEY,
  dataset              text        NOT NULL,
  table_name           text        NOT NULL,
  change               text        NOT NULL,
  ddl                  text,
  applied_at           timestamptz NOT NULL DEFAULT now(),
  contract_fingerprint text        NOT NULL
);
CREATE INDEX IF NOT EXISTS schema_changes_dataset_idx ON ops.schema_changes (dataset, applied_at DESC);
COMMENT ON TABLE ops.schema_changes IS 'Changes applied to silver tables when a contract changed (ALTERs, creations, rebuilds), newest last.';
CREATE TABLE IF NOT EXISTS ops.dataset_contracts (
  dataset              text        PRIMARY KEY,
  fingerprint          text,
  contract             jsonb,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  blocked              text,
  blocked_fingerprint  text,
  checked_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.dataset_contracts IS 'Per dataset: the fingerprint of the contract its silver tables were built with (what determines stored data), and why it is blocked when a contract change would need a rebuild.';
`;

/** The parts of a contract that determine stored data (its fingerprint is their SHA-256). */
export interface CanonicalContract {
  typed: { name: string; type: string; sql: string }[];
  derived: { name: string; type: string; sql: string }[];
  /** idColumn: absent for 'line' (staging) datasets, whose rows are keyed by their lineage. */
  dedup: { mode: string; key: string[]; idColumn?: string; orderBy?: string };
  partitionBy: string[];
  rangeColumn: string;
  /** The contract's `table` (only when it names one, so the fingerprints of other datasets stay as they were). */
  table?: string;
}

export function canonicalContract(c: Contract): CanonicalContract {
  const cols = (list: Contract['typed']) => list.map((t) => ({ name: t.name, type: t.type.replace(/\s+/g, ''), sql: t.sql }));
  return {
    typed: cols(c.typed),
    derived: cols(c.derived),
    dedup:
      c.dedup.mode === 'line'
        ? { mode: c.dedup.mode, key: [...c.dedup.key], orderBy: c.dedup.orderBy }
        : { mode: c.dedup.mode, key: [...c.dedup.key], idColumn: c.dedup.idColumn, ...(c.dedup.mode === 'latest' ? { orderBy: c.dedup.orderBy } : {}) },
    partitionBy: [...c.partitionBy],
    rangeColumn: c.rangeColumn,
    ...(c.table !== undefined ? { table: c.table } : {}),
  };
}

/** SHA-256 (hex) of the canonical JSON of what determines the dataset's stored data. */
export function contractFingerprint(c: Contract): string {
  return createHash('sha256').update(JSON.stringify(canonicalContract(c))).digest('hex');
}

export interface SchemaChange {
  /** Qualified table (silver.<name> or silver.<name>_quarantine). */
  table: string;
  /** One-line description, e.g. "add column 'x' numeric(10,2)". */
  change: string;
  /** 'apply': additive, applied with `ddl`; 'breaking': needs a rebuild; 'note': harmless, left as is. */
  kind: 'apply' | 'breaking' | 'note';
  ddl?: string;
}

export interface DatasetSchemaState {
  dataset: string;
  /** new: no silver table yet; up_to_date; pending: additive changes to apply; blocked: breaking changes. */
  status: 'new' | 'up_to_date' | 'pending' | 'blocked';
  changes: SchemaChange[];
  /** Fingerprint of the contract as loaded now. */
  fingerprint: string;
  /** Fingerprint the silver tables were built with (undefined: not recorded). */
  appliedFingerprint?: string;
  /** Blocked: one line naming each breaking change and the command that fixes it. */
  message?: string;
}

interface ColumnInfo {
  name: string;
  type: string;
  notNull: boolean;
  collation: string | null;
}

interface TableInfo {
  columns: Map<string, ColumnInfo>;
  primaryKey: string[];
}

async function tableInfo(client: pg.ClientBase, schema: string, table: string): Promise<TableInfo | undefined> {
  const cols = await client.query<{ name: string; type: string; not_null: boolean; collation: string | null }>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN co.collname END AS collation
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_collation co ON co.oid = a.attcollation
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [schema, table],
  );
  if (!cols.rows.length) return undefined;
  const pk = await client.query<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_constraint con
       JOIN pg_class c ON c.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
      WHERE n.nspname = $1 AND c.relname = $2 AND con.contype = 'p'
      ORDER BY k.ord`,
    [schema, table],
  );
  return {
    columns: new Map(cols.rows.map((r) => [r.name, { name: r.name, type: r.type, notNull: r.not_null, collation: r.collation }])),
    primaryKey: pk.rows.map((r) => r.name),
  };
}

function typeText(c: ColumnInfo): string {
  return c.collation ? `${c.type} COLLATE ${qi(c.collation)}` : c.type;
}

const NUMERIC = /^numeric(?:\((\d+),(\d+)\))?$/;

/** Integer digits a type holds exactly (undefined: not an exact number type; Infinity: unconstrained numeric). */
function exactNumber(type: string): { int: number; scale: number } | undefined {
  if (type === 'smallint') return { int: 5, scale: 0 };
  if (type === 'integer') return { int: 10, scale: 0 };
  if (type === 'bigint') return { int: 19, scale: 0 };
  const m = NUMERIC.exec(type);
  if (!m) return undefined;
  if (m[1] === undefined) return { int: Infinity, scale: Infinity };
  return { int: Number(m[1]) - Number(m[2]), scale: Number(m[2]) };
}

/** True when every value of type `from` is held exactly by type `to` (a widening). */
export function isWidening(from: string, to: string): boolean {
  if (from === to) return true;
  if (from === 'real' && to === 'double precision') return true;
  if (/^character varying(\(\d+\))?$/.test(from) && to === 'text') return true;
  const a = exactNumber(from);
  const b = exactNumber(to);
  if (!a || !b) return false;
  if (!NUMERIC.test(to)) {
    // integer → bigint (and smallint → either); a numeric never narrows back to an integer type.
    return a.scale === 0 && !NUMERIC.test(from) && b.int >= a.int;
  }
  return b.int >= a.int && b.scale >= a.scale;
}

function list(cols: string[]): string {
  return cols.length ? `(${cols.join(', ')})` : '(none)';
}

/** The changes that turn table `actual` into `expected` (qualified name `table` for the DDL). */
async function diffTable(client: pg.ClientBase, table: string, expected: TableInfo, actual: TableInfo, opts: { lenientDrops: boolean }): Promise<SchemaChange[]> {
  const out: SchemaChange[] = [];
  const added = [...expected.columns.values()].filter((c) => !actual.columns.has(c.name));
  const dropped = [...actual.columns.values()].filter((c) => !expected.columns.has(c.name));
  let empty: boolean | undefined;
  const isEmpty = async () => (empty ??= !(await client.query(`SELECT 1 FROM ${table} LIMIT 1`)).rowCount);
  for (const c of dropped) {
    const renamedTo = added.find((a) => a.type === c.type);
    if (opts.lenientDrops && !c.notNull) {
      out.push({ table, kind: 'note', change: `column '${c.name}' is no longer in the contract; kept (nullable, old values stay)` });
    } else {
      out.push({
        table,
        kind: 'breaking',
        change: renamedTo ? `column '${c.name}' is gone from the contract (renamed to '${renamedTo.name}'?)` : `column '${c.name}' was dropped from the contract`,
      });
    }
  }
  for (const c of added) {
    if (c.notNull && !(await isEmpty())) {
      out.push({ table, kind: 'breaking', change: `new column '${c.name}' ${typeText(c)} is NOT NULL but existing rows have no value for it` });
    } else {
      out.push({
        table,
        kind: 'apply',
        change: `add column '${c.name}' ${typeText(c)}${c.notNull ? ' NOT NULL' : ''}`,
        ddl: `ALTER TABLE ${table} ADD COLUMN ${qi(c.name)} ${typeText(c)}${c.notNull ? ' NOT NULL' : ''}`,
      });
    }
  }
  for (const e of expected.columns.values()) {
    const a = actual.columns.get(e.name);
    if (!a) continue;
    if (a.type !== e.type || a.collation !== e.collation) {
      if (a.type === e.type || isWidening(a.type, e.type)) {
        out.push({
          table,
          kind: 'apply',
          change: a.type === e.type ? `column '${e.name}' collation ${a.collation ?? 'default'} → ${e.collation ?? 'default'}` : `widen column '${e.name}' ${a.type} → ${e.type}`,
          ddl: `ALTER TABLE ${table} ALTER COLUMN ${qi(e.name)} TYPE ${typeText(e)}`,
        });
      } else {
        out.push({ table, kind: 'breaking', change: `column '${e.name}' type ${a.type} → ${e.type} (${exactNumber(a.type) && exactNumber(e.type) ? 'narrowed' : 'changed'}: existing values may not fit)` });
      }
    }
    if (a.notNull && !e.notNull && !actual.primaryKey.includes(e.name)) {
      out.push({ table, kind: 'apply', change: `column '${e.name}' NOT NULL → nullable`, ddl: `ALTER TABLE ${table} ALTER COLUMN ${qi(e.name)} DROP NOT NULL` });
    } else if (!a.notNull && e.notNull && !expected.primaryKey.includes(e.name)) {
      out.push({ table, kind: 'breaking', change: `column '${e.name}' nullable → NOT NULL (existing rows may hold NULL)` });
    }
  }
  if (expected.primaryKey.join(',') !== actual.primaryKey.join(',')) {
    out.push({ table, kind: 'breaking', change: `primary key ${list(actual.primaryKey)} → ${list(expected.primaryKey)}` });
  }
  return out;
}

/** Differences of stored data semantics between the contract the tables were built with and now. */
function contractChanges(table: string, before: CanonicalContract, now: CanonicalContract): SchemaChange[] {
  const out: SchemaChange[] = [];
  const b = before.dedup;
  const n = now.dedup;
  if (b.mode !== n.mode) out.push({ table, kind: 'breaking', change: `dedup mode '${b.mode}' → '${n.mode}'` });
  if (b.key.join(',') !== n.key.join(',')) out.push({ table, kind: 'breaking', change: `dedup key ${list(b.key)} → ${list(n.key)} (changes every id)` });
  if (b.idColumn !== n.idColumn) out.push({ table, kind: 'breaking', change: `dedup idColumn '${b.idColumn}' → '${n.idColumn}'` });
  if (b.mode === 'latest' && n.mode === 'latest' && b.orderBy !== n.orderBy) out.push({ table, kind: 'breaking', change: `dedup orderBy '${b.orderBy}' → '${n.orderBy}'` });
  const sqlOf = (cols: CanonicalContract['typed']) => new Map(cols.map((c) => [c.name, c.sql]));
  for (const kind of ['typed', 'derived'] as const) {
    const old = sqlOf(before[kind]);
    for (const c of now[kind]) {
      const was = old.get(c.name);
      if (was === undefined || was === c.sql) continue;
      // A dedup key column standardised differently gives an event already in silver another id
      // (or key) when it comes again: it would land twice. Silver must be rebuilt with the new SQL.
      if (n.key.includes(c.name)) out.push({ table, kind: 'breaking', change: `${kind} column '${c.name}' sql changed, and it is part of the dedup key (rows already in silver would not match the same records standardised the new way)` });
      else out.push({ table, kind: 'apply', change: `${kind} column '${c.name}' sql changed (new files only; existing rows keep their values until a rebuild)` });
    }
  }
  if (before.partitionBy.join(',') !== now.partitionBy.join(',')) out.push({ table, kind: 'apply', change: `partitionBy ${list(before.partitionBy)} → ${list(now.partitionBy)}` });
  if (before.rangeColumn !== now.rangeColumn) out.push({ table, kind: 'apply', change: `rangeColumn '${before.rangeColumn}' → '${now.rangeColumn}'` });
  return out;
}

export function rebuildCommand(dataset: string): string {
  return `medallion dataset rebuild ${dataset}`;
}

function blockedMessage(dataset: string, changes: SchemaChange[]): string {
  const breaking = changes.filter((c) => c.kind === 'breaking').map((c) => `${c.table}: ${c.change}`);
  return (
    `dataset '${dataset}' is blocked: its contract changed in ways silver cannot follow without losing or rewriting data — ${breaking.join('; ')}. ` +
    `Run \`${rebuildCommand(dataset)}\` to recreate its silver tables from the contract (or revert the contract change).`
  );
}

async function opsTablesExist(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>(`SELECT to_regclass('ops.dataset_contracts') IS NOT NULL AS ok`);
  return r.rows[0]!.ok;
}

/**
 * The state of one dataset's silver tables against its contract. Runs inside the caller's
 * transaction: the expected tables are created in a scratch schema under a savepoint, read
 * from the catalog and rolled back.
 */
export async function planDataset(client: pg.ClientBase, contract: Contract): Promise<DatasetSchemaState> {
  const target = tableOf(contract);
  let expectedSilver: TableInfo | undefined;
  let expectedQuarantine: TableInfo | undefined;
  await client.query('SAVEPOINT medallion_schema_diff');
  try {
    // The expected tables are built as temporary tables (the session's own schema): no CREATE
    // right on the database is needed, and nothing is visible to other sessions.
    await client.query(datasetDdl(contract, 'pg_temp'));
    const temp = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()');
    const scratch = temp.rows[0]!.nspname;
    expectedSilver = await tableInfo(client, scratch, target.name);
    expectedQuarantine = await tableInfo(client, scratch, `${target.name}_quarantine`);
  } finally {
    await client.query('ROLLBACK TO SAVEPOINT medallion_schema_diff');
    await client.query('RELEASE SAVEPOINT medallion_schema_diff');
  }
  if (!expectedSilver || !expectedQuarantine) throw new Error(`datasetDdl('${contract.name}') did not create ${target.name} and ${target.name}_quarantine`);
  const fingerprint = contractFingerprint(contract);
  const stored = (await opsTablesExist(client))
    ? (await client.query<{ fingerprint: string | null; contract: CanonicalContract | null }>('SELECT fingerprint, contract FROM ops.dataset_contracts WHERE dataset = $1', [contract.name])).rows[0]
    : undefined;
  const actualSilver = await tableInfo(client, target.schema, target.name);
  const actualQuarantine = await tableInfo(client, target.schema, `${target.name}_quarantine`);
  const base = { dataset: contract.name, fingerprint, appliedFingerprint: stored?.fingerprint ?? undefined };
  if (!actualSilver) return { ...base, status: 'new', changes: [] };
  const silver = silverTable(contract);
  const changes = await diffTable(client, silver, expectedSilver, actualSilver, { lenientDrops: false });
  if (actualQuarantine) changes.push(...(await diffTable(client, quarantineTable(contract), expectedQuarantine, actualQuarantine, { lenientDrops: true })));
  else changes.push({ table: quarantineTable(contract), kind: 'apply', change: 'create table (missing)' });
  if (stored?.contract && stored.fingerprint !== fingerprint) changes.push(...contractChanges(silver, stored.contract, canonicalContract(contract)));
  if (changes.some((c) => c.kind === 'breaking')) return { ...base, status: 'blocked', changes, message: blockedMessage(contract.name, changes) };
  const pending = changes.some((c) => c.kind === 'apply') || stored?.fingerprint !== fingerprint;
  return { ...base, status: pending ? 'pending' : 'up_to_date', changes };
}

async function record(client: pg.ClientBase, contract: Contract, table: string, change: string, ddl: string | null, fingerprint: string): Promise<void> {
  await client.query('INSERT INTO ops.schema_changes (dataset, table_name, change, ddl, contract_fingerprint) VALUES ($1, $2, $3, $4, $5)', [contract.name, table, change, ddl, fingerprint]);
}

async function storeFingerprint(client: pg.ClientBase, contract: Contract, fingerprint: string): Promise<void> {
  await client.query(
    `INSERT INTO ops.dataset_contracts (dataset, fingerprint, contract, updated_at, blocked, blocked_fingerprint, checked_at)
     VALUES ($1, $2, $3, now(), NULL, NULL, now())
     ON CONFLICT (dataset) DO UPDATE SET
       updated_at = CASE WHEN ops.dataset_contracts.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint THEN now() ELSE ops.dataset_contracts.updated_at END,
       fingerprint = EXCLUDED.fingerprint, contract = EXCLUDED.contract, blocked = NULL, blocked_fingerprint = NULL, checked_at = now()`,
    [contract.name, fingerprint, JSON.stringify(canonicalContract(contract))],
  );
}

async function storeBlocked(client: pg.ClientBase, contract: Contract, fingerprint: string, message: string): Promise<void> {
  await client.query(
    `INSERT INTO ops.dataset_contracts (dataset, fingerprint, contract, blocked, blocked_fingerprint, checked_at)
     VALUES ($1, NULL, NULL, $2, $3, now())
     ON CONFLICT (dataset) DO UPDATE SET blocked = EXCLUDED.blocked, blocked_fingerprint = EXCLUDED.blocked_fingerprint, checked_at = now()`,
    [contract.name, message, fingerprint],
  );
}

/**
 * Brings one dataset's silver tables to its contract inside the caller's transaction: creates
 * them when new, applies additive changes (recorded in ops.schema_changes), or leaves them as
 * they are when a change is breaking. Returns the state found (blocked: with its message).
 */
async function migrateDataset(client: pg.ClientBase, contract: Contract): Promise<DatasetSchemaState> {
  const state = await planDataset(client, contract);
  const silver = silverTable(contract);
  if (state.status === 'blocked') {
    await storeBlocked(client, contract, state.fingerprint, state.message!);
    return state;
  }
  if (state.status === 'new') {
    const ddl = datasetDdl(contract);
    await client.query(ddl);
    await record(client, contract, silver, 'create', ddl.trim(), state.fingerprint);
  } else {
    for (const c of state.changes) {
      if (c.kind !== 'apply') continue;
      if (c.ddl) await client.query(c.ddl);
      await record(client, contract, c.table, c.change, c.ddl ?? null, state.fingerprint);
    }
    // New indexes / a missing quarantine table / comments (all idempotent).
    await client.query(datasetDdl(contract));
  }
  await storeFingerprint(client, contract, state.fingerprint);
  return state;
}

/**
 * Migrates every dataset in one transaction, under the migration lock. A dataset
 * whose contract changed in a breaking way, or whose migration failed, is left untouched and
 * reported: dataset → one-line message. Other datasets are migrated all the same.
 */
export async function migrateDatasets(client: pg.ClientBase, contracts: Contract[]): Promise<Map<string, string>> {
  const blocked = new Map<string, string>();
  await client.query('BEGIN');
  try {
    // Transaction-scoped, so it is right through PgBouncer in transaction mode too.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(OPS_MIGRATION_DDL);
    for (const contract of contracts) {
      await client.query('SAVEPOINT medallion_dataset');
      try {
        const state = await migrateDataset(client, contract);
        if (state.message) blocked.set(contract.name, state.message);
        await client.query('RELEASE SAVEPOINT medallion_dataset');
      } catch (e) {
        await client.query('ROLLBACK TO SAVEPOINT medallion_dataset');
        const message = `dataset '${contract.name}' is blocked: its silver tables could not be brought to the contract (${(e as Error).message.split('\n')[0]}). Fix the contract, or run \`${rebuildCommand(contract.name)}\` to recreate its silver tables.`;
        blocked.set(contract.name, message);
        await storeBlocked(client, contract, contractFingerprint(contract), message);
      }
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return blocked;
}

/**
 * What `medallion status` prints: each dataset's schema state (new / up_to_date / pending /
 * blocked, with the changes), computed read-only (everything is rolled back).
 */
export async function describeSchemaState(pool: pg.Pool, contracts: Contract[]): Promise<DatasetSchemaState[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN READ WRITE');
    try {
      const out: DatasetSchemaState[] = [];
      for (const c of contracts) out.push(await planDataset(client, c));
      return out;
    } finally {
      await client.query('ROLLBACK');
    }
  } finally {
    client.release();
  }
}

/**
 * Drops and recreates a dataset's silver and quarantine tables with the contract's current DDL,
 * inside the caller's transaction (for `medallion dataset rebuild <name>`): its rows are gone
 * (re-ingest its bronze files after the commit), the stored fingerprint is the current
 * contract's and the dataset is no longer blocked. Recorded as a 'rebuild' row in ops.schema_changes.
 */
export async function resetDatasetTables(client: pg.ClientBase, contract: Contract): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
  await client.query(OPS_MIGRATION_DDL);
  await client.query(`DROP TABLE IF EXISTS ${quarantineTable(contract)}`);
  await client.query(`DROP TABLE IF EXISTS ${silverTable(contract)}`);
  const ddl = datasetDdl(contract);
  await client.query(ddl);
  const fingerprint = contractFingerprint(contract);
  await record(client, contract, silverTable(contract), 'rebuild', ddl.trim(), fingerprint);
  await storeFingerprint(client, contract, fingerprint);
}
