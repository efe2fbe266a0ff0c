import type pg from 'pg';
import { type Env, goldShowPii } from '../config';
import type { Contract } from '../contracts/contract';
import { qi, silverTable } from '../db/schema';
import { type GoldModel, GoldModelError, goldModels } from './models';
import { ensureGold } from './schema';

export { lockKey as datasetLockKey } from '../pipeline/locks';
import { lockKey as datasetLockKey } from '../pipeline/locks';

export interface GoldRefreshResult {
  dataset: string;
  mode: 'incremental' | 'full';
  /** ops.gold_refreshes.id */
  refreshId: string;
  runIds: string[];
  /** Silver rows the refresh read: the runs' rows (incremental) or all of silver (full). */
  rowsIn: number;
  /** Time inside the transaction. */
  ms: number;
  sectionsMs: Record<string, number>;
}

async function tempTables(db: pg.PoolClient): Promise<Set<string>> {
  const res = await db.query<{ relname: string }>(
    `SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind IN ('r', 'p')`,
  );
  return new Set(res.rows.map((r) => r.relname));
}

/** Runs one section of a model; drops the temp tables it created when it ends. */
async function runSection(db: pg.PoolClient, model: GoldModel, section: 'full' | 'incremental' | 'finalize', timings: Record<string, number>): Promise<void> {
  const sql = model[section];
  if (!sql) return;
  const before = await tempTables(db);
  const t = Date.now();
  try {
    await db.query(sql);
  } catch (e) {
    const err = new GoldModelError(`gold model ${model.table}: -- @${section} failed: ${e instanceof Error ? e.message : String(e)}`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
  timings[`${model.table}.${section}`] = Date.now() - t;
  const created = [...(await tempTables(db))].filter((n) => !before.has(n));
  if (created.length) await db.query(`DROP TABLE IF EXISTS ${created.map((n) => `pg_temp.${qi(n)}`).join(', ')}`);
}

/** gold_clock: the deterministic "now" = the newest value of the dataset's range column in silver. */
async function createClock(db: pg.PoolClient, contract: Contract): Promise<void> {
  await db.query('DROP TABLE IF EXISTS pg_temp.gold_clock');
  await db.query(
    `CREATE TEMP TABLE gold_clock ON COMMIT DROP AS
     SELECT max(${qi(contract.rangeColumn)}) AS now_ts, (max(${qi(contract.rangeColumn)}) AT TIME ZONE 'UTC')::date AS now_date
     FROM ${silverTable(contract)}`,
  );
  await db.query('ANALYZE gold_clock'); // one row: let the planner know (joins against it stay cheap)
}

async function dropFrameworkTemps(db: pg.PoolClient): Promise<void> {
  await db.query('DROP TABLE IF EXISTS pg_temp.gold_clock, pg_temp.gold_runs, pg_temp.run_rows');
}

async function record(
  db: pg.PoolClient,
  dataset: string,
  mode: 'incremental' | 'full',
  runIds: string[],
  rowsIn: number,
  ms: number,
  sectionsMs: Record<string, number>,
): Promise<string> {
  const res = await db.query<{ id: string }>(
    `INSERT INTO ops.gold_refreshes (dataset, mode, run_ids, rows_in, tx_ms, sections_ms) VALUES ($1, $2, $3::uuid[], $4, $5, $6) RETURNING id`,
    [dataset, mode, runIds, rowsIn, ms, JSON.stringify(sectionsMs)],
  );
  const id = res.rows[0]!.id;
  if (mode === 'full') {
    // Everything in silver now is reflected: every succeeded run so far, plus the runs of the
    // current transaction (a file whose ledger row is completed after this hook).
    await db.query(
      `INSERT INTO ops.gold_applied_runs (dataset, run_id, refresh_id)
       SELECT $1::text, run_id, $2::bigint FROM ops.file_runs WHERE dataset = $1 AND status = 'succeeded'
       UNION SELECT $1::text, unnest($3::uuid[]), $2::bigint
       ON CONFLICT DO NOTHING`,
      [dataset, id, runIds],
    );
  } else if (runIds.length) {
    await db.query(`INSERT INTO ops.gold_applied_runs (dataset, run_id, refresh_id) SELECT $1::text, unnest($2::uuid[]), $3::bigint ON CONFLICT DO NOTHING`, [dataset, runIds, id]);
  }
  return id;
}

/**
 * Full rebuild of a dataset's gold tables from silver, inside the caller's transaction (the caller
 * holds the dataset lock). `runIds`: runs of the current transaction to record as applied.
 */
export async function rebuildInTransaction(db: pg.PoolClient, contract: Contract, runIds: string[] = [], options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const models = goldModels(contract.name);
  if (!models.length) return undefined;
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  await ensureGold(db, contract.name, models);
  timings.ensure = Date.now() - t0;
  await createClock(db, contract);
  await applySqlSettings(db, options);
  await withSettings(db, FULL_SETTINGS, async () => {
    for (const m of models) await runSection(db, m, 'full', timings);
    for (const m of models) await runSection(db, m, 'finalize', timings);
  });
  await db.query(`UPDATE ops.gold_models SET built_at = now() WHERE dataset = $1`, [contract.name]);
  const count = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${silverTable(contract)}`);
  const rowsIn = Number(count.rows[0]?.n ?? 0);
  await dropFrameworkTemps(db);
  const ms = Date.now() - t0;
  const refreshId = await record(db, contract.name, 'full', runIds, rowsIn, ms, timings);
  return { dataset: contract.name, mode: 'full', refreshId, runIds, rowsIn, ms, sectionsMs: timings };
}

/**
 * Runs `fn` with transaction-local settings, restored afterwards (the caller's transaction goes on).
 * Gold refreshes get `work_mem` for their sorts and hashes; the incremental sections also run with
 * `enable_seqscan = off`, so silver is read through its indexes even when its statistics lag
 * behind the load that just happened (a statement with no usable index still gets its scan).
 */
export async function withSettings<T>(db: pg.PoolClient, settings: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const names = Object.keys(settings);
  const prev = await db.query<Record<string, string | null>>(`SELECT ${names.map((n, i) => `current_setting($${i + 1}, true) AS ${qi(n)}`).join(', ')}`, names);
  for (const n of names) await db.query(`SELECT set_config($1, $2, true)`, [n, settings[n]]);
  // Restored only on success: after an error the transaction is aborted (any statement would
  // fail and hide the real error) and rolls the settings back anyway.
  const out = await fn();
  for (const n of names) await db.query(`SELECT set_config($1, $2, true)`, [n, prev.rows[0]![n] ?? '']);
  return out;
}

export const GOLD_SETTINGS = { work_mem: '64MB' };
/** @incremental sections: read silver through its indexes (see withSettings). */
const INCREMENTAL_SETTINGS = { enable_seqscan: 'off' };
/** A full rebuild sorts and hashes all of silver: more memory per sort, once a night. */
export const FULL_SETTINGS = { work_mem: '256MB', maintenance_work_mem: '256MB' };

export interface GoldRunOptions {
  /** Settings source (default process.env): GOLD_SHOW_PII → the SQL setting medallion.gold_show_pii. */
  env?: Env;
}

/** What every section can read with current_setting(): platform settings models depend on. */
export function goldSqlSettings(options: GoldRunOptions = {}): Record<string, string> {
  return { 'medallion.gold_show_pii': goldShowPii(options.env ?? process.env) ? 'true' : 'false' };
}

/** Sets the platform settings for the rest of the transaction, unless the caller already set them. */
async function applySqlSettings(db: pg.PoolClient, options: GoldRunOptions): Promise<void> {
  for (const [name, value] of Object.entries(goldSqlSettings(options))) {
    await db.query(`SELECT set_config($1, $2, true) WHERE coalesce(current_setting($1, true), '') = ''`, [name, value]);
  }
}

/**
 * The silver columns run_rows carries: those named in the dataset's @incremental sections (plus
 * ingestion_run_id). Copying only these keeps the copy cheap: silver rows are wide.
 */
async function runRowsColumns(db: pg.PoolClient, contract: Contract, models: GoldModel[]): Promise<string[]> {
  const res = await db.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [silverTable(contract)],
  );
  const text = models.map((m) => m.incremental.replace(/--[^\n]*/g, ' ')).join('\n').toLowerCase();
  const used = res.rows.map((r) => r.attname).filter((c) => c === 'ingestion_run_id' || new RegExp(`(^|[^a-z0-9_])${c}($|[^a-z0-9_])`).test(text));
  return used;
}

/** Local buffers for temp tables can only be sized before a session's first temp table. */
async function sizeTempBuffers(db: pg.PoolClient): Promise<void> {
  const res = await db.query<{ fresh: boolean }>(`SELECT pg_my_temp_schema() = 0 AS fresh`);
  if (res.rows[0]?.fresh) await db.query(`SELECT set_config('temp_buffers', '64MB', false)`);
}

/**
 * Incremental refresh for the silver rows of `runIds`, inside the caller's transaction (the
 * caller holds the dataset lock): every model's `@incremental`, then every `@finalize`.
 * Falls back to a full rebuild when a model has never been built and silver holds older rows.
 */
export async function refreshIncremental(db: pg.PoolClient, contract: Contract, runIds: string[], options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const models = goldModels(contract.name);
  if (!models.length || !runIds.length) return undefined;
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const { needsBuild } = await ensureGold(db, contract.name, models);
  if (needsBuild) {
    // Tables just created: the incremental path equals a full build only if silver holds nothing else.
    const other = await db.query<{ x: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${silverTable(contract)} WHERE NOT (ingestion_run_id = ANY($1::uuid[]))) AS x`,
      [runIds],
    );
    if (other.rows[0]?.x) return rebuildInTransaction(db, contract, runIds, options);
  }
  timings.ensure = Date.now() - t0;

  const t = Date.now();
  await sizeTempBuffers(db);
  await dropFrameworkTemps(db);
  await createClock(db, contract);
  await db.query('CREATE TEMP TABLE gold_runs (run_id uuid PRIMARY KEY) ON COMMIT DROP');
  await db.query('INSERT INTO gold_runs SELECT DISTINCT unnest($1::uuid[])', [runIds]);
  const cols = (await runRowsColumns(db, contract, models)).map(qi).join(', ');
  await db.query(`CREATE TEMP TABLE run_rows ON COMMIT DROP AS SELECT ${cols} FROM ${silverTable(contract)} WITH NO DATA`);
  await applySqlSettings(db, options);
  const rowsIn = await withSettings(db, { ...GOLD_SETTINGS, ...INCREMENTAL_SETTINGS }, async () => {
    const res = await db.query(`INSERT INTO run_rows SELECT ${cols} FROM ${silverTable(contract)} WHERE ingestion_run_id = ANY($1::uuid[])`, [runIds]);
    timings.run_rows = Date.now() - t;
    if (res.rowCount) for (const m of models) await runSection(db, m, 'incremental', timings);
    return res.rowCount ?? 0;
  });
  if (rowsIn > 0) {
    await withSettings(db, GOLD_SETTINGS, async () => {
      for (const m of models) await runSection(db, m, 'finalize', timings);
    });
  }
  if (needsBuild) await db.query(`UPDATE ops.gold_models SET built_at = now() WHERE dataset = $1`, [contract.name]);
  await dropFrameworkTemps(db);
  const ms = Date.now() - t0;
  const refreshId = await record(db, contract.name, 'incremental', runIds, rowsIn, ms, timings);
  return { dataset: contract.name, mode: 'incremental', refreshId, runIds, rowsIn, ms, sectionsMs: timings };
}

/** Runs `fn` in its own transaction holding the dataset lock (never interleaves with a file load). */
export async function withDatasetTransaction<T>(pool: pg.Pool, dataset: string, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    try {
      await db.query("SET LOCAL TIME ZONE 'UTC'");
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [datasetLockKey(dataset)]);
      const out = await fn(db);
      await db.query('COMMIT');
      return out;
    } catch (e) {
      await db.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } finally {
    db.release();
  }
}

/** Full rebuild in its own transaction under the dataset lock. */
export async function rebuildGold(pool: pg.Pool, contract: Contract, options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  if (!goldModels(contract.name).length) return undefined;
  return withDatasetTransaction(pool, contract.name, (db) => rebuildInTransaction(db, contract, [], options));
}

/**
 * Applies the runs that landed in silver without gold (hooks disabled, gold deployed later...):
 * succeeded runs of the dataset not in ops.gold_applied_runs. Builds in full when gold never was.
 */
export async function refreshPending(pool: pg.Pool, contract: Contract, options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const models = goldModels(contract.name);
  if (!models.length) return undefined;
  return withDatasetTransaction(pool, contract.name, async (db) => {
    const { needsBuild } = await ensureGold(db, contract.name, models);
    if (needsBuild) return rebuildInTransaction(db, contract, [], options);
    const pending = await db.query<{ run_id: string }>(
      `SELECT f.run_id FROM ops.file_runs f
       WHERE f.dataset = $1 AND f.status = 'succeeded'
         AND NOT EXISTS (SELECT 1 FROM ops.gold_applied_runs a WHERE a.dataset = $1 AND a.run_id = f.run_id)
       ORDER BY f.finished_at`,
      [contract.name],
    );
    const runIds = pending.rows.map((r) => r.run_id);
    if (!runIds.length) return undefined;
    return refreshIncremental(db, contract, runIds, options);
  });
}
