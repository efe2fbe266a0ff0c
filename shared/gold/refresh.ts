import path from 'node:path';
import type pg from 'pg';
import { type Env, goldShowPii } from '../config';
import type { Contract } from '../contracts/contract';
import { qi } from '../db/schema';
import { supersededTable } from '../db/silverLoad';
import { lockKey as datasetLockKey } from '../pipeline/locks';
import type { EngineOptions } from '../engine/transform';
import { buildModel, closeExtracts, inputRef, type MaintainContext, refreshModel, silverSource } from './maintain';
import { withSettings } from './settings';

export { withSettings };
import { type GoldGraph, goldGraph, GoldModelError, type PlannedModel } from './models';
import { ensureGold, markBuilt } from './schema';
import { GOLD_STEPS, type StepFile } from './steps';

export { datasetLockKey };

export interface GoldRefreshResult {
  /** The dataset whose runs triggered the refresh ('*' for a full rebuild of every model). */
  dataset: string;
  mode: 'incremental' | 'full';
  /** ops.gold_refreshes.id */
  refreshId: string;
  runIds: string[];
  /** The models whose rows this refresh wrote. */
  models: string[];
  /** New silver rows the refresh read (incremental), or 0 for a full rebuild. */
  rowsIn: number;
  ms: number;
  sectionsMs: Record<string, number>;
  /** Files the refresh's steps want in the lake once it has committed (writeStepFiles). */
  files: StepFile[];
  /** Models left as they were because their file is broken (one line each, naming the file). */
  broken?: string[];
}

export interface GoldRunOptions {
  /** Settings source (default process.env): GOLD_SHOW_PII → the SQL setting medallion.gold_show_pii. */
  env?: Env;
  /** DuckDB settings for the distinct sets (default: a small in-process engine). */
  engine?: EngineOptions;
}

/** What the caller of an incremental refresh knows of the one run it applies. */
export interface RunInput {
  /** The run's silver Parquet files, local, from which its silver rows were just loaded. */
  silverFiles?: string[];
}

/** Contracts, a registry, or a ready graph: what the refresh functions accept. */
export type GoldScope = GoldGraph | readonly Contract[] | { all(): Contract[] };

export function graphOf(scope: GoldScope): GoldGraph {
  if ('models' in scope && 'downstreamOf' in scope) return scope as GoldGraph;
  return goldGraph('all' in scope && typeof scope.all === 'function' ? scope.all() : (scope as readonly Contract[]));
}

export const GOLD_SETTINGS = { work_mem: '64MB' };
/**
 * After a file, every statement touches the keys of that file: read state and gold through their
 * primary keys, never by scanning them (a scan grows with history; the planner's row estimates for
 * the per-file temp tables can make it pick one). A statement with no usable index still scans.
 */
const INCREMENTAL_SETTINGS = { enable_seqscan: 'off' };
/** Full builds and recomputes read whole inputs: scans are right there. */
const SCAN_ALLOWED = { enable_seqscan: 'on' };
/** A full rebuild sorts and hashes all of silver: more memory per sort. */
export const FULL_SETTINGS = { work_mem: '256MB', maintenance_work_mem: '256MB' };

/** What every model can read with current_setting(): platform settings models depend on. */
export function goldSqlSettings(options: GoldRunOptions = {}): Record<string, string> {
  return { 'medallion.gold_show_pii': goldShowPii(options.env ?? process.env) ? 'true' : 'false' };
}

/** Sets the platform settings for the rest of the transaction, unless the caller already set them. */
async function applySqlSettings(db: pg.PoolClient, options: GoldRunOptions): Promise<void> {
  for (const [name, value] of Object.entries(goldSqlSettings(options))) {
    await db.query(`SELECT set_config($1, $2, true) WHERE coalesce(current_setting($1, true), '') = ''`, [name, value]);
  }
}

/** Local buffers for temp tables can only be sized before a session's first temp table. */
async function sizeTempBuffers(db: pg.PoolClient): Promise<void> {
  // PostgreSQL refuses the change once the session has touched a temp table, even in a transaction
  // that rolled back; the block swallows that refusal (a subtransaction) so the caller's goes on.
  await db.query(`DO $$ BEGIN PERFORM set_config('temp_buffers', '64MB', false); EXCEPTION WHEN OTHERS THEN NULL; END $$`);
}

/** The models `m` reads, directly or through other models. */
function ancestors(graph: GoldGraph, m: PlannedModel): string[] {
  const out = new Set<string>();
  const visit = (t: string) => {
    for (const r of graph.get(t)?.reads.models ?? []) if (!out.has(r)) (out.add(r), visit(r));
  };
  visit(m.table);
  return [...out];
}

/** One refresh of a model at a time: transaction-scoped locks, taken in dependency order (no cycles). */
async function lockModels(db: pg.PoolClient, models: PlannedModel[]): Promise<void> {
  for (const m of models) await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`medallion:gold-model:${m.table}`]);
}

/** Whether some reader maintains itself from this model's changed rows. */
function changesNeeded(graph: GoldGraph, m: PlannedModel, targets: Set<string>): boolean {
  return m.readers.some((r) => {
    const p = graph.get(r)!.plan;
    return targets.has(r) && (p.kind === 'aggregate' || p.kind === 'keyed') && p.input.kind === 'model' && p.input.table === m.table;
  });
}

/** Silver columns a dataset's aggregate and rows models read (the run's rows carry only these). */
async function runRowsColumns(db: pg.PoolClient, table: string, models: PlannedModel[]): Promise<string[]> {
  const res = await db.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  // A latest or keyed model needs only its key columns from the run's rows (it reads every version itself).
  const text = models.map((m) => (m.plan.kind === 'latest' ? m.plan.inputKey.join(' ') : m.plan.kind === 'keyed' ? m.plan.columns.join(' ') : m.select.replace(/--[^\n]*/g, ' '))).join('\n').toLowerCase();
  return res.rows.map((r) => r.attname).filter((c) => c === 'ingestion_run_id' || new RegExp(`(^|[^a-z0-9_])${c}($|[^a-z0-9_])`).test(text));
}

async function record(db: pg.PoolClient, r: Omit<GoldRefreshResult, 'refreshId' | 'files'>, appliedDatasets: string[]): Promise<string> {
  const res = await db.query<{ id: string }>(
    `INSERT INTO ops.gold_refreshes (dataset, mode, run_ids, rows_in, tx_ms, sections_ms, models) VALUES ($1, $2, $3::uuid[], $4, $5, $6, $7::text[]) RETURNING id`,
    [r.dataset, r.mode, r.runIds, r.rowsIn, r.ms, JSON.stringify(r.sectionsMs), r.models],
  );
  const id = res.rows[0]!.id;
  // Everything in silver now is reflected for these datasets: every succeeded run so far, plus the
  // runs of the current transaction (a file whose ledger row is completed after this hook).
  for (const d of appliedDatasets) {
    await db.query(
      `INSERT INTO ops.gold_applied_runs (dataset, run_id, refresh_id)
       SELECT $1::text, run_id, $2::bigint FROM ops.file_runs WHERE dataset = $1 AND status = 'succeeded'
       UNION SELECT $1::text, unnest($3::uuid[]), $2::bigint
       ON CONFLICT DO NOTHING`,
      [d, id, r.dataset === d ? r.runIds : []],
    );
  }
  if (r.mode === 'incremental' && r.runIds.length && !appliedDatasets.includes(r.dataset)) {
    await db.query(`INSERT INTO ops.gold_applied_runs (dataset, run_id, refresh_id) SELECT $1::text, unnest($2::uuid[]), $3::bigint ON CONFLICT DO NOTHING`, [r.dataset, r.runIds, id]);
  }
  return id;
}

function context(db: pg.PoolClient, graph: GoldGraph, options: GoldRunOptions): MaintainContext {
  return { db, runRows: new Map(), changed: new Map(), timings: {}, datasetTable: (d) => graph.datasetTable(d), recomputeAll: new Set(), engine: options.engine };
}

/** Runs the steps that follow a model that was just written or rebuilt (same transaction). */
async function runSteps(ctx: MaintainContext, table: string, files: StepFile[]): Promise<void> {
  for (const step of GOLD_STEPS.filter((s) => s.after === table)) {
    const t = Date.now();
    const out = await step.run(ctx.db);
    ctx.timings[`${step.name}.step`] = Date.now() - t;
    files.push(...out.files);
  }
}

async function dropTemps(db: pg.PoolClient): Promise<void> {
  const res = await db.query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r' AND relname ~ '^(run_rows|chg|d|new|pop|probe|keys|full)__'`);
  if (res.rows.length) await db.query(`DROP TABLE IF EXISTS ${res.rows.map((r) => `pg_temp.${qi(r.relname)}`).join(', ')}`);
}

/**
 * A staging load that took lines away from records (a file's new version removed a line, or a line
 * now holds another record) left their keys in pg_temp.superseded__<dataset>: those records are
 * recomputed too. A latest or keyed model reads only the keys of the run's rows, so they are added
 * to them; any other model reading the dataset is recomputed in full.
 */
async function addSuperseded(db: pg.PoolClient, ctx: MaintainContext, dataset: string, direct: PlannedModel[]): Promise<void> {
  const sup = `pg_temp.${qi(supersededTable(dataset))}`;
  const found = await db.query<{ n: string | null }>(`SELECT CASE WHEN to_regclass($1) IS NOT NULL THEN 'yes' END AS n`, [sup]);
  if (!found.rows[0]?.n || !(await db.query(`SELECT 1 FROM ${sup} LIMIT 1`)).rowCount) return;
  const keyed = direct.every((m) => m.plan.kind === 'latest' || m.plan.kind === 'keyed');
  if (!keyed) {
    for (const m of direct) ctx.recomputeAll.add(m.table);
    return;
  }
  const cols = (await db.query<{ attname: string }>(`SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [sup])).rows.map((r) => r.attname);
  const runRows = ctx.runRows.get(dataset)!;
  const shared = (await db.query<{ attname: string }>(`SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, [runRows])).rows.map((r) => r.attname).filter((c) => cols.includes(c));
  await db.query(`INSERT INTO ${runRows} (${shared.map(qi).join(', ')}) SELECT ${shared.map(qi).join(', ')} FROM ${sup}`);
}

/** Each target in order: built in full (never built), or refreshed by its strategy when an input changed. */
async function refreshTargets(
  ctx: MaintainContext,
  graph: GoldGraph,
  targets: PlannedModel[],
  full: Set<string>,
  dataset: string,
  out: { written: string[]; files: StepFile[]; built: string[] },
): Promise<void> {
  const db = ctx.db;
  const targetNames = new Set(targets.map((m) => m.table));
  for (const m of targets) {
    if (full.has(m.table)) {
      await withSettings(db, SCAN_ALLOWED, () => buildModel(ctx, m, (i) => inputRef(i, graph)));
      out.built.push(m.table);
      out.written.push(m.table);
      await runSteps(ctx, m.table, out.files);
      continue;
    }
    const inputsChanged = m.reads.silver.includes(dataset) || m.reads.models.some((t) => ctx.changed.has(t));
    if (!inputsChanged) continue;
    const refresh = () => refreshModel(ctx, m, changesNeeded(graph, m, targetNames));
    if (await (m.plan.kind === 'recompute' ? withSettings(db, SCAN_ALLOWED, refresh) : refresh())) {
      out.written.push(m.table);
      await runSteps(ctx, m.table, out.files);
    }
  }
}

/**
 * Incremental refresh after runs of `dataset` landed in silver, inside the caller's transaction
 * (the caller holds the dataset lock): every model downstream of the dataset, in dependency
 * order, each by its strategy; models never built (new or edited) and their readers are built in
 * full instead.
 */
export async function refreshIncremental(db: pg.PoolClient, scope: GoldScope, dataset: string, runIds: string[], options: GoldRunOptions = {}, run: RunInput = {}): Promise<GoldRefreshResult | undefined> {
  const graph = graphOf(scope);
  const downstream = graph.downstreamOf([dataset]);
  if (!downstream.length || !runIds.length) return undefined;
  const t0 = Date.now();
  const { unbuilt, broken } = await ensureGold(db, graph);
  const hits = downstream.filter((m) => broken.has(m.table));
  if (hits.length) {
    // The first one's message; the others named, so they are fixed in one go.
    const others = hits.slice(1).map((m) => path.basename(m.file));
    throw new GoldModelError(`${broken.get(hits[0]!.table)!.split('\n')[0]}${others.length ? ` (also broken: ${others.join(', ')}: see medallion gold models)` : ''}`);
  }
  // Built in full here: the models this file feeds that were never built, the never-built models
  // they read, and what reads those. A model this file does not feed waits for its own inputs.
  const relevant = new Set(downstream.flatMap((m) => [m.table, ...ancestors(graph, m)]));
  const full = new Set(graph.closure([...unbuilt].filter((t) => relevant.has(t))).map((m) => m.table));
  const targets = graph.models.filter((m) => full.has(m.table) || downstream.includes(m));
  await lockModels(db, targets);
  await sizeTempBuffers(db);
  await dropTemps(db);
  await applySqlSettings(db, options);
  const ctx = context(db, graph, options);
  ctx.dataset = dataset;
  // The distinct sets may read the run's values from its own Parquet (distinctSets.ts, RunExtract).
  if (runIds.length === 1 && run.silverFiles?.length) ctx.runParquet = { dataset, files: run.silverFiles };
  ctx.timings.ensure = Date.now() - t0;
  let rowsIn = 0;
  const direct = downstream.filter((m) => !full.has(m.table) && m.plan.kind !== 'recompute' && m.reads.silver.includes(dataset));
  if (direct.length) {
    const t = Date.now();
    const table = graph.datasetTable(dataset);
    const cols = (await runRowsColumns(db, table, direct)).map(qi).join(', ');
    const res = await db.query(`CREATE TEMP TABLE ${qi(`run_rows__${dataset}`)} ON COMMIT DROP AS SELECT ${cols} FROM ${table} WHERE ingestion_run_id = ANY($1::uuid[])`, [runIds]);
    rowsIn = res.rowCount ?? 0;
    ctx.runRows.set(dataset, `pg_temp.${qi(`run_rows__${dataset}`)}`);
    await addSuperseded(db, ctx, dataset, direct);
    ctx.timings.run_rows = Date.now() - t;
  } else {
    // Only recomputed models read the dataset: the runs' rows are counted for the record.
    const n = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${graph.datasetTable(dataset)} WHERE ingestion_run_id = ANY($1::uuid[])`, [runIds]);
    rowsIn = Number(n.rows[0]!.n);
  }
  const written: string[] = [];
  const files: StepFile[] = [];
  const built: string[] = [];
  ctx.prefetch = {
    models: targets.filter((m) => !full.has(m.table) && !ctx.recomputeAll.has(m.table)),
    source: silverSource((d) => ctx.runRows.get(d)),
  };
  try {
    await withSettings(db, { ...GOLD_SETTINGS, ...INCREMENTAL_SETTINGS }, () => refreshTargets(ctx, graph, targets, full, dataset, { written, files, built }));
  } finally {
    await closeExtracts(ctx);
  }
  await markBuilt(db, built);
  await dropTemps(db);
  const ms = Date.now() - t0;
  const result = { dataset, mode: 'incremental' as const, runIds, models: written, rowsIn, ms, sectionsMs: ctx.timings, files };
  // A model built in full reflects every run of what it reads: recorded, so no run is applied twice.
  const refreshId = await record(db, result, [...new Set(built.flatMap((t) => graph.get(t)!.reads.silver))]);
  return { ...result, refreshId };
}

/**
 * Full rebuild, inside the caller's transaction: the models downstream of `datasets` (all models
 * when omitted), in dependency order. `runIds`: runs of the current transaction to record as applied.
 */
export async function rebuildInTransaction(db: pg.PoolClient, scope: GoldScope, datasets?: string[], runIds: string[] = [], options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const graph = graphOf(scope);
  const wanted = datasets ? graph.downstreamOf(datasets) : graph.models;
  if (!wanted.length) return undefined;
  const t0 = Date.now();
  const { broken } = await ensureGold(db, graph);
  // A broken model (and what reads it) is left as it was; the others are rebuilt. Reported.
  const targets = wanted.filter((m) => !broken.has(m.table));
  await lockModels(db, targets);
  await dropTemps(db);
  await applySqlSettings(db, options);
  const ctx = context(db, graph, options);
  ctx.timings.ensure = Date.now() - t0;
  const files: StepFile[] = [];
  // One read of each silver input serves the distinct sets of every model over it (a model's
  // input, unlike silver, may change during the rebuild).
  ctx.prefetch = { models: targets, source: silverSource((d) => inputRef({ kind: 'silver', dataset: d }, graph)) };
  try {
    await withSettings(db, FULL_SETTINGS, async () => {
      for (const m of targets) {
        await buildModel(ctx, m, (i) => inputRef(i, graph));
        await runSteps(ctx, m.table, files);
      }
    });
  } finally {
    await closeExtracts(ctx);
  }
  await markBuilt(db, targets.map((m) => m.table));
  await dropTemps(db);
  const ms = Date.now() - t0;
  const applied = datasets ?? [...new Set(targets.flatMap((m) => m.reads.silver))];
  const result = { dataset: datasets?.length === 1 ? datasets[0]! : '*', mode: 'full' as const, runIds, models: targets.map((m) => m.table), rowsIn: 0, ms, sectionsMs: ctx.timings, files };
  const refreshId = await record(db, result, applied);
  const skipped = wanted.filter((m) => broken.has(m.table)).map((m) => broken.get(m.table)!);
  return { ...result, refreshId, ...(skipped.length ? { broken: skipped } : {}) };
}

/** Runs `fn` in its own transaction holding the locks of `datasets` (sorted: no lock-order cycles). */
export async function withDatasetTransaction<T>(pool: pg.Pool, datasets: string | string[], fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    try {
      await db.query("SET LOCAL TIME ZONE 'UTC'");
      for (const d of [...new Set([datasets].flat())].sort()) await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [datasetLockKey(d)]);
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

/** Full rebuild in its own transaction, under the locks of every dataset the rebuilt models read. */
export async function rebuildGold(pool: pg.Pool, scope: GoldScope, datasets?: string[], options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const graph = graphOf(scope);
  const targets = datasets ? graph.downstreamOf(datasets) : graph.models;
  if (!targets.length) return undefined;
  const read = [...new Set(targets.flatMap((m) => m.reads.silver))];
  return withDatasetTransaction(pool, read, (db) => rebuildInTransaction(db, graph, datasets, [], options));
}

/**
 * Applies the runs of `dataset` that landed in silver without gold (hooks disabled, gold deployed
 * later...): succeeded runs not in ops.gold_applied_runs.
 */
export async function refreshPending(pool: pg.Pool, scope: GoldScope, dataset: string, options: GoldRunOptions = {}): Promise<GoldRefreshResult | undefined> {
  const graph = graphOf(scope);
  if (!graph.downstreamOf([dataset]).length) return undefined;
  return withDatasetTransaction(pool, dataset, async (db) => {
    const { unbuilt } = await ensureGold(db, graph);
    if (graph.downstreamOf([dataset]).some((m) => unbuilt.has(m.table))) return rebuildInTransaction(db, graph, [dataset], [], options);
    const pending = await db.query<{ run_id: string }>(
      `SELECT f.run_id FROM ops.file_runs f
       WHERE f.dataset = $1 AND f.status = 'succeeded' AND f.redelivery_of IS NULL -- a re-delivery added no row
         AND NOT EXISTS (SELECT 1 FROM ops.gold_applied_runs a WHERE a.dataset = $1 AND a.run_id = f.run_id)
       ORDER BY f.finished_at`,
      [dataset],
    );
    const runIds = pending.rows.map((r) => r.run_id);
    if (!runIds.length) return undefined;
    return refreshIncremental(db, graph, dataset, runIds, options);
  });
}
