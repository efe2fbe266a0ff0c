import { createHash } from 'node:crypto';
import type pg from 'pg';
import { checkPopulation, createAggregateState, inputRef, modelRef } from './maintain';
import { type GoldGraph, GoldModelError, type PlannedModel } from './models';

/**
 * What the gold framework itself needs in PostgreSQL: the schemas, its bookkeeping in `ops`, and
 * the helpers every model may call (documented in shared/gold/README.md).
 */
export const FRAMEWORK_DDL = `
DO $$ BEGIN IF to_regnamespace('ops') IS NULL THEN CREATE SCHEMA ops; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
DO $$ BEGIN IF to_regnamespace('gold') IS NULL THEN CREATE SCHEMA gold; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
DO $$ BEGIN IF to_regnamespace('gold_state') IS NULL THEN CREATE SCHEMA gold_state; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
DO $$ BEGIN IF to_regnamespace('core') IS NULL THEN CREATE SCHEMA core; END IF; END $$; -- CREATE only when missing: the app role may own its schemas without the database's CREATE right
COMMENT ON SCHEMA core IS 'The typed star schema of the API sources (seed 004): facts and dimensions over the staging tables, the latest version of each business key; one model file each (shared/datasets/<dataset>/gold/<table>.sql).';
COMMENT ON SCHEMA gold IS 'Business tables (one per model file shared/datasets/<dataset>/gold/<table>.sql); exported to the lake as gold/<dataset>/<table>.parquet.';
COMMENT ON SCHEMA gold_state IS 'Internal models, the state the framework keeps to maintain gold incrementally (per-key partial aggregates, distinct values) and helper functions. Not for consumers; not exported.';

CREATE TABLE IF NOT EXISTS ops.gold_models (
  table_name text PRIMARY KEY,
  dataset    text NOT NULL,
  sql_hash   text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  built_at   timestamptz
);
COMMENT ON TABLE ops.gold_models IS 'Gold models deployed in this database: the hash of the model file their table was created from, and when they were last fully built (NULL: a full build is due).';

CREATE TABLE IF NOT EXISTS ops.gold_refreshes (
  id          bigserial   PRIMARY KEY,
  dataset     text        NOT NULL,
  mode        text        NOT NULL CHECK (mode IN ('incremental', 'full')),
  run_ids     uuid[]      NOT NULL DEFAULT '{}',
  rows_in     bigint,
  started_at  timestamptz NOT NULL DEFAULT now(),
  tx_ms       integer,
  sections_ms jsonb       NOT NULL DEFAULT '{}',
  export_ms   integer
);
ALTER TABLE ops.gold_refreshes ADD COLUMN IF NOT EXISTS models text[] NOT NULL DEFAULT '{}';
COMMENT ON COLUMN ops.gold_refreshes.models IS 'The models this refresh wrote (their exports are due).';
CREATE INDEX IF NOT EXISTS gold_refreshes_dataset_idx ON ops.gold_refreshes (dataset, id DESC);
COMMENT ON TABLE ops.gold_refreshes IS 'One row per gold refresh: incremental (the silver rows of run_ids, inside their transaction) or full; tx_ms = time inside the transaction, export_ms = Parquet export after commit.';

CREATE TABLE IF NOT EXISTS ops.gold_applied_runs (
  dataset    text   NOT NULL,
  run_id     uuid   NOT NULL,
  refresh_id bigint NOT NULL,
  PRIMARY KEY (dataset, run_id)
);
COMMENT ON TABLE ops.gold_applied_runs IS 'Ingestion runs whose silver rows gold already reflects (medallion gold refresh applies the others).';

CREATE TABLE IF NOT EXISTS ops.gold_exports (
  dataset     text        PRIMARY KEY,
  refresh_id  bigint      NOT NULL,
  exported_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ops.gold_exports IS 'The latest gold refresh of each dataset whose tables are in the lake (gold/<dataset>/<table>.parquet).';

CREATE TABLE IF NOT EXISTS ops.ml_models (
  model          text             NOT NULL,
  version        text             NOT NULL,
  trained_at     timestamptz      NOT NULL DEFAULT now(),
  scored_at      timestamptz      NOT NULL DEFAULT now(),
  trained_rows   integer          NOT NULL,
  positives      integer          NOT NULL,
  holdout_rows   integer          NOT NULL,
  auc            double precision,
  brier          double precision,
  log_loss       double precision,
  ece            double precision,
  calibration    jsonb            NOT NULL,
  holdout_cutoff timestamptz,
  lake_path      text             NOT NULL,
  PRIMARY KEY (model, version)
);
COMMENT ON TABLE ops.ml_models IS 'Classifiers trained by gold steps (lead_scoring): one row per model version (a hash of its training data and parameters), with its holdout metrics (time-based holdout: the latest closed deals) and where its artefact is in the lake.';

-- 100 * numerator / denominator as a percentage (0-100 scale); NULL when the denominator is 0.
CREATE OR REPLACE FUNCTION gold_state.pct(numerator bigint, denominator bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN denominator > 0 THEN 100 * numerator::double precision / denominator END
$$;
-- total / n rounded to cents (half away from zero); NULL when n is 0.
CREATE OR REPLACE FUNCTION gold_state.money_avg(total numeric, n bigint) RETURNS numeric(18,2)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN n > 0 THEN round(total / n, 2) END
$$;
-- A text of a timestamp that sorts like the timestamp in any collation, so the value on the latest
-- row is an ordinary max(): (max(ARRAY[gold_state.ts_key(t), id, value]))[3]. Microseconds since
-- 1970 plus 3e17 (every PostgreSQL timestamp is then positive), as 20 digits; '' for -infinity,
-- 'z' for infinity. Arithmetic, not to_char (2.6× slower over 2M rows), and immutable parts only
-- (from a timestamp, not a timestamptz), so PostgreSQL inlines it. Before year 100000 in bigint:
-- whole days × 86,400,000,000 plus the time of day in µs (exact: under 8.64e10, a double rounds it
-- right), 29% cheaper per row than extract()'s numeric (measured over 600k rows); later instants
-- (their µs overflow bigint with the offset) through numeric.
CREATE OR REPLACE FUNCTION gold_state.ts_key(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN isfinite(t) AND (t AT TIME ZONE 'UTC') < '100000-01-01 00:00:00'::timestamp THEN lpad((
      ((t AT TIME ZONE 'UTC')::date - '1970-01-01'::date)::bigint * 86400000000
      + round(date_part('epoch', (t AT TIME ZONE 'UTC')::time) * 1000000)::bigint
      + 300000000000000000)::text, 20, '0')
    WHEN isfinite(t) THEN lpad(trunc(extract(epoch FROM t AT TIME ZONE 'UTC') * 1000000 + 300000000000000000)::text, 20, '0')
    WHEN t > 'epoch' THEN 'z'
    ELSE ''
  END
$$;
-- Typed reads of JSON values (the core models over the API sources' staging JSONB). Each returns
-- the value when the JSON has the type its column needs, and NULL for a missing key, a JSON null or
-- a value of another type (a string where a number belongs is NULL, never converted); never an
-- error: one odd record must not stop a refresh, and its raw JSON stays in staging, named by the
-- row's source_blob_path and source_line_no.
-- An integer: a JSON number without a fraction, within bigint (-2^63 .. 2^63-1).
CREATE OR REPLACE FUNCTION gold_state.jsonb_bigint(j jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'number' AND j::numeric = trunc(j::numeric)
                   AND j::numeric BETWEEN -9223372036854775808 AND 9223372036854775807 THEN j::numeric::bigint END
$$;
-- A decimal, exact: a JSON number.
CREATE OR REPLACE FUNCTION gold_state.jsonb_numeric(j jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN j::numeric END
$$;
-- A boolean: JSON true or false.
CREATE OR REPLACE FUNCTION gold_state.jsonb_bool(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'boolean' THEN j::boolean END
$$;
-- A JSON string as text.
CREATE OR REPLACE FUNCTION gold_state.jsonb_text(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN j #>> '{}' END
$$;
-- A JSON object or a JSON array, as it is (so a column documented as one never holds the other).
CREATE OR REPLACE FUNCTION gold_state.jsonb_object(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'object' THEN j END
$$;
CREATE OR REPLACE FUNCTION gold_state.jsonb_array(j jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN j END
$$;
-- Free-typed values (custom fields): a string, number or boolean as its text (a number as its
-- exact decimal); NULL for null, arrays and objects.
CREATE OR REPLACE FUNCTION gold_state.jsonb_scalar_text(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) IN ('string', 'number', 'boolean') THEN j #>> '{}' END
$$;
-- A text holding a decimal (optional ASCII whitespace and sign, digits with an optional point and
-- an exponent of at most 9 digits; not NaN or Infinity), exact; NULL when it holds none or numeric
-- cannot hold it.
CREATE OR REPLACE FUNCTION gold_state.text_numeric(t text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF t IS NULL OR t !~ '^[ \t\n\v\f\r]*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]{1,9})?[ \t\n\v\f\r]*$' THEN RETURN NULL; END IF;
  RETURN t::numeric;
EXCEPTION WHEN others THEN RETURN NULL; -- beyond numeric's range
END $$;
-- A time: YYYY-MM-DD, then T (or t, or a space) and HH:MM[:SS[.fraction of 1-9 digits]] with an
-- offset (Z, z, ±HH:MM, ±HHMM, ±HH; offset hours 00-15, PostgreSQL's range: real ones span -12 to
-- +14) or none (UTC: Pipedrive v1's 'YYYY-MM-DD HH:MM:SS'); a date alone is its midnight UTC.
-- Hours 00-23, minutes and seconds 00-59, a real calendar date; else NULL.
CREATE OR REPLACE FUNCTION gold_state.jsonb_timestamptz(j jsonb) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
  t text := CASE WHEN jsonb_typeof(j) = 'string' THEN upper(j #>> '{}') END;
  m text[];
BEGIN
  m := regexp_match(t, '^([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ]((?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?)(Z|[+-](?:0[0-9]|1[0-5])(?::?[0-5][0-9])?)?)?$');
  IF m IS NULL THEN RETURN NULL; END IF;
  -- Read with an explicit offset: the session's TimeZone and DateStyle never matter.
  RETURN (m[1] || ' ' || coalesce(m[2], '00:00') || ' ' || CASE WHEN m[3] IS NULL OR m[3] = 'Z' THEN '+00' ELSE m[3] END)::timestamptz;
EXCEPTION WHEN others THEN RETURN NULL; -- e.g. 2025-02-30
END $$;
-- A calendar date: a JSON string 'YYYY-MM-DD' naming a real date (years 0001-9999); a time is not a
-- date (its date would depend on its offset): NULL, as any other text.
CREATE OR REPLACE FUNCTION gold_state.jsonb_date(j jsonb) RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF jsonb_typeof(j) IS DISTINCT FROM 'string' OR (j #>> '{}') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN RETURN NULL; END IF;
  RETURN make_date(substr(j #>> '{}', 1, 4)::int, substr(j #>> '{}', 6, 2)::int, substr(j #>> '{}', 9, 2)::int);
EXCEPTION WHEN others THEN RETURN NULL; -- e.g. 2025-02-30, year 0000
END $$;
-- The strings of a JSON array as text[] in order (other elements left out); NULL when it is no array.
CREATE OR REPLACE FUNCTION gold_state.jsonb_text_array(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN ARRAY(SELECT e #>> '{}' FROM jsonb_array_elements(j) WITH ORDINALITY AS x(e, n) WHERE jsonb_typeof(e) = 'string' ORDER BY n) END
$$;
-- The integers of a JSON array as bigint[] in order (other elements left out); NULL when it is no array.
CREATE OR REPLACE FUNCTION gold_state.jsonb_bigint_array(j jsonb) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(j) = 'array' THEN ARRAY(SELECT gold_state.jsonb_bigint(e) FROM jsonb_array_elements(j) WITH ORDINALITY AS x(e, n) WHERE gold_state.jsonb_bigint(e) IS NOT NULL ORDER BY n) END
$$;
-- The labels of the options a choice value names (options as the API lists them: [{id, label}]):
-- the value is one option id (a number), an array of ids (numbers, or strings holding one), or a
-- text of comma-separated digit ids (Pipedrive v1 sets, ASCII whitespace allowed); each id, in the
-- value's order, gives the label of every option whose id is numerically equal; NULL when the
-- value names no option.
CREATE OR REPLACE FUNCTION gold_state.jsonb_option_labels(value jsonb, options jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN jsonb_typeof(options) = 'array' THEN (
    SELECT array_agg(o.item ->> 'label' ORDER BY v.n, o.k)
    FROM (SELECT n, CASE jsonb_typeof(e) WHEN 'number' THEN e::numeric WHEN 'string' THEN gold_state.text_numeric(e #>> '{}') END AS id
          FROM jsonb_array_elements(CASE jsonb_typeof(value)
                 WHEN 'array' THEN value
                 WHEN 'number' THEN jsonb_build_array(value)
                 WHEN 'string' THEN CASE WHEN (value #>> '{}') ~ '^[ \t\n\v\f\r]*[0-9]+([ \t\n\v\f\r]*,[ \t\n\v\f\r]*[0-9]+)*[ \t\n\v\f\r]*$'
                                         THEN to_jsonb(regexp_split_to_array(btrim(value #>> '{}', E' \t\n\v\f\r'), '[ \t\n\v\f\r]*,[ \t\n\v\f\r]*')) END
               END) WITH ORDINALITY AS x(e, n)) v
    JOIN jsonb_array_elements(options) WITH ORDINALITY AS o(item, k)
      ON jsonb_typeof(o.item) = 'object' AND v.id IS NOT NULL
     AND CASE jsonb_typeof(o.item -> 'id') WHEN 'number' THEN (o.item -> 'id')::numeric WHEN 'string' THEN gold_state.text_numeric(o.item ->> 'id') END = v.id
  ) END
$$;
-- One row while the unlogged state tables are intact (a crash empties it: see checkStateAlive).
CREATE UNLOGGED TABLE IF NOT EXISTS gold_state.alive (ok boolean PRIMARY KEY);
INSERT INTO gold_state.alive VALUES (true) ON CONFLICT DO NOTHING;
`;

const FRAMEWORK_KEY = '__framework__';
/** Bump when the SQL the framework generates for a strategy changes: every model is rebuilt. */
const ENGINE_VERSION = 'gold-engine-5';
const FRAMEWORK_HASH = createHash('sha256').update(FRAMEWORK_DDL).update(ENGINE_VERSION).digest('hex');
/** Serializes gold DDL (schemas and helpers are shared). */
const DDL_LOCK = 'medallion:gold:ddl';

type Db = pg.PoolClient;

interface Deployed {
  hash: string;
  built: boolean;
  present: boolean;
}

/** The hash a deployed model is recorded with: its file, the engine, and the plan derived for it. */
function deployHash(m: PlannedModel): string {
  return createHash('sha256').update(m.hash).update(ENGINE_VERSION).update(m.plan.kind).update(m.schema).digest('hex');
}

async function deployed(db: Db): Promise<Map<string, Deployed> | undefined> {
  const exists = await db.query<{ ok: boolean }>(`SELECT to_regclass('ops.gold_models') IS NOT NULL AS ok`);
  if (!exists.rows[0]?.ok) return undefined;
  const res = await db.query<{ table_name: string; sql_hash: string; built: boolean; present: boolean }>(
    `SELECT table_name, sql_hash, built_at IS NOT NULL AS built,
            coalesce(to_regclass(format('gold.%I', table_name)), to_regclass(format('gold_state.%I', table_name)), to_regclass(format('core.%I', table_name))) IS NOT NULL AS present
     FROM ops.gold_models`,
  );
  return new Map(res.rows.map((r) => [r.table_name, { hash: r.sql_hash, built: r.built, present: r.present }]));
}

function upToDate(state: Map<string, Deployed> | undefined, models: PlannedModel[]): boolean {
  if (!state || state.get(FRAMEWORK_KEY)?.hash !== FRAMEWORK_HASH) return false;
  return models.every((m) => {
    const d = state.get(m.table);
    return d && d.hash === deployHash(m) && d.present;
  });
}

/** Columns of a model's table without a COMMENT (every column must say how it is computed). */
async function uncommented(db: Db, ref: string): Promise<string[]> {
  const res = await db.query<{ attname: string }>(
    `SELECT a.attname FROM pg_attribute a
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND col_description(a.attrelid, a.attnum) IS NULL
     ORDER BY a.attnum`,
    [ref],
  );
  return res.rows.map((r) => r.attname);
}

/** Drops a model's table or view (in either schema) and the framework's state tables for it. */
async function dropModel(db: Db, table: string): Promise<void> {
  const rels = await db.query<{ nspname: string; relname: string; relkind: string }>(
    `SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v')
       AND ((n.nspname = 'gold_state' AND (starts_with(c.relname, $1) OR c.relname = $2)) OR (n.nspname IN ('gold', 'core') AND c.relname = $2))
     ORDER BY c.relkind = 'v' DESC`,
    [`${table}__`, table],
  );
  for (const r of rels.rows) await db.query(`DROP ${r.relkind === 'v' ? 'VIEW' : 'TABLE'} IF EXISTS ${quote(r.nspname)}.${quote(r.relname)}`);
}

/**
 * The framework's state tables are UNLOGGED (derived data, no WAL): a server crash or an HA
 * failover empties them. gold_state.alive is unlogged too: when it is empty, state was lost, and
 * every model is marked for a full build.
 */
async function checkStateAlive(db: Db): Promise<void> {
  const alive = await db.query<{ ok: boolean }>(`SELECT EXISTS (SELECT 1 FROM gold_state.alive) AS ok`);
  if (alive.rows[0]?.ok) return;
  await db.query(`UPDATE ops.gold_models SET built_at = NULL WHERE table_name <> $1`, [FRAMEWORK_KEY]);
  await db.query(`INSERT INTO gold_state.alive VALUES (true) ON CONFLICT DO NOTHING`);
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Makes sure every model's table (and the state its strategy keeps) exists and matches its file,
 * inside the caller's transaction. Cheap when nothing changed (one catalog query). A new or
 * changed model is (re)created — a changed one is dropped first: gold is derived data — and left
 * unbuilt. A model whose DDL fails (or lacks a column comment, or whose SELECT does not run) is
 * set aside in `broken` with the reason, with every model that reads it; the others go on. The
 * table of a model whose file was deleted is dropped. Returns the models that need a full build.
 */
export async function ensureGold(db: Db, graph: GoldGraph): Promise<{ unbuilt: Set<string>; broken: Map<string, string> }> {
  const models = graph.models;
  const broken = new Map<string, string>();
  if (!models.length && !graph.unavailable.size) return { unbuilt: new Set(), broken };
  let state = await deployed(db);
  if (state && state.get(FRAMEWORK_KEY)?.hash === FRAMEWORK_HASH) {
    const alive = await db.query<{ ok: boolean }>(`SELECT EXISTS (SELECT 1 FROM gold_state.alive) AS ok`);
    if (!alive.rows[0]?.ok) {
      await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [DDL_LOCK]);
      await checkStateAlive(db);
      state = await deployed(db);
    }
  }
  const gone = (st: Map<string, Deployed> | undefined) => [...(st?.keys() ?? [])].filter((t) => t !== FRAMEWORK_KEY && !graph.get(t) && !graph.unavailable.has(t));
  // A model left out (unavailable) misses what lands meanwhile: marked unbuilt, so it is rebuilt in
  // full when its file is readable again, even byte for byte as it was.
  const stale = (st: Map<string, Deployed> | undefined) => [...graph.unavailable.keys()].filter((t) => st?.get(t)?.built);
  if (!upToDate(state, models) || gone(state).length || stale(state).length) {
    await db.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [DDL_LOCK]);
    state = await deployed(db);
    if (state?.get(FRAMEWORK_KEY)?.hash !== FRAMEWORK_HASH) {
      await db.query(FRAMEWORK_DDL);
      await db.query(
        `INSERT INTO ops.gold_models (table_name, dataset, sql_hash, built_at) VALUES ($1, '', $2, now())
         ON CONFLICT (table_name) DO UPDATE SET sql_hash = excluded.sql_hash, built_at = now()`,
        [FRAMEWORK_KEY, FRAMEWORK_HASH],
      );
      state = await deployed(db);
    }
    const left = stale(state);
    if (left.length) await db.query(`UPDATE ops.gold_models SET built_at = NULL WHERE table_name = ANY($1::text[])`, [left]);
    // A model file that was deleted: its table and state go too (the lake's Parquet file stays).
    for (const t of gone(state)) {
      await dropModel(db, t);
      await db.query(`DELETE FROM ops.gold_models WHERE table_name = $1`, [t]);
    }
    for (const m of models) {
      const d = state?.get(m.table);
      if (d && d.hash === deployHash(m) && d.present) continue;
      if (m.reads.models.some((t) => broken.has(t))) {
        broken.set(m.table, `gold model ${m.file}: it reads ${m.reads.models.find((t) => broken.has(t))}, which is broken`);
        continue;
      }
      await db.query('SAVEPOINT gold_model_ddl');
      try {
        await deployModel(db, graph, m);
        await db.query('RELEASE SAVEPOINT gold_model_ddl');
      } catch (e) {
        await db.query('ROLLBACK TO SAVEPOINT gold_model_ddl');
        if (!(e instanceof GoldModelError)) throw e;
        broken.set(m.table, e.message.split('\n')[0]!);
      }
    }
    state = await deployed(db);
  }
  for (const m of graph.closure(broken.keys())) if (!broken.has(m.table)) broken.set(m.table, `gold model ${m.file}: it reads a broken model (${[...broken.keys()].join(', ')})`);
  return { unbuilt: new Set(models.filter((m) => !broken.has(m.table) && !state?.get(m.table)?.built).map((m) => m.table)), broken };
}

/** (Re)creates one model: drop, DDL, the comment rule, its aggregate state; recorded as unbuilt. */
async function deployModel(db: Db, graph: GoldGraph, m: PlannedModel): Promise<void> {
  await dropModel(db, m.table);
  try {
    await db.query(m.ddl);
  } catch (e) {
    throw new GoldModelError(`gold model ${m.file}: its -- @ddl section failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  const made = await db.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [modelRef(m)]);
  if (!made.rows[0]?.t) throw new GoldModelError(`gold model ${m.file}: its -- @ddl section must leave the table ${m.schema}.${m.table} in place`);
  const key = await db.query(`SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary`, [modelRef(m)]);
  if (!key.rowCount) throw new GoldModelError(`gold model ${m.file}: its table needs a PRIMARY KEY (the model's grain: one row per key); add one to its CREATE TABLE`);
  const missing = await uncommented(db, modelRef(m));
  if (missing.length) throw new GoldModelError(`gold model ${m.file}: every column needs a COMMENT ON COLUMN; missing for ${missing.join(', ')}`);
  try {
    // Planned and started, no row read: a SELECT PostgreSQL refuses is refused now, not when a file lands.
    await db.query(`SELECT * FROM (${m.select}) __s LIMIT 0`);
  } catch (e) {
    throw new GoldModelError(`gold model ${m.file}: its -- @select does not run: ${e instanceof Error ? e.message : String(e)}`);
  }
  await checkPopulation(db, m);
  if (m.plan.kind === 'aggregate') {
    try {
      await createAggregateState(db, m, m.plan, inputRef(m.plan.input, graph));
    } catch (e) {
      if (e instanceof GoldModelError) throw e;
      throw new GoldModelError(`gold model ${m.file}: its -- @select does not run: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  await db.query(
    `INSERT INTO ops.gold_models (table_name, dataset, sql_hash, built_at) VALUES ($1, $2, $3, NULL)
     ON CONFLICT (table_name) DO UPDATE SET dataset = excluded.dataset, sql_hash = excluded.sql_hash, created_at = now(), built_at = NULL`,
    [m.table, m.dataset, deployHash(m)],
  );
}

/** Records that models were fully built (after their build, same transaction). */
export async function markBuilt(db: Db, tables: string[]): Promise<void> {
  if (tables.length) await db.query(`UPDATE ops.gold_models SET built_at = now() WHERE table_name = ANY($1::text[])`, [tables]);
}

/** The models PostgreSQL refuses as they are now (DDL, comments, SELECT, population), with why; nothing is changed (rolled back). */
export async function brokenModels(pool: pg.Pool, graph: GoldGraph): Promise<Map<string, string>> {
  const db = await pool.connect();
  try {
    await db.query('BEGIN');
    return (await ensureGold(db, graph)).broken;
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
    db.release();
  }
}

/**
 * Creates the tables of new or changed models at start-up (empty until the next refresh builds
 * them), so a model can be queried before a file of its inputs lands. A broken model file does not
 * stop the platform: the message is returned, and the refresh that needs the model fails with it.
 */
export async function deployGold(pool: pg.Pool, graph: () => GoldGraph): Promise<string[]> {
  const db = await pool.connect();
  try {
    const g = graph();
    const problems = [...new Set(g.unavailable.values())]; // the models of one cycle share one message
    if (!g.models.length) return problems;
    await db.query('BEGIN');
    const { broken } = await ensureGold(db, g);
    await db.query('COMMIT');
    return [...problems, ...broken.values()];
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    if (e instanceof GoldModelError) return [e.message.split('\n')[0]!];
    throw e;
  } finally {
    db.release();
  }
}
