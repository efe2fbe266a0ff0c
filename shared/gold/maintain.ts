import type pg from 'pg';
import { qi } from '../db/schema';
import type { PlannedModel } from './models';
import { GoldModelError } from './models';
import type { Aggregate, AggregatePlan, Input, KeyedPlan, LatestPlan, RowsPlan } from './plan';
import { replaceTableRef } from './sqlText';
import { KEY_LOOKUP, withSettings } from './settings';
import { applyCounts, columnarTypes, createStore, isColumnarStore, MASK_BITS, maintainSets, RunExtract, type RunParquet, type SetSource, type SetWork, sourceTypes } from './distinctSets';
import type { EngineOptions } from '../engine/transform';
import { duckdbOutOfMemory } from '../pipeline/failures';

/**
 * The SQL each strategy runs (shared/gold/README.md): a full build from the model's inputs, and
 * the incremental refresh from what changed (a silver dataset's new rows in `run_rows__<dataset>`,
 * another model's changed rows in `chg__<model>` with a weight column `__w`: −1 old, +1 new).
 */

type Db = pg.PoolClient;

/** What a refresh knows while it walks the models. */
export interface MaintainContext {
  db: Db;
  /** Temp table with the new silver rows of a dataset, when this refresh applies runs of it. */
  runRows: Map<string, string>;
  /** Models whose rows changed in this refresh; the value is their change table, when one was kept. */
  changed: Map<string, string | undefined>;
  /** The table a dataset's rows are in (GoldGraph.datasetTable). */
  datasetTable: (dataset: string) => string;
  /** The dataset whose runs this incremental refresh applies. */
  dataset?: string;
  /** Models to recompute in full whatever their strategy (their input lost rows in this refresh). */
  recomputeAll: Set<string>;
  timings: Record<string, number>;
  /** DuckDB settings for the distinct sets (distinctSets.ts); default a small in-process engine. */
  engine?: EngineOptions;
  /**
   * Models whose columnar sets share one read of their source, and that source per model (the
   * run's rows in an incremental refresh, the whole silver input in a full rebuild).
   */
  prefetch?: { models: PlannedModel[]; source: (m: PlannedModel) => string | undefined };
  /** The run extracts made so far (per source), closed by the refresh. */
  extracts?: Map<string, RunExtract>;
  /** The run's own silver Parquet (local files) when the refresh applies one run of `dataset` that the process just loaded. */
  runParquet?: { dataset: string; files: string[] };
}

export function modelRef(m: Pick<PlannedModel, 'schema' | 'table'>): string {
  return `${m.schema}.${qi(m.table)}`;
}

export function stateTable(m: PlannedModel, what: string): string {
  return `gold_state.${qi(`${m.table}__${what}`)}`;
}

/**
 * An internal aggregate model is a view over its state (gold_state.<table>__agg): nothing reads it
 * but other models, so its rows need not be written twice.
 */
export function viewBacked(m: PlannedModel): boolean {
  return m.schema === 'gold_state' && m.plan.kind === 'aggregate';
}

export interface TableShape {
  columns: string[];
  key: string[];
  nullable: Set<string>;
}

/** Columns, primary key and nullable columns of a gold table. */
export async function tableShape(db: Db, ref: string): Promise<TableShape> {
  const cols = await db.query<{ attname: string; notnull: boolean }>(
    `SELECT attname, attnotnull AS notnull FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [ref],
  );
  const pk = await db.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [ref],
  );
  return { columns: cols.rows.map((r) => r.attname), key: pk.rows.map((r) => r.attname), nullable: new Set(cols.rows.filter((r) => !r.notnull).map((r) => r.attname)) };
}

/** Columns of a temp table (what a SELECT produced). */
async function tempColumns(db: Db, name: string): Promise<string[]> {
  const res = await db.query<{ attname: string }>(
    `SELECT attname FROM pg_attribute WHERE attrelid = format('pg_temp.%I', $1::text)::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [name],
  );
  return res.rows.map((r) => r.attname);
}

export function inputRef(input: Input, graph: { get(t: string): PlannedModel | undefined; datasetTable(d: string): string }): string {
  if (input.kind === 'silver') return graph.datasetTable(input.dataset);
  return modelRef(graph.get(input.table)!);
}

const list = (cols: string[], prefix = '') => cols.map((c) => `${prefix}${qi(c)}`).join(', ');
const joinOn = (cols: string[], a: string, b: string) => cols.map((c) => `${a}.${qi(c)} = ${b}.${qi(c)}`).join(' AND ');
const filtered = (expr: string, filter?: string) => (filter ? `${expr} FILTER (WHERE ${filter})` : expr);
const and = (...conds: (string | undefined)[]) => conds.filter(Boolean).map((c) => `(${c})`).join(' AND ') || 'true';

/** State columns of one aggregate: its value and, for sum, the count of non-null inputs (sum of nothing is NULL). */
function stateColumns(a: Aggregate): string[] {
  return a.fn === 'sum' ? [a.column, `${a.column}n`] : [a.column];
}

/** Partial aggregates over plain rows (a full build, or new rows of an append-only dataset). */
function partials(a: Aggregate, full: boolean): string[] {
  switch (a.fn) {
    case 'count':
      return [filtered(a.arg ? `count(${a.arg})` : 'count(*)', a.filter)];
    case 'sum':
      return [filtered(`sum(${a.arg})`, a.filter), filtered(`count(${a.arg})`, a.filter)];
    case 'count_distinct':
      return [full ? filtered(`count(DISTINCT ${a.arg})`, a.filter) : '0::bigint'];
    default:
      return [filtered(`${a.fn}(${a.arg})`, a.filter)];
  }
}

/** Partial aggregates over weighted change rows (__w = −1 for an old row, +1 for a new one). */
function weightedPartials(a: Aggregate): string[] {
  const present = a.arg ? and(`${a.arg} IS NOT NULL`, a.filter) : and(a.filter);
  if (a.fn === 'count') return [`coalesce(sum(__w) FILTER (WHERE ${present}), 0)`];
  if (a.fn === 'sum') return [`sum((${a.arg}) * __w) FILTER (WHERE ${present})`, `coalesce(sum(__w) FILTER (WHERE ${present}), 0)`];
  throw new GoldModelError(`${a.fn}() cannot be applied to changed rows`);
}

/** How a delta merges into the state (t = state row, excluded = delta). */
function mergeExpr(a: Aggregate, col: string, state = 't', delta = 'excluded'): string {
  const t = `${state}.${col}`;
  const e = `${delta}.${col}`;
  switch (a.fn) {
    case 'count':
    case 'count_distinct':
      return `${t} + ${e}`;
    case 'sum':
      return col.endsWith('n') && col !== a.column ? `${t} + ${e}` : `CASE WHEN ${e} IS NULL THEN ${t} WHEN ${t} IS NULL THEN ${e} ELSE ${t} + ${e} END`;
    case 'min':
      return `least(${t}, ${e})`;
    case 'max':
      return `greatest(${t}, ${e})`;
    case 'bool_or':
      return `CASE WHEN ${e} IS NULL THEN ${t} WHEN ${t} IS NULL THEN ${e} ELSE ${t} OR ${e} END`;
    case 'bool_and':
      return `CASE WHEN ${e} IS NULL THEN ${t} WHEN ${t} IS NULL THEN ${e} ELSE ${t} AND ${e} END`;
  }
}

/** Creates the aggregate strategy's state tables (after the model's DDL). */
export async function createAggregateState(db: Db, m: PlannedModel, plan: AggregatePlan, input: string): Promise<void> {
  const alias = qi(plan.alias);
  const cols = plan.aggregates.flatMap((a) => partials(a, true).map((p, i) => `${p} AS ${stateColumns(a)[i]}`));
  const agg = stateTable(m, 'agg');
  // UNLOGGED: state is derived; a server crash empties it, which ensureGold detects (gold_state.alive) and rebuilds.
  await db.query(`CREATE UNLOGGED TABLE ${agg} AS SELECT ${list(plan.keys, `${alias}.`)}, ${[...cols, 'count(*) AS __rows'].join(', ')} FROM ${input} ${alias} GROUP BY ${list(plan.keys, `${alias}.`)} WITH NO DATA`);
  await db.query(`ALTER TABLE ${agg} ADD PRIMARY KEY (${list(plan.keys)})`);
  // A floating-point sum depends on the order rows are added: maintained per file it would drift
  // from a full rebuild in the last digits. Exact types only.
  const sums = plan.aggregates.filter((a) => a.fn === 'sum').map((a) => a.column);
  if (sums.length) {
    const floats = await db.query<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attname = ANY($2) AND atttypid IN ('float4'::regtype, 'float8'::regtype)`,
      [agg, sums],
    );
    const bad = plan.aggregates.find((a) => floats.rows.some((r) => r.attname === a.column));
    if (bad) throw new GoldModelError(`gold model ${m.file}: sum(${bad.arg}) adds floating-point values, which a per-file refresh cannot keep equal to a rebuild; sum an exact type instead, e.g. sum(round((${bad.arg})::numeric, 2))`);
  }
  for (const g of setGroups(m, plan)) {
    // Columnar segments when every key and the value have a canonical text, else a table of pairs per member.
    if (columnarTypes(await sourceTypes(db, setSource(plan, g.members, input)))) {
      await createStore(db, g.set);
      continue;
    }
    for (const { a, set } of g.tables) {
      await db.query(`CREATE UNLOGGED TABLE ${set} AS SELECT ${list(plan.keys, `${alias}.`)}, (${a.arg}) AS __v FROM ${input} ${alias} WITH NO DATA`);
      await db.query(`ALTER TABLE ${set} ADD PRIMARY KEY (${list([...plan.keys, '__v'])})`);
    }
  }
  if (viewBacked(m)) await replaceWithView(db, m, plan);
}

/** Swaps an internal model's table for a view over its state, keeping its column types and comments. */
async function replaceWithView(db: Db, m: PlannedModel, plan: AggregatePlan): Promise<void> {
  const cols = await db.query<{ attname: string; type: string; comment: string | null }>(
    `SELECT attname, format_type(atttypid, atttypmod) AS type, col_description(attrelid, attnum) AS comment
     FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [modelRef(m)],
  );
  const table = await db.query<{ comment: string | null }>(`SELECT obj_description($1::regclass, 'pg_class') AS comment`, [modelRef(m)]);
  const types = new Map(cols.rows.map((r) => [r.attname, r.type]));
  const missing = plan.outputs.filter((o) => !types.has(o.column)).map((o) => o.column);
  if (missing.length) throw new GoldModelError(`gold model ${m.file}: its -- @select produces ${missing.join(', ')}, which ${modelRef(m)} has no column for`);
  await db.query(`DROP TABLE ${modelRef(m)}`);
  await db.query(
    // Keys as they are (a cast would hide the state's primary key from the planner), the rest cast to the declared types.
    `CREATE VIEW ${modelRef(m)} AS SELECT ${plan.outputs.map((o) => (plan.keys.includes(o.column) && o.expr === o.column ? qi(o.column) : `CAST(${o.expr} AS ${types.get(o.column)}) AS ${qi(o.column)}`)).join(', ')} FROM ${stateTable(m, 'agg')} ${qi(plan.alias)}`,
  );
  if (table.rows[0]?.comment) await db.query(`COMMENT ON VIEW ${modelRef(m)} IS ${quoteLiteral(table.rows[0].comment)}`);
  for (const c of cols.rows) if (c.comment) await db.query(`COMMENT ON COLUMN ${modelRef(m)}.${qi(c.attname)} IS ${quoteLiteral(c.comment)}`);
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A count(DISTINCT) and its table of pairs when its set is not columnar. */
type IndexedSet = { a: Aggregate; set: string };

/**
 * The model's distinct sets: its count(DISTINCT x)s grouped by x (at most MASK_BITS a group). A
 * columnar group is one store, the first member's table name (`__set<i>`); otherwise each member
 * keeps its own indexed table of pairs (`tables`).
 */
interface SetGroup {
  members: Aggregate[];
  set: string;
  tables: IndexedSet[];
}

function setGroups(m: PlannedModel, plan: AggregatePlan): SetGroup[] {
  const byArg = new Map<string, Aggregate[][]>();
  for (const a of plan.aggregates.filter((x) => x.fn === 'count_distinct')) {
    const value = a.argColumn !== undefined ? `column ${a.argColumn}` : `expression ${a.arg}`;
    const chunks = byArg.get(value) ?? [[]];
    if (chunks.at(-1)!.length === MASK_BITS) chunks.push([]);
    chunks.at(-1)!.push(a);
    byArg.set(value, chunks);
  }
  return [...byArg.values()].flat().map((members) => {
    const tables = members.map((a) => ({ a, set: stateTable(m, `set${a.column.slice(3)}`) }));
    return { members, set: tables[0]!.set, tables };
  });
}

/** Where a set's pairs come from: the keys and the value over `<from> <alias>`, and each member's condition. */
function setSource(plan: AggregatePlan, members: Aggregate[], from: string): SetSource {
  const alias = qi(plan.alias);
  const column = members[0]!.argColumn;
  // A bare column written as the keys are: one column of the run extract when it is also a key elsewhere.
  const value = column !== undefined ? `${alias}.${qi(column)}` : `(${members[0]!.arg!})`;
  return {
    from: `${from} ${alias}`,
    keyExprs: plan.keys.map((k) => `${alias}.${qi(k)}`),
    valueExpr: value,
    members: members.map((a) => and(plan.where, a.filter, `${value} IS NOT NULL`)),
  };
}

/** Drops the run extracts a refresh made (its `finally`: nothing is left in the sets' engine). */
export async function closeExtracts(ctx: MaintainContext): Promise<void> {
  for (const x of ctx.extracts?.values() ?? []) await x.close(ctx.engine).catch(() => undefined);
}

/** The prefetch source of a model over silver (aggregates only): `rows(dataset)`. */
export function silverSource(rows: (dataset: string) => string | undefined): (m: PlannedModel) => string | undefined {
  return (m) => (m.plan.kind === 'aggregate' && m.plan.input.kind === 'silver' ? rows(m.plan.input.dataset) : undefined);
}

/**
 * One read of a source for the columnar sets of every model of `ctx.prefetch` over it (`<rows>
 * <alias>`), made when the first of them needs it; undefined when none of them reads `from`.
 */
async function runExtract(ctx: MaintainContext, from: string): Promise<RunExtract | undefined> {
  if (!ctx.prefetch) return undefined;
  ctx.extracts ??= new Map();
  let extract = ctx.extracts.get(from);
  if (!extract) {
    const sets: { src: SetSource; oids: number[] }[] = [];
    const readers = new Set<string>();
    for (const m of ctx.prefetch.models) {
      if (m.plan.kind !== 'aggregate') continue;
      const rows = ctx.prefetch.source(m);
      if (!rows) continue;
      for (const g of setGroups(m, m.plan)) {
        const src = setSource(m.plan, g.members, rows);
        if (src.from !== from || !(await isColumnarStore(ctx.db, g.set))) continue;
        const oids = await sourceTypes(ctx.db, src);
        if (columnarTypes(oids)) {
          sets.push({ src, oids });
          readers.add(m.file);
        }
      }
    }
    extract = new RunExtract(from, sets, [...readers]);
    ctx.extracts.set(from, extract);
  }
  if (extract.empty) return undefined;
  const t = Date.now();
  let read: Awaited<ReturnType<RunExtract['load']>>;
  try {
    read = await extract.load(ctx.db, ctx.engine, runParquet(ctx, from));
  } catch (e) {
    // One read serves the distinct counts of several models: the error names them all.
    const err = new GoldModelError(`gold model ${extract.readers.join(', ')}: reading the values of its count(DISTINCT …): ${e instanceof Error ? e.message : String(e)}`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
  if (read) {
    const label = read === 'postgres' ? 'run_extract' : `run_extract_${read}`;
    ctx.timings[label] = (ctx.timings[label] ?? 0) + Date.now() - t;
  }
  return extract;
}

/** The run's Parquet for an extract of the run's rows (`<run rows> <alias>`), when the refresh has it. */
function runParquet(ctx: MaintainContext, from: string): RunParquet | undefined {
  const rows = ctx.runParquet && ctx.runRows.get(ctx.runParquet.dataset);
  return rows && from.startsWith(`${rows} `) ? { files: ctx.runParquet!.files } : undefined;
}

/**
 * The pairs of the model's count(DISTINCT)s from `from` (all of them for a full build, else the
 * run's) in their columnar stores, in one DuckDB session; each set's count per key is written into
 * its column of `target` (the state table or the delta) in one UPDATE. Returns the sets it did not
 * handle: indexed tables of pairs, which the caller maintains in SQL.
 */
async function columnarSets(ctx: MaintainContext, m: PlannedModel, plan: AggregatePlan, from: string, target: string, full: boolean): Promise<IndexedSet[]> {
  const works: SetWork[] = [];
  const rest: IndexedSet[] = [];
  for (const g of setGroups(m, plan)) {
    if (!(await isColumnarStore(ctx.db, g.set))) {
      rest.push(...g.tables);
      continue;
    }
    const src = setSource(plan, g.members, from);
    const oids = await sourceTypes(ctx.db, src);
    if (!columnarTypes(oids)) throw new GoldModelError(`gold model ${m.file}: the types of count(DISTINCT ${g.members[0]!.arg}) changed since its state was built; rebuild it: medallion gold refresh --full`);
    const extract = await runExtract(ctx, src.from);
    works.push({ set: { table: g.set, keys: plan.keys }, pairs: extract ? { duck: extract.pairs(src, oids) } : { pg: src }, oids, columns: g.members.map((a) => a.column) });
  }
  if (!works.length) return rest;
  // Timed after the run's read (run_extract, above), which is timed on its own.
  await timed(ctx, `${m.table}:${full ? 'full_sets' : 'sets'}`, async () => {
    try {
      const counts = await maintainSets(ctx.db, works, full ? 'build' : 'add', `n__${m.table}`, ctx.engine);
      if (counts) await applyCounts(ctx.db, target, '__t', works.flatMap((w) => w.columns), plan.keys, works[0]!.oids.slice(0, plan.keys.length), counts);
    } catch (e) {
      if (e instanceof GoldModelError) throw e;
      const first = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      const hint = duckdbOutOfMemory(e) ? `; the distinct sets' DuckDB ran out of memory: raise MEDALLION_ENGINE_MEMORY (the sets get half of it), then replay the file` : '';
      const err = new GoldModelError(`gold model ${m.table} (${m.file}): ${first}${hint}`);
      (err as { cause?: unknown }).cause = e;
      throw err;
    }
  });
  return rest;
}

async function timed<T>(ctx: MaintainContext, label: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    ctx.timings[label] = (ctx.timings[label] ?? 0) + Date.now() - t;
  }
}

async function run(ctx: MaintainContext, m: PlannedModel, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  try {
    return await ctx.db.query(sql, params);
  } catch (e) {
    const err = new GoldModelError(`gold model ${m.table} (${m.file}): ${e instanceof Error ? e.message : String(e)}`);
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}

/** Full build of an aggregate model from its whole input. */
async function fullAggregate(ctx: MaintainContext, m: PlannedModel, plan: AggregatePlan, input: string, shape: TableShape): Promise<void> {
  const alias = qi(plan.alias);
  const indexed: IndexedSet[] = [];
  for (const g of setGroups(m, plan)) if (!(await isColumnarStore(ctx.db, g.set))) indexed.push(...g.tables);
  // The columnar stores are emptied by their build (maintainSets).
  await run(ctx, m, `TRUNCATE ${[...(viewBacked(m) ? [] : [modelRef(m)]), stateTable(m, 'agg'), ...indexed.map((s) => s.set)].join(', ')}`);
  // The indexed sets first (hash aggregation), then the other aggregates (hash aggregation: no
  // DISTINCT inside them, which would force PostgreSQL to sort), then each distinct count from its
  // set. Bulk loads: the primary key is built once after the rows are in (a sorted build).
  for (const { a, set } of indexed) {
    await withoutKey(ctx, m, set, [...plan.keys, '__v'], () =>
      run(ctx, m, `INSERT INTO ${set} SELECT ${list(plan.keys, `${alias}.`)}, ${a.arg} FROM ${input} ${alias} WHERE ${and(plan.where, a.filter, `${a.arg} IS NOT NULL`)} GROUP BY 1${plan.keys.map((_, i) => `, ${i + 2}`).join('')}`),
    );
  }
  const stateCols = [...plan.keys.map(qi), ...plan.aggregates.flatMap(stateColumns), '__rows'];
  const exprs = [...plan.keys.map((k) => `${alias}.${qi(k)}`), ...plan.aggregates.flatMap((a) => partials(a, false)), 'count(*)'];
  // Through a temp table: PostgreSQL runs the SELECT of an INSERT … SELECT serially, and may give
  // the SELECT of a CREATE TABLE … AS parallel workers (docs/decisions.md: 3.5 → 1.9 s for
  // product_performance over 2M rows on 2 cores). The state is one row per key: the copy is small.
  const full = `pg_temp.${qi(`full__${m.table}`)}`;
  await timed(ctx, `${m.table}:full_state`, async () => {
    await run(ctx, m, `DROP TABLE IF EXISTS ${full}`);
    await run(ctx, m, `CREATE TEMP TABLE ${full} ON COMMIT DROP AS SELECT ${exprs.map((e, i) => `${e} AS ${stateCols[i]}`).join(', ')} FROM ${input} ${alias} WHERE ${and(plan.where)} GROUP BY ${list(plan.keys, `${alias}.`)}`);
    await withoutKey(ctx, m, stateTable(m, 'agg'), plan.keys, () => run(ctx, m, `INSERT INTO ${stateTable(m, 'agg')} (${stateCols.join(', ')}) SELECT ${stateCols.join(', ')} FROM ${full}`));
    await run(ctx, m, `DROP TABLE ${full}`);
  });
  await columnarSets(ctx, m, plan, input, stateTable(m, 'agg'), true);
  for (const { a, set } of indexed) {
    await run(
      ctx,
      m,
      `UPDATE ${stateTable(m, 'agg')} t SET ${a.column} = n.n FROM (SELECT ${list(plan.keys)}, count(*) AS n FROM ${set} GROUP BY ${list(plan.keys)}) n WHERE ${joinOn(plan.keys, 't', 'n')}`,
    );
  }
  if (!viewBacked(m)) await timed(ctx, `${m.table}:full_upsert`, () => upsertFromState(ctx, m, plan, shape, undefined));
}

/** Runs a bulk load into an empty state table with its primary key dropped, then builds the key. */
async function withoutKey(ctx: MaintainContext, m: PlannedModel, table: string, key: string[], load: () => Promise<unknown>): Promise<void> {
  const name = await ctx.db.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [table]);
  const pk = name.rows[0]?.conname;
  if (pk) await run(ctx, m, `ALTER TABLE ${table} DROP CONSTRAINT ${qi(pk)}`);
  await load();
  await run(ctx, m, `ALTER TABLE ${table} ADD PRIMARY KEY (${list(key)})`);
}

/** Writes gold rows from the state: all keys, or the keys of `delta` (only rows whose values change). */
async function upsertFromState(ctx: MaintainContext, m: PlannedModel, plan: AggregatePlan, shape: TableShape, delta: string | undefined): Promise<number> {
  const alias = qi(plan.alias);
  const cols = plan.outputs.map((o) => o.column);
  const where = delta ? `WHERE EXISTS (SELECT 1 FROM ${delta} __d WHERE ${joinOn(plan.keys, '__d', alias)})` : '';
  const update = cols.filter((c) => !shape.key.includes(c));
  const conflict = delta
    ? update.length
      ? `ON CONFLICT (${list(shape.key)}) DO UPDATE SET ${update.map((c) => `${qi(c)} = excluded.${qi(c)}`).join(', ')} WHERE (${list(update, '__t.')}) IS DISTINCT FROM (${list(update, 'excluded.')})`
      : `ON CONFLICT DO NOTHING`
    : '';
  const sql = `INSERT INTO ${modelRef(m)} AS __t (${list(cols)}) SELECT ${plan.outputs.map((o) => o.expr).join(', ')} FROM ${stateTable(m, 'agg')} ${alias} ${where} ${conflict}`;
  const res = delta ? await withSettings(ctx.db, KEY_LOOKUP, () => run(ctx, m, sql)) : await run(ctx, m, sql);
  return res.rowCount ?? 0;
}

/** Incremental refresh of an aggregate model from new rows (`source` unweighted) or changes (weighted). */
async function incrementalAggregate(ctx: MaintainContext, m: PlannedModel, plan: AggregatePlan, source: string, weighted: boolean, shape: TableShape, keepChanges: boolean): Promise<boolean> {
  const alias = qi(plan.alias);
  const delta = `pg_temp.${qi(`d__${m.table}`)}`;
  const stateCols = plan.aggregates.flatMap(stateColumns);
  const exprs = plan.aggregates.flatMap((a) => (weighted ? weightedPartials(a) : partials(a, false)));
  await run(ctx, m, `DROP TABLE IF EXISTS ${delta}`);
  let t = Date.now();
  const step = (name: string) => {
    ctx.timings[`${m.table}:${name}`] = (ctx.timings[`${m.table}:${name}`] ?? 0) + Date.now() - t;
    t = Date.now();
  };
  // Written in key order: the merge and the changed-rows look-up read it in that order, so each
  // look-up lands near the previous one in the state's primary key (settings.ts, KEY_LOOKUP).
  const made = await run(
    ctx,
    m,
    `CREATE TEMP TABLE ${delta} ON COMMIT DROP AS SELECT ${list(plan.keys, `${alias}.`)}, ${[...exprs.map((e, i) => `${e} AS ${stateCols[i]}`), `${weighted ? 'coalesce(sum(__w), 0)' : 'count(*)'} AS __rows`].join(', ')}
     FROM ${source} ${alias} WHERE ${and(plan.where)} GROUP BY ${list(plan.keys, `${alias}.`)} ORDER BY ${list(plan.keys, `${alias}.`)}`,
  );
  if (!made.rowCount) return false;
  await run(ctx, m, `ANALYZE ${delta}`);
  step('delta');
  // New distinct values per key: the pairs this run adds for the first time (the columnar sets
  // time themselves as :sets, the run's read as run_extract; indexed sets as :set<i>).
  const indexed = await columnarSets(ctx, m, plan, source, delta, false);
  t = Date.now();
  for (const { a, set } of indexed) {
    await run(
      ctx,
      m,
      `WITH added AS (
         INSERT INTO ${set} SELECT DISTINCT ${list(plan.keys, `${alias}.`)}, ${a.arg} FROM ${source} ${alias} WHERE ${and(plan.where, a.filter, `${a.arg} IS NOT NULL`)}
         ON CONFLICT DO NOTHING RETURNING ${list(plan.keys)}
       ), n AS (SELECT ${list(plan.keys)}, count(*) AS n FROM added GROUP BY ${list(plan.keys)})
       UPDATE ${delta} __d SET ${a.column} = n.n FROM n WHERE ${joinOn(plan.keys, '__d', 'n')}`,
    );
    step(`set${a.column.slice(3)}`);
  }
  const key = viewBacked(m) ? plan.keys : shape.key;
  if (keepChanges) await aggregateChanges(ctx, m, plan, delta);
  step('changes');
  const all = [...stateCols, '__rows'];
  const merges = [...plan.aggregates.flatMap((a) => stateColumns(a).map((c) => `${c} = ${mergeExpr(a, c)}`)), '__rows = t.__rows + excluded.__rows'];
  await run(
    ctx,
    m,
    `INSERT INTO ${stateTable(m, 'agg')} AS t (${list(plan.keys)}, ${all.join(', ')}) SELECT ${list(plan.keys)}, ${all.join(', ')} FROM ${delta}
     ON CONFLICT (${list(plan.keys)}) DO UPDATE SET ${merges.join(', ')}`,
  );
  if (weighted) {
    // A key whose rows were all taken back disappears.
    await withSettings(ctx.db, KEY_LOOKUP, async () => {
      await run(ctx, m, `DELETE FROM ${stateTable(m, 'agg')} t USING ${delta} __d WHERE ${joinOn(plan.keys, 't', '__d')} AND t.__rows = 0`);
      if (!viewBacked(m)) {
        await run(ctx, m, `DELETE FROM ${modelRef(m)} g USING ${delta} __d WHERE ${joinOn(key, 'g', '__d')} AND NOT EXISTS (SELECT 1 FROM ${stateTable(m, 'agg')} t WHERE ${joinOn(plan.keys, 't', 'g')})`);
      }
    });
  }
  step('state');
  if (!viewBacked(m)) await upsertFromState(ctx, m, plan, shape, delta);
  step('upsert');
  return true;
}

/**
 * The model's changed rows for its readers, before the state moves, in one pass over the file's
 * keys: each key's rows as they are (weight −1, when the key exists) and as they will be after the
 * merge (+1, unless every row of the key was taken back), both computed from the state row and the
 * delta with the same output expressions the model's table is written with.
 */
async function aggregateChanges(ctx: MaintainContext, m: PlannedModel, plan: AggregatePlan, delta: string): Promise<void> {
  const chg = `pg_temp.${qi(`chg__${m.table}`)}`;
  const alias = qi(plan.alias);
  const cols = plan.aggregates.flatMap((a) => stateColumns(a).map((c) => ({ a, c })));
  const keys = list(plan.keys);
  const merged = cols.map(({ a, c }) => `CASE WHEN __s.__rows IS NULL THEN __d.${c} ELSE ${mergeExpr(a, c, '__s', '__d')} END AS n${c}`);
  const as = (prefix: string) => [keys, ...cols.map(({ c }) => `${prefix}${c} AS ${c}`)].join(', ');
  const outputs = plan.outputs.map((o) => `${o.expr} AS ${qi(o.column)}`).join(', ');
  await run(ctx, m, `DROP TABLE IF EXISTS ${chg}`);
  await withSettings(ctx.db, KEY_LOOKUP, () =>
    run(
      ctx,
      m,
      `CREATE TEMP TABLE ${chg} ON COMMIT DROP AS
       WITH j AS MATERIALIZED (
         SELECT ${list(plan.keys, '__d.')}, __s.__rows IS NOT NULL AS __had,
                ${[...cols.map(({ c }) => `__s.${c} AS o${c}`), ...merged, `coalesce(__s.__rows, 0) + __d.__rows AS n__rows`].join(', ')}
         FROM ${delta} __d LEFT JOIN ${stateTable(m, 'agg')} __s ON ${joinOn(plan.keys, '__s', '__d')}
       )
       SELECT ${outputs}, -1 AS __w FROM (SELECT ${as('o')} FROM j WHERE __had) ${alias}
       UNION ALL
       SELECT ${outputs}, 1 AS __w FROM (SELECT ${as('n')} FROM j WHERE n__rows > 0) ${alias}`,
    ),
  );
  ctx.changed.set(m.table, chg);
}

/** Old rows (weight −1) of the keys about to change; endChanges adds the new ones (+1). */
async function startChanges(ctx: MaintainContext, m: PlannedModel, cols: string[], where: string): Promise<string> {
  const chg = `pg_temp.${qi(`chg__${m.table}`)}`;
  await run(ctx, m, `DROP TABLE IF EXISTS ${chg}`);
  await withSettings(ctx.db, KEY_LOOKUP, () => run(ctx, m, `CREATE TEMP TABLE ${chg} ON COMMIT DROP AS SELECT ${list(cols, '__g.')}, -1 AS __w FROM ${modelRef(m)} __g WHERE ${where}`));
  return chg;
}

async function endChanges(ctx: MaintainContext, m: PlannedModel, chg: string, cols: string[], where: string): Promise<void> {
  await withSettings(ctx.db, KEY_LOOKUP, () => run(ctx, m, `INSERT INTO ${chg} SELECT ${list(cols, '__g.')}, 1 FROM ${modelRef(m)} __g WHERE ${where}`));
  ctx.changed.set(m.table, chg);
}

/** The rows strategy: the model's primary key must be copied from input columns. */
function rowsKey(plan: RowsPlan, shape: TableShape): string[] | undefined {
  const cols = shape.key.map((k) => plan.passthrough.get(k));
  return cols.every((c) => c !== undefined) ? (cols as string[]) : undefined;
}

/** Full build: the SELECT itself over the whole input (rows and recompute strategies, and aggregate via its state). */
export async function buildModel(ctx: MaintainContext, m: PlannedModel, input: (i: Input) => string): Promise<void> {
  const shape = await tableShape(ctx.db, modelRef(m));
  await timed(ctx, `${m.table}.full`, async () => {
    if (m.plan.kind === 'aggregate') {
      await fullAggregate(ctx, m, m.plan, input(m.plan.input), shape);
    } else {
      const cols = await selectColumns(ctx, m, shape);
      await run(ctx, m, `TRUNCATE ${modelRef(m)}`);
      await run(ctx, m, `INSERT INTO ${modelRef(m)} (${list(cols)}) SELECT ${list(cols)} FROM (${m.select}) __s`);
    }
  });
  ctx.changed.set(m.table, undefined);
  await population(ctx, m, shape);
}

/** The SELECT's output columns, checked against the table (every non-population column filled). */
async function selectColumns(ctx: MaintainContext, m: PlannedModel, shape: TableShape): Promise<string[]> {
  const probe = `pg_temp.${qi(`probe__${m.table}`)}`;
  await run(ctx, m, `DROP TABLE IF EXISTS ${probe}`);
  await run(ctx, m, `CREATE TEMP TABLE ${probe} ON COMMIT DROP AS SELECT * FROM (${m.select}) __s WITH NO DATA`);
  const cols = await tempColumns(ctx.db, `probe__${m.table}`);
  await run(ctx, m, `DROP TABLE ${probe}`);
  const unknown = cols.filter((c) => !shape.columns.includes(c));
  if (unknown.length) throw new GoldModelError(`gold model ${m.file}: its -- @select produces ${unknown.join(', ')}, which ${m.schema}.${m.table} has no column for (alias each output with its column name)`);
  return cols;
}

/**
 * Incremental refresh of one model whose inputs changed in this refresh. Returns whether its rows
 * changed. `keepChanges`: a reader maintains itself from this model's changed rows.
 */
export async function refreshModel(ctx: MaintainContext, m: PlannedModel, keepChanges: boolean): Promise<boolean> {
  const shape = await tableShape(ctx.db, modelRef(m));
  const plan = m.plan;
  const changed = await timed(ctx, `${m.table}.${plan.kind}`, async () => {
    if (ctx.recomputeAll.has(m.table)) return recompute(ctx, m, shape, keepChanges);
    if (plan.kind === 'aggregate') {
      if (plan.input.kind === 'silver') {
        const rows = ctx.runRows.get(plan.input.dataset);
        return rows ? incrementalAggregate(ctx, m, plan, rows, false, shape, keepChanges) : false;
      }
      const chg = ctx.changed.get(plan.input.table);
      if (!chg) throw new GoldModelError(`gold model ${m.table}: the changes of ${plan.input.table} were not kept (internal error: refresh it in full with medallion gold refresh --full)`);
      return incrementalAggregate(ctx, m, plan, chg, true, shape, keepChanges);
    }
    if (plan.kind === 'keyed') {
      const source = keyedSource(ctx, m, plan);
      if (source) return incrementalKeyed(ctx, m, plan, source, shape, keepChanges);
    }
    if (plan.kind === 'latest' && ctx.runRows.has(plan.input.dataset)) {
      return incrementalLatest(ctx, m, plan, ctx.runRows.get(plan.input.dataset)!, shape, keepChanges);
    }
    if (plan.kind === 'rows' && plan.input.kind === 'silver' && ctx.runRows.has(plan.input.dataset)) {
      const key = rowsKey(plan, shape);
      if (key) return incrementalRows(ctx, m, plan, ctx.runRows.get(plan.input.dataset)!, key, shape, keepChanges);
    }
    return recompute(ctx, m, shape, keepChanges);
  });
  if (changed) {
    if (!ctx.changed.has(m.table)) ctx.changed.set(m.table, undefined);
    await population(ctx, m, shape);
  }
  return changed;
}

/** Rows strategy: the model's rows of the changed input keys are projected again. */
async function incrementalRows(ctx: MaintainContext, m: PlannedModel, plan: RowsPlan, source: string, inputKey: string[], shape: TableShape, keepChanges: boolean): Promise<boolean> {
  const keys = `SELECT DISTINCT ${list(inputKey)} FROM ${source}`;
  const match = `(${list(shape.key, '__g.')}) IN (${keys})`;
  const chg = keepChanges ? await startChanges(ctx, m, plan.columns, match) : undefined;
  await run(ctx, m, `DELETE FROM ${modelRef(m)} __g WHERE ${match}`);
  await run(ctx, m, `INSERT INTO ${modelRef(m)} (${list(plan.columns)}) ${plan.template.replace('{{input}}', source)}`);
  if (chg) await endChanges(ctx, m, chg, plan.columns, match);
  return true; // the run changed these keys' input rows (deleted and inserted rows count alike)
}

/** The rows `sql` produces, in a temp table checked against the model's columns. */
async function freshRows(ctx: MaintainContext, m: PlannedModel, shape: TableShape, sql: string): Promise<{ fresh: string; cols: string[] }> {
  const fresh = `pg_temp.${qi(`new__${m.table}`)}`;
  await run(ctx, m, `DROP TABLE IF EXISTS ${fresh}`);
  await run(ctx, m, `CREATE TEMP TABLE ${fresh} ON COMMIT DROP AS ${sql}`);
  // Statistics for the merge's joins: without them the planner guessed the keyed refresh's
  // NOT EXISTS on a key prefix (4 field keys) and filtered 78M rows (7.2 s instead of 6 ms).
  await run(ctx, m, `ANALYZE ${fresh}`);
  const cols = await tempColumns(ctx.db, `new__${m.table}`);
  const unknown = cols.filter((c) => !shape.columns.includes(c));
  if (unknown.length) throw new GoldModelError(`gold model ${m.file}: its -- @select produces ${unknown.join(', ')}, which ${m.schema}.${m.table} has no column for (alias each output with its column name)`);
  return { fresh, cols };
}

/**
 * Writes `fresh` into the model: rows of the model (those matching `scope`, when given) that
 * `fresh` no longer has are deleted, the others upserted where they differ. Returns whether a row
 * changed.
 */
async function mergeFresh(ctx: MaintainContext, m: PlannedModel, shape: TableShape, fresh: string, cols: string[], scope?: string): Promise<boolean> {
  const gone = await run(ctx, m, `DELETE FROM ${modelRef(m)} __g WHERE ${and(scope, `NOT EXISTS (SELECT 1 FROM ${fresh} __n WHERE ${joinOn(shape.key, '__n', '__g')})`)}`);
  const update = cols.filter((c) => !shape.key.includes(c));
  const upsert = await run(
    ctx,
    m,
    `INSERT INTO ${modelRef(m)} AS __t (${list(cols)}) SELECT ${list(cols)} FROM ${fresh}
     ON CONFLICT (${list(shape.key)}) ${update.length ? `DO UPDATE SET ${update.map((c) => `${qi(c)} = excluded.${qi(c)}`).join(', ')} WHERE (${list(update, '__t.')}) IS DISTINCT FROM (${list(update, 'excluded.')})` : 'DO NOTHING'}`,
  );
  await run(ctx, m, `DROP TABLE ${fresh}`);
  return (gone.rowCount ?? 0) + (upsert.rowCount ?? 0) > 0;
}

/**
 * Latest strategy: the SELECT over only the input rows of the keys the run's rows carry (every
 * version of those keys, old and new), merged for those keys. A model whose primary key is not
 * its DISTINCT ON outputs is recomputed in full.
 */
async function incrementalLatest(ctx: MaintainContext, m: PlannedModel, plan: LatestPlan, source: string, shape: TableShape, keepChanges: boolean): Promise<boolean> {
  if (shape.key.length !== plan.outputKey.length || !plan.outputKey.every((k) => shape.key.includes(k))) return recompute(ctx, m, shape, keepChanges);
  return recomputeKeys(ctx, m, shape, keepChanges, { source, table: ctx.datasetTable(plan.input.dataset), inputKey: plan.inputKey, outputKey: plan.outputKey, select: (input) => plan.template.replace('{{input}}', input) });
}

/**
 * Where a keyed model finds the keys that changed: the run's rows of its keyed dataset, or the
 * change table of its keyed model — when that input is the only one that changed in this refresh
 * (a change in a lookup input recomputes the model in full).
 */
function keyedSource(ctx: MaintainContext, m: PlannedModel, plan: KeyedPlan): string | undefined {
  const input = plan.input;
  const others = m.reads.models.filter((t) => input.kind !== 'model' || t !== input.table).some((t) => ctx.changed.has(t)) || m.reads.silver.some((d) => d === ctx.dataset && (input.kind !== 'silver' || d !== input.dataset));
  if (others) return undefined;
  return input.kind === 'silver' ? ctx.runRows.get(input.dataset) : ctx.changed.get(input.table);
}

/** Keyed strategy: the SELECT with its keyed input restricted to the touched keys, merged for those keys. */
async function incrementalKeyed(ctx: MaintainContext, m: PlannedModel, plan: KeyedPlan, source: string, shape: TableShape, keepChanges: boolean): Promise<boolean> {
  const missing = plan.columns.filter((c) => !shape.columns.includes(c));
  if (missing.length) throw new GoldModelError(`gold model ${m.file}: its -- @keyed columns ${missing.join(', ')} are not columns of ${m.schema}.${m.table} (name them as in the input)`);
  const table = plan.input.kind === 'silver' ? ctx.datasetTable(plan.input.dataset) : `${plan.ref.schema}.${qi(plan.ref.name)}`;
  return recomputeKeys(ctx, m, shape, keepChanges, { source, table, inputKey: plan.columns, outputKey: plan.columns, select: (input) => replaceTableRef(m.select, plan.ref.schema, plan.ref.name, input) });
}

/**
 * The latest and keyed strategies' one mechanism: the distinct input keys of `source` (the run's
 * rows or an input model's changes), the model's SELECT with its input `table` restricted to them (every
 * version of those keys), merged for those keys only (as `outputKey` in the model).
 */
async function recomputeKeys(
  ctx: MaintainContext,
  m: PlannedModel,
  shape: TableShape,
  keepChanges: boolean,
  k: { source: string; table: string; inputKey: string[]; outputKey: string[]; select: (input: string) => string },
): Promise<boolean> {
  const keys = `pg_temp.${qi(`keys__${m.table}`)}`;
  await run(ctx, m, `DROP TABLE IF EXISTS ${keys}`);
  await run(ctx, m, `CREATE TEMP TABLE ${keys} ON COMMIT DROP AS SELECT DISTINCT ${list(k.inputKey)} FROM ${k.source}`);
  await run(ctx, m, `ANALYZE ${keys}`);
  const restricted = `(SELECT __k.* FROM ${k.table} __k WHERE (${list(k.inputKey, '__k.')}) IN (SELECT ${list(k.inputKey)} FROM ${keys}))`;
  const { fresh, cols } = await freshRows(ctx, m, shape, k.select(restricted));
  const scope = `(${list(k.outputKey, '__g.')}) IN (SELECT ${list(k.inputKey)} FROM ${keys})`;
  const chg = keepChanges ? await startChanges(ctx, m, cols, scope) : undefined;
  const changed = await mergeFresh(ctx, m, shape, fresh, cols, scope);
  if (chg) await endChanges(ctx, m, chg, cols, scope);
  await run(ctx, m, `DROP TABLE ${keys}`);
  return changed;
}

/** Recompute strategy: the whole SELECT, merged (only changed rows written). */
async function recompute(ctx: MaintainContext, m: PlannedModel, shape: TableShape, keepChanges: boolean): Promise<boolean> {
  const { fresh, cols } = await freshRows(ctx, m, shape, m.select);
  if (keepChanges) {
    const chg = `pg_temp.${qi(`chg__${m.table}`)}`;
    await run(ctx, m, `DROP TABLE IF EXISTS ${chg}`);
    await run(
      ctx,
      m,
      `CREATE TEMP TABLE ${chg} ON COMMIT DROP AS
       SELECT *, -1 AS __w FROM (SELECT ${list(cols)} FROM ${modelRef(m)} EXCEPT ALL SELECT ${list(cols)} FROM ${fresh}) o
       UNION ALL SELECT *, 1 FROM (SELECT ${list(cols)} FROM ${fresh} EXCEPT ALL SELECT ${list(cols)} FROM ${modelRef(m)}) n`,
    );
    ctx.changed.set(m.table, chg);
  }
  return mergeFresh(ctx, m, shape, fresh, cols);
}

/** Why the columns a model's -- @population returns do not fit its table, or undefined. */
function populationProblem(m: PlannedModel, shape: TableShape, cols: string[]): string | undefined {
  const missingKey = shape.key.filter((k) => !cols.includes(k));
  if (missingKey.length) return `gold model ${m.file}: its -- @population must return the primary key (${shape.key.join(', ')}); missing ${missingKey.join(', ')}`;
  const unknown = cols.filter((c) => !shape.columns.includes(c));
  if (unknown.length) return `gold model ${m.file}: its -- @population returns columns the table does not have: ${unknown.join(', ')}`;
  const notNull = cols.filter((c) => !shape.key.includes(c) && !shape.nullable.has(c));
  if (notNull.length) return `gold model ${m.file}: population columns must be nullable (new rows get them after they are written): ${notNull.join(', ')}; drop their NOT NULL`;
  return undefined;
}

/** When a model is deployed: its -- @population runs (no rows read) and returns columns that fit its table. */
export async function checkPopulation(db: Db, m: PlannedModel): Promise<void> {
  if (!m.population) return;
  let cols: string[];
  try {
    cols = (await db.query(`SELECT * FROM (${m.population}) __p LIMIT 0`)).fields.map((f) => f.name);
  } catch (e) {
    throw new GoldModelError(`gold model ${m.file}: its -- @population does not run: ${e instanceof Error ? e.message : String(e)}`);
  }
  const problem = populationProblem(m, await tableShape(db, modelRef(m)), cols);
  if (problem) throw new GoldModelError(problem);
}

/** The model's population-wide columns (its -- @population SELECT over its own table). */
async function population(ctx: MaintainContext, m: PlannedModel, shape: TableShape): Promise<void> {
  if (!m.population) return;
  await timed(ctx, `${m.table}.population`, async () => {
    const pop = `pg_temp.${qi(`pop__${m.table}`)}`;
    await run(ctx, m, `DROP TABLE IF EXISTS ${pop}`);
    await run(ctx, m, `CREATE TEMP TABLE ${pop} ON COMMIT DROP AS ${m.population}`);
    const cols = await tempColumns(ctx.db, `pop__${m.table}`);
    const problem = populationProblem(m, shape, cols);
    if (problem) throw new GoldModelError(problem);
    const set = cols.filter((c) => !shape.key.includes(c));
    await run(ctx, m, `ANALYZE ${pop}`);
    await run(
      ctx,
      m,
      `UPDATE ${modelRef(m)} __g SET ${set.map((c) => `${qi(c)} = __p.${qi(c)}`).join(', ')} FROM ${pop} __p
       WHERE ${joinOn(shape.key, '__g', '__p')} AND (${list(set, '__g.')}) IS DISTINCT FROM (${list(set, '__p.')})`,
    );
    await run(
      ctx,
      m,
      `UPDATE ${modelRef(m)} __g SET ${set.map((c) => `${qi(c)} = NULL`).join(', ')}
       WHERE NOT EXISTS (SELECT 1 FROM ${pop} __p WHERE ${joinOn(shape.key, '__g', '__p')}) AND (${set.map((c) => `__g.${qi(c)} IS NOT NULL`).join(' OR ')})`,
    );
    await run(ctx, m, `DROP TABLE ${pop}`);
  });
}
