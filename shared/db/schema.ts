import type pg from 'pg';
import type { Contract } from '../contracts/contract';
import { PG_TYPES } from '../engine/sql';
import { migrateDatasets } from './migrate';

export function qi(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function silverTable(contract: Contract): string {
  return `silver.${qi(contract.name)}`;
}

export function quarantineTable(contract: Contract): string {
  return `silver.${qi(`${contract.name}_quarantine`)}`;
}

const LEDGER_DDL = `
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS silver;
CREATE SCHEMA IF NOT EXISTS gold;
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
`;

/** DDL of a dataset's silver and quarantine tables, derived from its contract. */
export function datasetDdl(contract: Contract): string {
  const id = contract.dedup.idColumn;
  const cols = [...contract.typed, ...contract.derived];
  const lines = [
    `${qi(id)} text COLLATE "C" NOT NULL`,
    ...cols.map((c) => `${qi(c.name)} ${PG_TYPES[c.type]}${contract.dedup.key.includes(c.name) || c.name === contract.rangeColumn ? ' NOT NULL' : ''}`),
    'source_file text NOT NULL',
    'source_line bigint NOT NULL',
    'ingestion_run_id uuid NOT NULL',
    'ingested_at timestamptz NOT NULL',
  ];
  // 'first': the range column leads the key so that time-ordered loads append to the index
  // instead of scattering random hash keys over it (the id alone is unique all the same).
  const pk =
    contract.dedup.mode === 'first' ? `PRIMARY KEY (${qi(contract.rangeColumn)}, ${qi(id)})` : `PRIMARY KEY (${contract.dedup.key.map(qi).join(', ')})`;
  const table = silverTable(contract);
  const q = quarantineTable(contract);
  const comments = [
    `COMMENT ON TABLE ${table} IS ${lit(contract.description)};`,
    `COMMENT ON COLUMN ${table}.${qi(id)} IS ${lit(`SHA-256 (hex) of the dedup key (${contract.dedup.key.join(', ')}), canonical text joined by '|'.`)};`,
    ...cols.map((c) => `COMMENT ON COLUMN ${table}.${qi(c.name)} IS ${lit(c.description)};`),
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
CREATE TABLE IF NOT EXISTS ${q} (
  ${[...contract.source.map((s) => `${qi(s.name)} text`), 'raw_line text', 'quarantine_reason text NOT NULL', 'quarantine_detail text', 'source_file text NOT NULL', 'source_line bigint NOT NULL', 'ingestion_run_id uuid NOT NULL', 'ingested_at timestamptz NOT NULL'].join(',\n  ')}
);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_quarantine_file_idx`)} ON ${q} (source_file, source_line);
CREATE INDEX IF NOT EXISTS ${qi(`${contract.name}_quarantine_reason_idx`)} ON ${q} (quarantine_reason);
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
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(LEDGER_DDL);
      return await migrateDatasets(client, contracts);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
