import { createHash } from 'node:crypto';
import type pg from 'pg';
import { type Contract, tableOf } from '../contracts/contract';
import { RESCUED_COLUMN } from '../engine/compile';
import { pgType } from '../engine/sql';
import { contractFingerprint, migrateDatasets, OPS_MIGRATION_DDL } from './migrate';

export function qi(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The schema silver tables live in (a different one only for a scratch copy, e.g. a contract diff). */
export const SILVER_SCHEMA = 'silver';

/**
 * The dataset's table, quoted: `silver.<name>`, or the contract's `table` (a staging table such as
 * `stg_pipedrive.deals_raw`); `schema` overrides the schema (a scratch copy, e.g. `pg_temp`).
 */
export function silverTable(contract: Contract, schema?: string): string {
  const t = tableOf(contract);
  return `${qi(schema ?? t.schema)}.${qi(t.name)}`;
}

/** The dataset's quarantine table: `<schema>.<table>_quarantine` next to its table. */
export function quarantineTable(contract: Contract, schema?: string): string {
  const t = tableOf(contract);
  return `${qi(schema ?? t.schema)}.${qi(`${t.name}_quarantine`)}`;
}

const LEDGER_DDL = `
DO $$ BEGIN IF to_regnamespace('ops') IS NULL THEN CREATE SCHEMA ops; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
DO $$ BEGIN IF to_regnamespace('silver') IS NULL THEN CREATE SCHEMA silver; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
DO $$ BEGIN IF to_regnamespace('gold') IS NULL THEN CREATE SCHEMA gold; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
CREATE TABLE IF NOT EXISTS ops.file_runs (
  path                  text        NOT NULL,
  etag                  text        NOT NULL,
  run_id                uuid        NOT NULL,
  dataset               text,
  size_bytes            bigint      NOT NULL,
  status                text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  attempts              integer     NOT NULL DEFAULT 1,
  rows_read             bigint,
  rows_silver           bigint,
  rows_quarantined      bigint,
  quarantine_reasons    jsonb       NOT NULL DEFAULT '{}',
  duplicates_in_file    bigint,
  duplicates_cross_file bigint,
  warnings              jsonb       NOT NULL DEFAULT '{}',
  outputs               jsonb       NOT NULL DEFAULT '[]',
  timings_ms            jsonb       NOT NULL DEFAULT '{}',
  blob_last_modified    timestamptz,
  started_at            timestamptz NOT NULL DEFAULT now(),
  finished_at           timestamptz,
  duration_ms           bigint,
  latency_ms            bigint,
  error                 text,
  PRIMARY KEY (path, etag),
  CONSTRAINT rows_accounted CHECK (
    status <> 'succeeded'
    OR rows_read = rows_silver + rows_quarantined + duplicates_in_file + duplicates_cross_file
  )
);
CREATE INDEX IF NOT EXISTS file_runs_dataset_idx ON ops.file_runs (dataset, started_at DESC);
COMMENT ON TABLE ops.file_runs IS 'Run ledger: one row per bronze file version (path + ETag). Invariant for succeeded runs: rows_read = rows_silver + rows_quarantined + duplicates_in_file + duplicates_cross_file.';
CREATE TABLE IF NOT EXISTS ops.platform_schema (key text PRIMARY KEY, fingerprint text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
COMMENT ON TABLE ops.platform_schema IS 'Fingerprint of the schema the last start-up migration produced: a start with the same code and contracts skips the migration.';
-- Added since the first release (idempotent, so an existing ledger is upgraded in place).
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS failure_kind text CHECK (failure_kind IN ('bad_file', 'bad_contract', 'transient'));
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS content_hash text;
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS redelivery_of uuid;
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS blank_lines bigint;
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS unknown_columns jsonb NOT NULL DEFAULT '[]';
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS host text;
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS pid integer;
ALTER TABLE ops.file_runs ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE ops.file_runs DROP CONSTRAINT IF EXISTS file_runs_status_check;
ALTER TABLE ops.file_runs ADD CONSTRAINT file_runs_status_check CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned'));
CREATE INDEX IF NOT EXISTS file_runs_content_idx ON ops.file_runs (dataset, content_hash) WHERE status = 'succeeded';
CREATE INDEX IF NOT EXISTS file_runs_running_idx ON ops.file_runs (path) WHERE status = 'running';
COMMENT ON COLUMN ops.file_runs.status IS 'running, succeeded, failed (see failure_kind) or abandoned (an unfinished run of the same path that a later run reconciled: its outputs removed).';
COMMENT ON COLUMN ops.file_runs.failure_kind IS 'Why a failed run failed: bad_file (the file as a whole), bad_contract (fix the contract, then replay) or transient (retried).';
COMMENT ON COLUMN ops.file_runs.content_hash IS 'SHA-256 of the decompressed file content: a re-delivery of the same bytes under any name is recognised by it.';
COMMENT ON COLUMN ops.file_runs.redelivery_of IS 'For a re-delivery of content that already landed: the run that landed it (every row of this run is counted as a duplicate).';
COMMENT ON COLUMN ops.file_runs.blank_lines IS 'Blank lines of the file (not rows; not in rows_read).';
COMMENT ON COLUMN ops.file_runs.unknown_columns IS 'Source columns the contract does not name (rescued into _rescued unless the contract ignores them).';
COMMENT ON COLUMN ops.file_runs.host IS 'Host name of the process that claimed the run (with pid: a dead process on the same host is recognised at once).';
COMMENT ON COLUMN ops.file_runs.pid IS 'Process id of the process that claimed the run.';
COMMENT ON COLUMN ops.file_runs.heartbeat_at IS 'Last sign of life of a running run (every 15 s): another process leaves a live run alone and takes it over only once it is silent for 90 s or its process is gone.';
`;

/** The quarantine table's DDL (every dataset's has the same shape: source columns as text, raw line, reason, lineage). */
function quarantineDdl(contract: Contract, q: string): string {
  return `CREATE TABLE IF NOT EXISTS ${q} (
  ${[...contract.source.map((s) => `${qi(s.name)} text`), 'raw_line text', 'quarantine_reason text NOT NULL', 'quarantine_detail text', 'source_hash text NOT NULL', 'source_file text NOT NULL', 'source_line bigint NOT NULL', 'ingestion_run_id uuid NOT NULL', 'ingested_at timestamptz NOT NULL'].join(',\n  ')}
);
CREATE UNIQUE INDEX IF NOT EXISTS ${qi(`${contract.name}_quarantine_key`)} ON ${q} (source_hash, source_line);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_quarantine_file_idx`)} ON ${q} (source_file, source_line);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_quarantine_reason_idx`)} ON ${q} (quarantine_reason);`;
}

/**
 * DDL of a staging dataset (`dedup.mode: 'line'`): one row per line of each bronze file, the
 * record as JSONB with its lineage, keyed by (scope, blob_path, line_no); the business key and
 * version columns indexed for readers that pick the latest version of each record.
 */
function lineDatasetDdl(contract: Contract, schema: string | undefined): string {
  if (contract.dedup.mode !== 'line') throw new Error(`'${contract.name}' is not a staging (dedup.mode 'line') dataset`);
  const { key, orderBy } = contract.dedup;
  const table = silverTable(contract, schema);
  const q = quarantineTable(contract, schema);
  const cols = [...contract.typed, ...contract.derived];
  const target = schema ?? tableOf(contract).schema;
  const lines = [
    'scope text COLLATE "C" NOT NULL',
    'blob_path text COLLATE "C" NOT NULL',
    'line_no bigint NOT NULL',
    ...cols.map((c) => `${qi(c.name)} ${pgType(c.type)}${key.includes(c.name) ? ' NOT NULL' : ''}`),
    'record jsonb NOT NULL',
    'run_id text NOT NULL',
    'extracted_at timestamptz NOT NULL',
    'ingestion_run_id uuid NOT NULL',
    'ingested_at timestamptz NOT NULL',
  ];
  const comments = [
    `COMMENT ON TABLE ${table} IS ${lit(contract.description)};`,
    `COMMENT ON COLUMN ${table}.scope IS 'Account the record belongs to: the scope= folder of its bronze path (the API base URL''s subdomain).';`,
    `COMMENT ON COLUMN ${table}.blob_path IS 'Bronze path of the file the record came from (in the bronze zone, as ops.file_runs.path).';`,
    `COMMENT ON COLUMN ${table}.line_no IS 'Physical line of the record in that file (1-based); the exact text of the record is that line.';`,
    ...cols.map((c) => `COMMENT ON COLUMN ${table}.${qi(c.name)} IS ${lit(c.description)};`),
    `COMMENT ON COLUMN ${table}.record IS 'The record as the API returned it, as JSONB: the same JSON value as the line (numbers exact, e.g. 1500.00 and ids beyond 2^53); jsonb normalises whitespace and key order, and keeps the last of a repeated nested key.';`,
    `COMMENT ON COLUMN ${table}.run_id IS 'Extraction run that wrote the file: the run_id= folder of its path (YYYYMMDDTHHMMSSmmmZ, the UTC start of the run).';`,
    `COMMENT ON COLUMN ${table}.extracted_at IS 'Start of that extraction run (UTC), from run_id.';`,
    `COMMENT ON COLUMN ${table}.ingestion_run_id IS 'Ledger run that staged the row (ops.file_runs.run_id).';`,
    `COMMENT ON COLUMN ${table}.ingested_at IS 'Start of that ledger run.';`,
  ];
  // CREATE only when missing: the app role may own its schemas without the database's CREATE right
  // (infra/hooks/app-role.sql creates the staging schemas in Azure).
  const createSchema = target === 'pg_temp' ? '' : `DO $$ BEGIN IF to_regnamespace(${lit(target)}) IS NULL THEN CREATE SCHEMA ${qi(target)}; END IF; END $$;`;
  return `
${createSchema}
CREATE TABLE IF NOT EXISTS ${table} (
  ${lines.join(',\n  ')},
  PRIMARY KEY (scope, blob_path, line_no)
);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_key_idx`)} ON ${table} (${[...key, orderBy].map(qi).join(', ')});
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_run_idx`)} ON ${table} (ingestion_run_id);
${quarantineDdl(contract, q)}
${comments.join('\n')}
`;
}

/** DDL of a dataset's silver and quarantine tables, derived from its contract. */
export function datasetDdl(contract: Contract, schema?: string): string {
  if (contract.dedup.mode === 'line') return lineDatasetDdl(contract, schema);
  const id = contract.dedup.idColumn;
  const cols = [...contract.typed, ...contract.derived];
  // Keys may be NULL (the id hashes NULL distinctly). 'first': the range column leads the key so
  // that time-ordered loads append to the index instead of scattering random hash keys over it
  // (rows without it are quarantined as missing_<column>). 'latest': one row per id.
  const lines = [
    `${qi(id)} text COLLATE "C" NOT NULL`,
    ...cols.map((c) => `${qi(c.name)} ${pgType(c.type)}${contract.dedup.mode === 'first' && c.name === contract.rangeColumn ? ' NOT NULL' : ''}`),
    `${qi(RESCUED_COLUMN)} jsonb`,
    'source_file text NOT NULL',
    'source_line bigint NOT NULL',
    'ingestion_run_id uuid NOT NULL',
    'ingested_at timestamptz NOT NULL',
  ];
  const pk = contract.dedup.mode === 'first' ? `PRIMARY KEY (${qi(contract.rangeColumn)}, ${qi(id)})` : `PRIMARY KEY (${qi(id)})`;
  const table = silverTable(contract, schema);
  const q = quarantineTable(contract, schema);
  const comments = [
    `COMMENT ON TABLE ${table} IS ${lit(contract.description)};`,
    `COMMENT ON COLUMN ${table}.${qi(id)} IS ${lit(`SHA-256 (hex) of the dedup key (${contract.dedup.key.join(', ')}), canonical text joined by '|'.`)};`,
    ...cols.map((c) => `COMMENT ON COLUMN ${table}.${qi(c.name)} IS ${lit(c.description)};`),
    `COMMENT ON COLUMN ${table}.${qi(RESCUED_COLUMN)} IS 'Source columns the contract does not name, as a JSON object (header or key → value as sent); NULL when the file had none.';`,
    `COMMENT ON COLUMN ${table}.source_file IS 'Bronze path the row came from.';`,
    `COMMENT ON COLUMN ${table}.source_line IS 'Physical line of the row in the source file (header = line 1).';`,
  ];
  return `
CREATE TABLE IF NOT EXISTS ${table} (
  ${lines.join(',\n  ')},
  ${pk}
);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_run_idx`)} ON ${table} (ingestion_run_id);
${contract.dedup.mode === 'latest' ? `CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_order_idx`)} ON ${table} (${qi(contract.dedup.orderBy)});` : ''}
${contract.dedup.mode === 'latest' && contract.rangeColumn !== contract.dedup.orderBy ? `CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_range_idx`)} ON ${table} (${qi(contract.rangeColumn)});` : ''}
${quarantineDdl(contract, q)}
${comments.join('\n')}
`;
}

function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

const MIGRATION_LOCK = 4_242_001;

/**
 * Creates (idempotently) the ledger, and brings every dataset's silver tables to its contract
 * (shared/db/migrate.ts): new tables created, additive changes applied and recorded in
 * ops.schema_changes, breaking changes left unapplied. Returns the blocked datasets (dataset →
 * one-line message naming each breaking change and the command that fixes it). Safe to run
 * concurrently (one migration at a time, under an advisory lock).
 */
export async function ensureSchema(pool: pg.Pool, contracts: Contract[]): Promise<Map<string, string>> {
  const fingerprint = startupFingerprint(contracts);
  const client = await pool.connect();
  try {
    // Fast path (every start of every instance): nothing changed since the last migration, so
    // take no lock at all; a burst of instances starting must not queue behind DDL locks.
    if (await startupIsCurrent(client, fingerprint)) return await blockedDatasets(client, contracts);
    // Transaction-scoped locks only: correct through PgBouncer in transaction mode. Under the
    // lock, look again (an instance that started at the same moment may have just migrated), and
    // run the ledger DDL only when it changed: ALTER TABLE and CREATE INDEX lock the ledger even
    // when there is nothing to do, and would queue behind (and deadlock with) running loads.
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      if (await startupIsCurrent(client, fingerprint)) {
        await client.query('COMMIT');
        return await blockedDatasets(client, contracts);
      }
      const ledger = createHash('sha256').update(LEDGER_DDL).digest('hex');
      if (!(await schemaKeyIs(client, 'ledger', ledger))) {
        await client.query(LEDGER_DDL);
        await client.query(
          `INSERT INTO ops.platform_schema (key, fingerprint, updated_at) VALUES ('ledger', $1, now())
           ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, updated_at = now()`,
          [ledger],
        );
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
    const blocked = await migrateDatasets(client, contracts);
    await client.query(
      `INSERT INTO ops.platform_schema (key, fingerprint, updated_at) VALUES ('startup', $1, now())
       ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, updated_at = now()`,
      [fingerprint],
    );
    return blocked;
  } finally {
    client.release();
  }
}

/** Whether ops.platform_schema records this fingerprint under `key` (false while the table does not exist). */
async function schemaKeyIs(client: pg.PoolClient, key: string, fingerprint: string): Promise<boolean> {
  const exists = await client.query<{ ok: boolean }>(`SELECT to_regclass('ops.platform_schema') IS NOT NULL AS ok`);
  if (!exists.rows[0]?.ok) return false;
  const r = await client.query('SELECT 1 FROM ops.platform_schema WHERE key = $1 AND fingerprint = $2', [key, fingerprint]);
  return (r.rowCount ?? 0) > 0;
}

function startupIsCurrent(client: pg.PoolClient, fingerprint: string): Promise<boolean> {
  return schemaKeyIs(client, 'startup', fingerprint);
}

/** The datasets the last migration left blocked (dataset → message). */
async function blockedDatasets(client: pg.PoolClient, contracts: Contract[]): Promise<Map<string, string>> {
  const blocked = await client.query<{ dataset: string; blocked: string }>(
    `SELECT dataset, blocked FROM ops.dataset_contracts WHERE blocked IS NOT NULL AND dataset = ANY($1::text[])`,
    [contracts.map((c) => c.name)],
  );
  return new Map(blocked.rows.map((r) => [r.dataset, r.blocked]));
}

/** What the start-up migration depends on: the ledger DDL and every dataset's DDL and contract fingerprint. */
function startupFingerprint(contracts: Contract[]): string {
  const h = createHash('sha256').update(LEDGER_DDL).update(OPS_MIGRATION_DDL);
  for (const c of [...contracts].sort((a, b) => (a.name < b.name ? -1 : 1))) h.update(`\n${c.name}\n${datasetDdl(c)}\n${contractFingerprint(c)}`);
  return h.digest('hex');
}
