import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { canonical, forgetCachedSets, LONG_TEXT, maintainSets, RunExtract, type SetSource } from '../shared/gold/distinctSets';
import { type Columns, duckCanonical, duckCondition } from '../shared/gold/duckExpr';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';

/**
 * The PostgreSQL → DuckDB translation of conditions and canonical texts (shared/gold/duckExpr.ts)
 * that lets a run's distinct-set values be read from its silver Parquet. The oracle is
 * PostgreSQL itself: every translated condition is evaluated by both engines on the same hostile
 * rows (written to each engine by the test, from the same JS values) and must agree on every row,
 * NULL included; every refused form must be refused.
 */

interface Rec {
  id: number;
  s: string | null;
  n: bigint | null;
  i: number | null;
  b: boolean | null;
  d: string | null;
}

const TEXTS = ['', ' ', 'view', 'View', 'cart', "it's", '"q"', 'a,b', 'é', 'e\u0301', 'line\nbreak', 'tab\t', '\\N', 'NULL', 'x'.repeat(LONG_TEXT), 'é'.repeat(32), 'é'.repeat(33), 'y'.repeat(200), '🙂', 'purchase'];
const INTS = [0n, 1n, -1n, 7n, 42n, 9223372036854775807n, -9223372036854775808n, 1000000000000000000n];
const DATES = ['0001-01-01', '1969-12-31', '1970-01-01', '2019-10-01', '2024-02-29', '9999-12-31'];

function records(n: number): Rec[] {
  const pick = <T>(xs: T[]): T | null => (randomInt(8) === 0 ? null : xs[randomInt(xs.length)]!);
  return Array.from({ length: n }, (_, id) => ({
    id,
    s: pick(TEXTS),
    n: pick(INTS),
    i: pick([0, 1, -5, 42, 2147483647]),
    b: pick([true, false]),
    d: pick(DATES),
  }));
}

const duckText = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'`);

/** The translatable atoms the random conditions are built from (PostgreSQL text). */
const ATOMS = [
  "s = 'view'",
  "e.s <> 'cart'",
  "s != ''",
  "s IN ('view', 'cart', 'purchase')",
  "s NOT IN ('é', 'e\u0301')",
  "\"s\" = 'it''s'",
  's IS NULL',
  'e."s" IS NOT NULL',
  'n = 42',
  'n <> -1',
  'n > 0',
  'n <= -999999999999999999',
  'n IN (0, 7, 100000000000000000)',
  'i >= 1',
  'i < -4',
  'n = i',
  'b',
  'NOT b',
  'b = false',
  'b IS NOT NULL',
  'd > e.d',
  'd = d',
  'TRUE',
  'FALSE',
];

function randomCondition(depth: number): string {
  if (depth === 0 || randomInt(3) === 0) return ATOMS[randomInt(ATOMS.length)]!;
  const a = randomCondition(depth - 1);
  const b = randomCondition(depth - 1);
  switch (randomInt(4)) {
    case 0:
      return `${a} AND ${b}`;
    case 1:
      return `${a} OR ${b}`;
    case 2:
      return `NOT (${a})`;
    default:
      return `(${a}) AND NOT ${b} OR ${a}`;
  }
}

describe('PostgreSQL conditions and canonical texts in DuckDB: same value on every row, or refused', () => {
  let pool: pg.Pool;
  let dbName: string;
  let db: pg.PoolClient;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;
  let dir: string;
  const rows = records(400);
  const columns: Columns = new Map([
    ['s', 'text'],
    ['n', 'int'],
    ['i', 'int'],
    ['b', 'bool'],
    ['d', 'date'],
  ]);

  beforeAll(async () => {
    const { name, url } = await createScratchDatabase(inject('databaseUrl'), 'duckexpr');
    dbName = name;
    pool = new pg.Pool({ connectionString: url, max: 2 });
    db = await pool.connect();
    await db.query(`SET DateStyle = 'ISO, YMD'`); // as the sets read PostgreSQL (CANONICAL_SETTINGS)
    await db.query(`CREATE TABLE t (id int PRIMARY KEY, s text, n bigint, i int, b boolean, d date)`);
    for (const r of rows) await db.query(`INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6)`, [r.id, r.s, r.n?.toString() ?? null, r.i, r.b, r.d]);
    duck = await DuckDBInstance.create(':memory:');
    con = await duck.connect();
    await con.run(`CREATE TABLE t (id INTEGER, s VARCHAR, n BIGINT, i INTEGER, b BOOLEAN, d DATE)`);
    const values = rows.map((r) => `(${r.id}, ${duckText(r.s)}, ${r.n ?? 'NULL'}, ${r.i ?? 'NULL'}, ${r.b ?? 'NULL'}, ${r.d ? `DATE '${r.d}'` : 'NULL'})`);
    await con.run(`INSERT INTO t VALUES ${values.join(', ')}`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'duckexpr-'));
  });
  afterAll(async () => {
    con?.closeSync();
    db?.release();
    await pool?.end();
    await dropScratchDatabase(inject('databaseUrl'), dbName);
    await rm(dir, { recursive: true, force: true });
    forgetCachedSets();
  });

  async function both(pgCond: string): Promise<{ pg: (boolean | null)[]; duck: (boolean | null)[] }> {
    const d = duckCondition(pgCond, columns, 'e');
    expect(d, pgCond).toBeDefined();
    const p = await db.query<{ v: boolean | null }>(`SELECT (${pgCond}) AS v FROM t e ORDER BY id`);
    const k = await con.runAndReadAll(`SELECT (${d}) AS v FROM t ORDER BY id`);
    return { pg: p.rows.map((r) => r.v), duck: k.getRows().map((r) => r[0] as boolean | null) };
  }

  it('every atom, and 150 random combinations of them, has the same value (true, false or NULL) on every row', async () => {
    const conds = [...ATOMS, ...Array.from({ length: 150 }, () => randomCondition(3))];
    let nulls = 0;
    for (const c of conds) {
      const r = await both(c);
      expect(r.duck, c).toEqual(r.pg);
      nulls += r.pg.filter((v) => v === null).length;
    }
    expect(nulls).toBeGreaterThan(0); // three-valued logic was exercised
  });

  it('forms whose meaning could differ, or that it does not read, are refused', () => {
    const refused = [
      "s < 'b'", // text order depends on the collation
      "s >= 'a'",
      "lower(s) = 'view'", // functions
      "s::text = 'view'", // casts
      'n::numeric = 1',
      "s = E'a\\nb'", // escape strings
      "s = 'a\\b'", // a backslash: standard_conforming_strings decides
      "s = 'a' 'b'",
      'n = 1.5', // decimals
      'n = 12345678901234567890', // beyond 18 digits
      'n = NULL', // never true; not worth it
      'n + 1 = 2', // arithmetic
      "s = 'view' ;",
      'x = 1', // unknown column
      "f.s = 'view'", // another alias
      "public.t.s = 'view'",
      "s = n", // types differ
      "n = '1'", // a string literal for an integer: PostgreSQL's input rules
      "d = '2019-10-01'",
      "b = 't'",
      "s IN (s, 'a')", // a column in the list
      "s IN ('a', NULL)",
      's LIKE \'v%\'',
      "s ~ 'v'",
      "s IS DISTINCT FROM 'a'",
      "CASE WHEN b THEN true END",
      'n BETWEEN 1 AND 2',
      '(n) = 1',
      'and',
      "s = ARRAY['a'][1]",
      '',
    ];
    for (const c of refused) expect(duckCondition(c, columns, 'e'), c).toBeUndefined();
  });

  it("each supported column's DuckDB canonical text is PostgreSQL's canonical() text of the same value", async () => {
    const oids: Record<string, number> = { s: 25, n: 20, i: 23, b: 16, d: 1082 };
    for (const [col, oid] of Object.entries(oids)) {
      for (const expr of [col, `e.${col}`, `("e"."${col}")`]) {
        const d = duckCanonical(expr, columns, 'e', LONG_TEXT);
        expect(d, expr).toBeDefined();
        const p = await db.query<{ v: string | null }>(`SELECT ${canonical(`e.${col}`, oid)} AS v FROM t e ORDER BY id`);
        const k = await con.runAndReadAll(`SELECT ${d} AS v FROM t ORDER BY id`);
        expect(k.getRows().map((r) => r[0]), expr).toEqual(p.rows.map((r) => r.v));
      }
    }
    // Expressions, other aliases and unsupported types are not read.
    for (const expr of ['lower(s)', 'f.s', 'e.x', 's || s', '(s', 'NULL']) expect(duckCanonical(expr, columns, 'e', LONG_TEXT), expr).toBeUndefined();
  });

  it('a date outside years 1–9999 (printed differently by the two engines) stops the DuckDB read instead of giving other text', async () => {
    await con.run(`CREATE TABLE far (d DATE)`);
    await con.run(`INSERT INTO far VALUES (DATE '2019-10-01'), (DATE '10000-01-01')`);
    await expect(con.run(`SELECT ${duckCanonical('d', new Map([['d', 'date']]), 'e', LONG_TEXT)} FROM far`)).rejects.toThrow(/outside years 1-9999/);
  });

  /**
   * A run table in PostgreSQL (t's rows, plus `extraPg`) and, with `parquet`, t's rows as a Parquet
   * file (plus one more row with `extraParquetRow`); the counts of a set keyed by n over s under
   * `filter`, as the run extract reads them, and how it read.
   */
  async function extractCounts(o: { filter: string; parquet?: boolean; extraParquetRow?: boolean; extraPg?: string; key?: string }): Promise<{ read: string | undefined; counts: Record<string, string> }> {
    await db.query(`DROP TABLE IF EXISTS run_in`);
    await db.query(`CREATE TABLE run_in AS SELECT * FROM t`);
    if (o.extraPg) await db.query(`INSERT INTO run_in VALUES ${o.extraPg}`);
    const file = path.join(dir, `run-${randomInt(1e9)}.parquet`);
    const extra = o.extraParquetRow ? ` UNION ALL SELECT 9999, 'extra', 1, 1, true, DATE '2020-01-01'` : '';
    await con.run(`COPY (SELECT * FROM t${extra}) TO '${file}' (FORMAT parquet)`);
    const key = o.key ?? 'n';
    const oids = [key === 'd' ? 1082 : 20, 25];
    const src: SetSource = { from: 'run_in "e"', keyExprs: [`"e"."${key}"`], valueExpr: '"e"."s"', members: [`(${o.filter}) AND ("e"."s" IS NOT NULL)`] };
    const x = new RunExtract(src.from, [{ src, oids }]);
    await db.query('BEGIN'); // the table of counts lives until the commit
    const read = await x.load(db, undefined, o.parquet ? { files: [file] } : undefined);
    try {
      const table = `set_${randomInt(1e9)}`;
      await db.query(`CREATE TABLE ${table} (segment uuid PRIMARY KEY, pairs bigint NOT NULL, data bytea NOT NULL)`);
      const counts = await maintainSets(db, [{ set: { table, keys: [key] }, pairs: { duck: x.pairs(src, oids) }, oids, columns: ['n'] }], 'add', `c_${randomInt(1e9)}`);
      const r = await db.query<{ c0: string; n: string }>(`SELECT c0, n::text AS n FROM ${counts} ORDER BY c0`);
      return { read, counts: Object.fromEntries(r.rows.map((z) => [z.c0 ?? 'NULL', z.n])) };
    } finally {
      await db.query('ROLLBACK');
      await x.close();
    }
  }

  /** PostgreSQL's own count(DISTINCT s) per key over run_in's rows under `filter` (run_in as the last extractCounts left it). */
  async function expectedCounts(filter: string, key = 'n'): Promise<Record<string, string>> {
    const want = await db.query<{ c0: string; n: string }>(`SELECT ${key}::text AS c0, count(DISTINCT s)::text AS n FROM run_in e WHERE (${filter}) AND s IS NOT NULL GROUP BY 1`);
    return Object.fromEntries(want.rows.map((z) => [z.c0 ?? 'NULL', z.n]));
  }

  it("a run extract reads the run's Parquet when it holds the run's rows, else PostgreSQL's plain text translated by DuckDB, else PostgreSQL's canonical text; the counts equal count(DISTINCT) in PostgreSQL every way", async () => {
    const filter = `"e"."b" OR "e"."n" > 0`;
    const parquet = await extractCounts({ filter, parquet: true });
    const expected = await expectedCounts(filter);
    expect(Object.keys(expected).length).toBeGreaterThan(3);
    expect(parquet).toEqual({ read: 'parquet', counts: expected });
    // One row more in the Parquet than in PostgreSQL: not the run's rows; PostgreSQL's plain text.
    expect(await extractCounts({ filter, parquet: true, extraParquetRow: true })).toEqual({ read: 'plain', counts: expected });
    expect(await extractCounts({ filter })).toEqual({ read: 'plain', counts: expected });
    // A condition DuckDB is not trusted with: PostgreSQL prints the canonical texts and masks.
    const lowered = `lower("e"."s") = 'view' OR "e"."n" > 0`;
    const got = await extractCounts({ filter: lowered, parquet: true });
    expect(got).toEqual({ read: 'postgres', counts: await expectedCounts(lowered) });
    // A date key PostgreSQL prints in a form DuckDB reads differently (BC, infinity): PostgreSQL's canonical text.
    for (const odd of ["'0044-03-15 BC'", "'infinity'"]) {
      const r = await extractCounts({ filter, key: 'd', extraPg: `(5000, 'odd', 3, 3, true, ${odd})` });
      expect(r).toEqual({ read: 'postgres', counts: await expectedCounts(filter, 'd') });
      expect(Object.keys(r.counts)).toContain(odd === "'infinity'" ? 'infinity' : '0044-03-15 BC');
    }
  });
});
