import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { qi } from '../db/schema';
import { copyToCsv, readPgCsv } from '../engine/pgCsv';
import { type EngineOptions, keepSignedZeros, openEngine } from '../engine/transform';
import { literal } from '../engine/sql';
import { scratchPrefix } from '../workDirs';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import { type GoldGraph, type PlannedModel } from './models';
import { type GoldScope, graphOf } from './refresh';

export interface GoldExportDeps {
  pool: pg.Pool;
  lake: Lake;
  log?: Logger;
  /** DuckDB settings for the CSV → Parquet step (default: 256MB, spill under the OS temp dir). */
  engine?: EngineOptions;
  /** Local scratch folder (default: the OS temp dir). */
  workRoot?: string;
}

export interface GoldExportResult {
  dataset: string;
  /** Lake paths written (zone gold), or [] when the lake already had this state. */
  files: { table: string; path: string; rows: number; bytes: number }[];
  /** The ops.gold_refreshes id the exported tables reflect. */
  refreshId: string | null;
  skipped: boolean;
  ms: number;
  /** Where the time went: read (COPY out of PostgreSQL), parquet (DuckDB), upload (lake). */
  phasesMs?: { read: number; parquet: number; upload: number };
}

/** Lake path of a gold table's Parquet file (zone `gold`). */
export function goldLakePath(dataset: string, table: string): string {
  return `${dataset}/${table}.parquet`;
}

/** PostgreSQL column type (format_type) → DuckDB type for the Parquet file. */
export function duckTypeOf(pgType: string): string {
  const t = pgType.toLowerCase();
  const num = /^numeric\((\d+),(\d+)\)$/.exec(t);
  if (num) return Number(num[1]) <= 38 ? `DECIMAL(${num[1]},${num[2]})` : 'DOUBLE';
  if (t === 'numeric') return 'DECIMAL(38,10)';
  if (t === 'bigint') return 'BIGINT';
  if (t === 'integer') return 'INTEGER';
  if (t === 'smallint') return 'SMALLINT';
  if (t === 'double precision') return 'DOUBLE';
  if (t === 'real') return 'FLOAT';
  if (t === 'boolean') return 'BOOLEAN';
  if (t === 'date') return 'DATE';
  if (t.startsWith('timestamp') && t.endsWith('with time zone')) return 'TIMESTAMPTZ';
  if (t.startsWith('timestamp')) return 'TIMESTAMP';
  if (t === 'uuid') return 'UUID';
  return 'VARCHAR';
}

interface Column {
  name: string;
  pgType: string;
}

/** A gold table's columns and primary key (none of either when the table does not exist). */
async function tableColumns(db: pg.PoolClient, table: string): Promise<{ columns: Column[]; key: string[] }> {
  const cols = await db.query<{ attname: string; type: string }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a
     WHERE a.attrelid = to_regclass(format('gold.%I', $1::text)) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [table],
  );
  const pk = await db.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
     WHERE i.indrelid = to_regclass(format('gold.%I', $1::text)) AND i.indisprimary
     ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [table],
  );
  return { columns: cols.rows.map((r) => ({ name: r.attname, pgType: r.type })), key: pk.rows.map((r) => r.attname) };
}

function exportLockKey(dataset: string): string {
  return `medallion:gold-export:${dataset}`;
}

/**
 * Writes every gold table of the dataset to the lake as `gold/<dataset>/<table>.parquet` (one
 * file per table, each replaced atomically by the lake's upload). The tables are read in one
 * REPEATABLE READ snapshot, so the files of one export are consistent with each other. Exports
 * of a dataset are serialized by an advisory lock and skipped when the lake already reflects the
 * latest refresh (`force` exports anyway): the last export to run always reads the newest state.
 */
export async function exportGold(deps: GoldExportDeps, scope: GoldScope, dataset: string, options: { force?: boolean } = {}): Promise<GoldExportResult | undefined> {
  const models = graphOf(scope).exportGroups().get(dataset);
  if (!models?.length) return undefined;
  return exportGroup(deps, dataset, models, options);
}

/** Exports every dataset folder that holds one of `tables` (the models a refresh wrote). */
export async function exportGoldGroups(deps: GoldExportDeps, graph: GoldGraph, tables: string[], options: { force?: boolean } = {}): Promise<GoldExportResult[]> {
  const out: GoldExportResult[] = [];
  for (const [dataset, models] of graph.exportGroups()) {
    if (!models.some((m) => tables.includes(m.table))) continue;
    const r = await exportGroup(deps, dataset, models, options);
    if (r) out.push(r);
  }
  return out;
}

async function exportGroup(deps: GoldExportDeps, dataset: string, models: PlannedModel[], options: { force?: boolean }): Promise<GoldExportResult> {
  const contract = { name: dataset };
  const t0 = Date.now();
  const scratch = deps.workRoot ?? path.join(os.tmpdir(), 'medallion');
  await mkdir(scratch, { recursive: true });
  const work = await mkdtemp(scratchPrefix(scratch, 'gold'));
  const db = await deps.pool.connect();
  try {
    const ready = await db.query<{ ok: boolean }>(`SELECT to_regclass('ops.gold_refreshes') IS NOT NULL AND to_regclass('ops.gold_exports') IS NOT NULL AS ok`);
    if (!ready.rows[0]?.ok) return { dataset: contract.name, files: [], refreshId: null, skipped: true, ms: Date.now() - t0 };
    let refreshId: string | null = null;
    // Busy time per phase; the phases overlap (PostgreSQL copies table n+1 while DuckDB converts
    // table n and the lake receives table n-1).
    const phasesMs = { read: 0, parquet: 0, upload: 0 };
    const files: GoldExportResult['files'] = [];
    const engine = deps.engine ?? { memoryLimit: '256MB', threads: 1, spillDir: path.join(scratch, 'spill') };
    let duck: Awaited<ReturnType<typeof openEngine>> | undefined;
    let converting: Promise<unknown> = Promise.resolve();
    const uploads: Promise<void>[] = [];
    try {
      // One export of a dataset at a time, with a transaction-scoped lock (right through PgBouncer
      // in transaction mode). The snapshot is taken with the lock: an export that waited reads
      // the state the previous one left, so the last export to run exports the newest state.
      for (;;) {
        await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        const got = await db.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok', [exportLockKey(contract.name)]);
        if (got.rows[0]?.ok) break;
        await db.query('ROLLBACK');
        await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      }
      try {
        await db.query("SET LOCAL TIME ZONE 'UTC'");
        await db.query("SET LOCAL DateStyle = 'ISO, YMD'");
        const state = await db.query<{ latest: string | null; exported: string | null }>(
          `SELECT (SELECT max(id) FROM ops.gold_refreshes WHERE models && $2::text[])::text AS latest,
                  (SELECT refresh_id FROM ops.gold_exports WHERE dataset = $1)::text AS exported`,
          [contract.name, models.map((m) => m.table)],
        );
        refreshId = state.rows[0]?.latest ?? null;
        const exported = state.rows[0]?.exported ?? null;
        if (refreshId === null || (!options.force && exported !== null && BigInt(exported) >= BigInt(refreshId))) {
          await db.query('COMMIT');
          return { dataset: contract.name, files: [], refreshId, skipped: true, ms: Date.now() - t0 };
        }
        duck = await openEngine(engine);
        const con = duck.con;
        for (const m of models) {
          let t = Date.now();
          const { columns, key } = await tableColumns(db, m.table);
          // No columns: no table (a model PostgreSQL refused before its table was ever made), nothing to export.
          if (!columns.length) continue;
          const select = columns.map((c) => (c.pgType === 'boolean' ? `CASE WHEN ${qi(c.name)} THEN 'true' WHEN NOT ${qi(c.name)} THEN 'false' END` : qi(c.name)));
          const csv = await copyToCsv(db, `SELECT ${select.join(', ')} FROM gold.${qi(m.table)}`, path.join(work, `${m.table}.csv`));
          const rows = csv.rows;
          const floats = columns.filter((c) => c.pgType === 'double precision' || c.pgType === 'real').map((c) => `(${qi(c.name)} = 0 AND ${qi(c.name)}::text LIKE '-%')`);
          const negativeZeros = floats.length > 0 && (await db.query<{ z: boolean }>(`SELECT EXISTS (SELECT 1 FROM gold.${qi(m.table)} WHERE ${floats.join(' OR ')}) AS z`)).rows[0]!.z;
          phasesMs.read += Date.now() - t;
          // Sorted by the primary key (in DuckDB: cheaper than in PostgreSQL), typed explicitly.
          const parquet = path.join(work, `${m.table}.parquet`);
          const types = columns.map((c): [string, string] => [c.name, duckTypeOf(c.pgType)]);
          const sql = `COPY (SELECT * FROM ${readPgCsv(csv, types)}${key.length ? ` ORDER BY ${key.map(qi).join(', ')}` : ''})
             TO ${literal(parquet)} (FORMAT PARQUET, COMPRESSION ZSTD${keepSignedZeros(negativeZeros)})`;
          converting = converting.then(async () => {
            t = Date.now();
            await con.run(sql);
            phasesMs.parquet += Date.now() - t;
          });
          converting.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
          uploads.push(
            converting.then(async () => {
              const u = Date.now();
              const lakePath = goldLakePath(contract.name, m.table);
              const written = await deps.lake.writeFile('gold', lakePath, parquet, {
                contentType: 'application/vnd.apache.parquet',
                metadata: { gold_refresh_id: refreshId ?? '', rows: String(rows) },
              });
              phasesMs.upload += Date.now() - u;
              files.push({ table: m.table, path: lakePath, rows, bytes: written.size });
            }),
          );
          uploads.at(-1)!.catch(() => undefined);
        }
        await converting;
        await Promise.all(uploads);
        await db.query(
          `INSERT INTO ops.gold_exports (dataset, refresh_id, exported_at) VALUES ($1, $2, now())
           ON CONFLICT (dataset) DO UPDATE SET refresh_id = greatest(ops.gold_exports.refresh_id, excluded.refresh_id), exported_at = now()`,
          [contract.name, refreshId],
        );
        await db.query('UPDATE ops.gold_refreshes SET export_ms = $2 WHERE id = $1', [refreshId, Date.now() - t0]);
        await db.query('COMMIT');
      } catch (e) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    } finally {
      // Let every started step settle before the engine closes and the work folder goes.
      await Promise.allSettled([converting, ...uploads]);
      duck?.close();
    }
    files.sort((a, b) => a.table.localeCompare(b.table));
    const ms = Date.now() - t0;
    deps.log?.info('medallion.gold_export', { dataset: contract.name, refresh_id: refreshId, tables: files.length, duration_ms: ms });
    return { dataset: contract.name, files, refreshId, skipped: false, ms, phasesMs };
  } finally {
    db.release();
    await rm(work, { recursive: true, force: true });
  }
}
