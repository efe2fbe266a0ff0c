import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { copyToCsv, readPgCsv } from '../shared/engine/pgCsv';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { addPairs, applyCounts, buildPairs, COMPACT_AT, canonical, columnarTypes, createStore, forgetCachedSets, halfOf, maintainSets, RunExtract, type RunPairs, sourceTypes, type DistinctSet, type SetSource } from '../shared/gold/distinctSets';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';

/**
 * The columnar distinct sets (shared/gold/distinctSets.ts) against PostgreSQL's own count(DISTINCT)
 * over the same rows: values that are equal in PostgreSQL but print differently (1.0 / 1.00,
 * -0 / 0, one instant in two offsets, padded char), text that CSV must quote, rollbacks, a process
 * that starts cold, compaction.
 */

// Each value literal with its type; the test draws rows from these so equal values repeat in many forms.
const VALUES: Record<string, string[]> = {
  numeric: ["'1.0'", "'1.00'", "'1'", "'-0.0'", "'0'", "'NaN'", "'12345678901234567890.123456789'", "'0.1'", "'0.10'"],
  'double precision': ["'0'", "'-0'", "'NaN'", "'1e-300'", "'0.30000000000000004'", "'0.3'", "'Infinity'", "'-Infinity'"],
  text: ["''", "'\"'", "','", "E'a\\nb'", "E'a\\r\\nb'", "'NULL'", "'\\\\N'", "'é'", "'e'", "' '", "'x,\"y\"'"],
  timestamptz: ["'2024-01-01 00:00:00+00'", "'2024-01-01 01:00:00+01'", "'2023-12-31 19:00:00-05'", "'2024-01-01 00:00:00.000001+00'"],
  date: ["'2024-01-01'", "'2024-01-02'", "'infinity'", "'0044-03-15 BC'"],
  'char(4)': ["'ab'", "'ab  '", "'ab '", "'a'"],
  uuid: ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'"],
  boolean: ['true', 'false', "'t'", "'no'"],
};
const KEYS = ["''", "'k,1'", 'E\'k\\n"2"\'', "'K'", "'k'"];

describe('columnar distinct sets: every count equals PostgreSQL count(DISTINCT) over the same rows', () => {
  let pool: pg.Pool;
  let dbName: string;
  let db: pg.PoolClient;

  beforeAll(async () => {
    const { name, url } = await createScratchDatabase(inject('databaseUrl'), 'sets');
    dbName = name;
    pool = new pg.Pool({ connectionString: url, max: 3 });
    db = await pool.connect();
  });
  afterAll(async () => {
    db?.release();
    await pool?.end();
    await dropScratchDatabase(inject('databaseUrl'), dbName);
  });

  /** A store, an input table of (k text, v <type>, run int) rows and the state table the counts go to. */
  async function setup(name: string, type: string, rows: number, runs: number): Promise<{ set: DistinctSet; src: (run: number | 'all') => SetSource }> {
    const vals = VALUES[type]!;
    await db.query(`CREATE TABLE ${name}_in (k text, v ${type}, run int)`);
    // Every value in every run at least once (a run alone with one odd value must read), then random rows.
    const every = Array.from({ length: runs }, (_, run) => vals.map((v, i) => `(${KEYS[(i + run) % KEYS.length]}, ${v}::${type}, ${run})`)).flat();
    const random = Array.from({ length: rows }, () => `(${KEYS[randomInt(KEYS.length)]}, ${randomInt(10) === 0 ? 'NULL' : `${vals[randomInt(vals.length)]}::${type}`}, ${randomInt(runs)})`);
    const tuples = [...every, ...random];
    await db.query(`INSERT INTO ${name}_in VALUES ${tuples.join(', ')}`);
    await db.query(`CREATE TABLE ${name}_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO ${name}_state (k) SELECT DISTINCT k FROM ${name}_in`);
    const set = { table: `${name}_set`, keys: ['k'] };
    await createStore(db, set.table);
    const src = (run: number | 'all'): SetSource => ({ from: `${name}_in i`, keyExprs: ['i.k'], valueExpr: '(i.v)', members: [run === 'all' ? 'i.v IS NOT NULL' : `i.v IS NOT NULL AND i.run = ${run}`] });
    return { set, src };
  }

  /** PostgreSQL's own answer over the runs applied so far. */
  async function expected(name: string, upTo: number): Promise<Record<string, number>> {
    const r = await db.query<{ k: string; n: string }>(`SELECT k, count(DISTINCT v) AS n FROM ${name}_in WHERE run <= $1 GROUP BY k`, [upTo]);
    return Object.fromEntries(r.rows.filter((x) => Number(x.n) > 0).map((x) => [x.k, Number(x.n)]));
  }

  async function actual(name: string): Promise<Record<string, number>> {
    const r = await db.query<{ k: string; n: string }>(`SELECT k, n FROM ${name}_state WHERE n > 0`);
    return Object.fromEntries(r.rows.map((x) => [x.k, Number(x.n)]));
  }

  /**
   * One run, as the aggregate strategy applies it: new pairs per key added to the state. The run's
   * pairs are read by a query of their own, or (`viaExtract`) from a run extract that also holds
   * another set's columns (the value as the key, and another condition).
   */
  async function applyRun(name: string, set: DistinctSet, src: SetSource, viaExtract = false): Promise<void> {
    const oids = await sourceTypes(db, src);
    let counts: string | undefined;
    if (viaExtract) {
      const other: SetSource = { ...src, keyExprs: [src.valueExpr], valueExpr: src.keyExprs[0]!, members: src.members.map((c) => `${c} AND false`) };
      const extract = new RunExtract(src.from, [{ src: other, oids: [oids[1]!, oids[0]!] }, { src, oids }]);
      await extract.load(db);
      counts = await addPairs(db, set, { duck: extract.pairs(src, oids) }, oids, `n__${name}`);
      await extract.close();
    } else {
      counts = await addPairs(db, set, { pg: src }, oids, `n__${name}`);
    }
    await db.query(`CREATE TEMP TABLE d__${name} ON COMMIT DROP AS SELECT k, 0::bigint AS n FROM ${name}_state`);
    if (counts) await applyCounts(db, `pg_temp.d__${name}`, '__t', ['n'], ['k'], oids.slice(0, 1), counts);
    await db.query(`UPDATE ${name}_state s SET n = s.n + d.n FROM pg_temp.d__${name} d WHERE d.k = s.k`);
  }

  /** Runs 0…n−1 of `<name>_in` (column v by k), one transaction each, checked after each against PostgreSQL's own counts. */
  async function applyRunsChecked(name: string, set: DistinctSet, runs: number, viaExtract: (run: number) => boolean): Promise<void> {
    for (let run = 0; run < runs; run++) {
      await db.query('BEGIN');
      await applyRun(name, set, { from: `${name}_in i`, keyExprs: ['i.k'], valueExpr: '(i.v)', members: [`i.run = ${run}`] }, viaExtract(run));
      await db.query('COMMIT');
      expect(await actual(name)).toEqual(await expected(name, run));
    }
  }

  for (const type of Object.keys(VALUES)) {
    it(`${type}: values equal in PostgreSQL are one value, whatever their text; run by run, cold or warm`, async () => {
      const name = `t_${type.replace(/\W+/g, '_')}`;
      const runs = 6;
      const { set, src } = await setup(name, type, 400, runs);
      expect(columnarTypes(await sourceTypes(db, src('all')))).toBe(true);
      for (let run = 0; run < runs; run++) {
        if (run === 3) forgetCachedSets(); // a new process: the set is read back from its segments
        await db.query('BEGIN');
        await applyRun(name, set, src(run), run % 2 === 1);
        await db.query('COMMIT');
        expect(await actual(name)).toEqual(await expected(name, run));
      }
      // A full build from all rows gives the same counts, and later runs go on from it.
      await db.query('BEGIN');
      await db.query(`UPDATE ${name}_state SET n = 0`);
      const oids = await sourceTypes(db, src('all'));
      const counts = await buildPairs(db, set, { pg: src('all') }, oids, `n__${name}`);
      if (counts) await applyCounts(db, `${name}_state`, '__t', ['n'], ['k'], oids.slice(0, 1), counts);
      await db.query('COMMIT');
      expect(await actual(name)).toEqual(await expected(name, runs));
    });
  }

  it('a run of one row whose text holds a carriage return (CSV between the engines keeps it)', async () => {
    await db.query(`CREATE TABLE cr_in (k text, v text, run int)`);
    await db.query(`INSERT INTO cr_in VALUES (E'k\\r', E'a\\r\\nb', 0), (E'k\\r', E'a\\rb', 1), (E'k\\r', E'a\\nb', 2), (E'k\\r', E'a\\r\\nb', 3)`);
    await db.query(`CREATE TABLE cr_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO cr_state (k) VALUES (E'k\\r')`);
    const set = { table: 'cr_set', keys: ['k'] };
    await createStore(db, set.table);
    for (let run = 0; run < 4; run++) {
      await db.query('BEGIN');
      await applyRun('cr', set, { from: 'cr_in i', keyExprs: ['i.k'], valueExpr: '(i.v)', members: [`i.run = ${run}`] }, run % 2 === 1);
      await db.query('COMMIT');
      expect(await actual('cr')).toEqual({ 'k\r': [1, 2, 3, 3][run] });
    }
  });

  it('a key that starts with a byte-order mark keeps it (DuckDB drops one at the start of a CSV file)', async () => {
    await db.query(`CREATE TABLE bom_in (k text, v text, run int)`);
    await db.query(`INSERT INTO bom_in VALUES ('k', 'a', 0), (E'\\uFEFFk', 'b', 1), (E'\\uFEFFk', 'c', 2), (E'\\uFEFFk', 'd', 2)`);
    await db.query(`CREATE TABLE bom_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO bom_state (k) VALUES ('k'), (E'\\uFEFFk')`);
    const set = { table: 'bom_set', keys: ['k'] };
    await createStore(db, set.table);
    await applyRunsChecked('bom', set, 3, (run) => run === 2);
    expect(await actual('bom')).toEqual({ k: 1, '\uFEFFk': 3 });
  });

  it('long texts are kept as their SHA-256: counts stay exact at the 64-byte edge, a text spelling a digest is not one, segments stay small', async () => {
    // 48 kB of hex that does not compress away, ending with `tail`.
    const long = (tail: string) => `(SELECT string_agg(md5(i || '${tail}'), '') FROM generate_series(1, 1500) i) || '${tail}'`;
    await db.query(`CREATE TABLE lt_in (k text, v text, run int)`);
    // A 64-byte and a 65-byte text, long texts differing only at the end, and the digest text of one of them as a value of its own.
    await db.query(`INSERT INTO lt_in VALUES ('k', repeat('a', 64), 0), ('k', repeat('a', 65), 0), ('k', ${long('1')}, 0), ('k', ${long('2')}, 1), ('k', ${long('1')}, 1), ('k', repeat('a', 64), 1)`);
    await db.query(`INSERT INTO lt_in SELECT 'k', 'sha256:' || encode(sha256(convert_to(${long('1')}, 'UTF8')), 'hex'), 2`);
    await db.query(`INSERT INTO lt_in SELECT 'j' || (g % 3), repeat(chr(1000 + g % 7), 30) || g || repeat('é', 40), 2 FROM generate_series(1, 200) g`); // multi-byte: over 64 bytes, under 64 letters
    await db.query(`CREATE TABLE lt_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO lt_state (k) SELECT DISTINCT k FROM lt_in`);
    const set = { table: 'lt_set', keys: ['k'] };
    await createStore(db, set.table);
    await applyRunsChecked('lt', set, 3, (run) => run === 1);
    expect((await actual('lt')).k).toBe(5);
    const bytes = await db.query<{ n: number }>(`SELECT sum(octet_length(data))::int AS n FROM lt_set`);
    expect(bytes.rows[0]!.n).toBeLessThan(40_000); // three 48 kB values (~24 kB each as zstd) and 200 long ones, as digests
  });

  it("rows over DuckDB's 2 MB line limit, with quotes, newlines and a leading byte-order mark, cross between the engines unchanged", async () => {
    await db.query(`CREATE TABLE csv_in AS SELECT g AS id, CASE g WHEN 1 THEN repeat(E'"a,\\n', 700000) WHEN 2 THEN E'\\uFEFFbom' ELSE 'plain' || g END AS v FROM generate_series(1, 3) g`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pgcsv-'));
    const duck = await DuckDBInstance.create(':memory:');
    const con = await duck.connect();
    try {
      const csv = await copyToCsv(db, 'SELECT id, v FROM csv_in', path.join(dir, 'rows.csv'));
      expect(csv.rows).toBe(3);
      expect(csv.longest).toBeGreaterThan(3_400_000); // 700,000 × 4 characters, each quote doubled
      const got = (await con.runAndReadAll(`SELECT id, md5(v) AS h, length(v) AS n FROM ${readPgCsv(csv, [['id', 'INTEGER'], ['v', 'VARCHAR']])} ORDER BY id`)).getRows();
      const want = (await db.query(`SELECT id, md5(v) AS h, length(v) AS n FROM csv_in ORDER BY id`)).rows;
      expect(got.map((r) => [Number(r[0]), r[1], Number(r[2])])).toEqual(want.map((r) => [r.id, r.h, r.n]));
    } finally {
      con.closeSync();
      duck.closeSync();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('3 MB values with quotes and newlines count exactly (as their digests), run by run and in a full build', async () => {
    // Distinct values of 2.5–3 MB: each makes its CSV record longer than DuckDB reads by default.
    const big = (seed: number) => `repeat(${seed} || E'"a,\\n', ${600_000 + seed})`;
    await db.query(`CREATE TABLE big_in (k text, v text, run int)`);
    await db.query(`INSERT INTO big_in VALUES ('k', ${big(1)}, 0), ('k', ${big(2)}, 0), ('k', ${big(1)}, 1), ('k', ${big(3)}, 1), ('j', ${big(1)}, 2), ('k', 'small', 2)`);
    await db.query(`CREATE TABLE big_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO big_state (k) VALUES ('k'), ('j')`);
    expect((await db.query(`SELECT min(octet_length(v))::int AS n FROM big_in WHERE v <> 'small'`)).rows[0].n).toBeGreaterThan(2_400_000);
    const set = { table: 'big_set', keys: ['k'] };
    await createStore(db, set.table);
    const src = (run: number | 'all'): SetSource => ({ from: 'big_in i', keyExprs: ['i.k'], valueExpr: '(i.v)', members: [run === 'all' ? 'true' : `i.run = ${run}`] });
    for (let run = 0; run < 3; run++) {
      await db.query('BEGIN');
      await applyRun('big', set, src(run), run === 1);
      await db.query('COMMIT');
      expect(await actual('big')).toEqual(await expected('big', run));
    }
    expect(await actual('big')).toEqual({ k: 4, j: 1 });
    forgetCachedSets(); // read back from its segments, then built again from all rows
    await db.query('BEGIN');
    await db.query(`UPDATE big_state SET n = 0`);
    const oids = await sourceTypes(db, src('all'));
    const counts = await buildPairs(db, set, { pg: src('all') }, oids, 'n__big');
    if (counts) await applyCounts(db, 'big_state', '__t', ['n'], ['k'], oids.slice(0, 1), counts);
    await db.query('COMMIT');
    expect(await actual('big')).toEqual({ k: 4, j: 1 });
  });

  it('one run extract serves sets under 70 different conditions (more than one 62-bit mask column)', async () => {
    await db.query(`CREATE TABLE mk_in AS SELECT 'k' || (g % 3) AS k, (g * 7919) % 500 AS v, g FROM generate_series(1, 3000) g`);
    const sets = Array.from({ length: 70 }, (_, j): SetSource => ({ from: 'mk_in i', keyExprs: ['i.k'], valueExpr: '(i.v)', members: [`i.v IS NOT NULL AND i.g % 70 >= ${j}`] }));
    const oids = await sourceTypes(db, sets[0]!);
    const extract = new RunExtract('mk_in i', sets.map((src) => ({ src, oids })));
    await db.query('BEGIN');
    try {
      await extract.load(db);
      for (const j of [0, 1, 30, 61, 62, 63, 69]) {
        const set = { table: `mk_set${j}`, keys: ['k'] };
        await createStore(db, set.table);
        const counts = await addPairs(db, set, { duck: extract.pairs(sets[j]!, oids) }, oids, `n__mk${j}`);
        const got = await db.query<{ k: string; n: string }>(`SELECT c0 AS k, n FROM ${counts} ORDER BY 1`);
        const want = await db.query<{ k: string; n: string }>(`SELECT k, count(DISTINCT v) AS n FROM mk_in WHERE g % 70 >= $1 GROUP BY k ORDER BY 1`, [j]);
        expect(got.rows.map((r) => [r.k, Number(r.n)])).toEqual(want.rows.map((r) => [r.k, Number(r.n)]));
      }
    } finally {
      await extract.close();
      await db.query('ROLLBACK');
    }
  });

  it('three sets of one model in one call: one table of counts, a set that gains nothing counts 0, then a full build of all three', async () => {
    await db.query(`CREATE TABLE ms_in AS SELECT 'k' || (g % 4) AS k, g % 37 AS a, (g * 13) % 11 AS b, g % 5 AS c, g % 6 AS run FROM generate_series(1, 2400) g`);
    await db.query(`UPDATE ms_in SET c = NULL WHERE run >= 3`); // set c gains nothing after run 2
    await db.query(`CREATE TABLE ms_state (k text PRIMARY KEY, na bigint NOT NULL DEFAULT 0, nb bigint NOT NULL DEFAULT 0, nc bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO ms_state (k) SELECT DISTINCT k FROM ms_in`);
    const cols = ['a', 'b', 'c'] as const;
    for (const c of cols) await createStore(db, `ms_set_${c}`);
    const src = (c: string, run: number | 'all'): SetSource => ({ from: 'ms_in i', keyExprs: ['i.k'], valueExpr: `(i.${c})`, members: [`i.${c} IS NOT NULL${run === 'all' ? '' : ` AND i.run = ${run}`}${c === 'b' ? ' AND i.a % 2 = 0' : ''}`] });
    const want = async (upTo: number) =>
      (await db.query(`SELECT k, count(DISTINCT a)::int AS na, count(DISTINCT b) FILTER (WHERE a % 2 = 0)::int AS nb, count(DISTINCT c)::int AS nc FROM ms_in WHERE run <= $1 GROUP BY k ORDER BY k`, [upTo])).rows;
    const got = async () => (await db.query(`SELECT k, na::int, nb::int, nc::int FROM ms_state WHERE na + nb + nc > 0 ORDER BY k`)).rows;
    const works = async (run: number | 'all') =>
      Promise.all(cols.map(async (c) => ({ set: { table: `ms_set_${c}`, keys: ['k'] }, pairs: { pg: src(c, run) }, oids: await sourceTypes(db, src(c, 'all')), columns: [`n${c}`] })));
    for (let run = 0; run < 6; run++) {
      await db.query('BEGIN');
      await db.query(`CREATE TEMP TABLE ms_d ON COMMIT DROP AS SELECT k, 0::bigint AS na, 0::bigint AS nb, 0::bigint AS nc FROM ms_state`);
      const counts = await maintainSets(db, await works(run), 'add', 'n__ms');
      const columns = ['na', 'nb', 'nc'];
      if (counts) await applyCounts(db, 'pg_temp.ms_d', '__t', columns, ['k'], [25], counts);
      await db.query(`UPDATE ms_state s SET na = s.na + d.na, nb = s.nb + d.nb, nc = s.nc + d.nc FROM pg_temp.ms_d d WHERE d.k = s.k`);
      await db.query('COMMIT');
      expect(await got()).toEqual(await want(run));
    }
    await db.query('BEGIN');
    await db.query(`UPDATE ms_state SET na = 0, nb = 0, nc = 0`);
    const counts = await maintainSets(db, await works('all'), 'build', 'n__ms');
    await applyCounts(db, 'ms_state', '__t', ['na', 'nb', 'nc'], ['k'], [25], counts!);
    await db.query('COMMIT');
    expect(await got()).toEqual(await want(5));
  });

  it('the counts of one value under several FILTERs are one set: each pair kept once with its members, a pair gaining members later counts for them once, cold, compacted and rebuilt', async () => {
    // Members: t = 'a', t = 'b', t in (a, b), any t (a funnel: sessions with a view, with a cart, with either, all).
    const runs = COMPACT_AT + 3;
    await db.query(`CREATE TABLE mm_in AS SELECT 'k' || (g % 5) AS k, CASE WHEN g % 13 = 0 THEN NULL ELSE (g * 7919) % 2000 END AS v, (ARRAY['a', 'b', 'c'])[1 + (g * 31) % 3] AS t, (g * 17) % ${runs} AS run FROM generate_series(1, 6000) g`);
    const conds = [`i.t = 'a'`, `i.t = 'b'`, `i.t IN ('a', 'b')`, 'true'];
    const cols = ['n0', 'n1', 'n2', 'n3'];
    await db.query(`CREATE TABLE mm_state (k text PRIMARY KEY, ${cols.map((c) => `${c} bigint NOT NULL DEFAULT 0`).join(', ')})`);
    await db.query(`INSERT INTO mm_state (k) SELECT DISTINCT k FROM mm_in`);
    const set = { table: 'mm_set', keys: ['k'] };
    await createStore(db, set.table);
    const src = (run: number | 'all'): SetSource => ({
      from: 'mm_in i',
      keyExprs: ['i.k'],
      valueExpr: '(i.v)',
      members: conds.map((c) => `i.v IS NOT NULL AND ${c}${run === 'all' ? '' : ` AND i.run = ${run}`}`),
    });
    const oids = await sourceTypes(db, src('all'));
    // The data has pairs that gain a member after their first run (a view first, a cart later).
    const gaining = await db.query(`SELECT count(*)::int AS n FROM (SELECT k, v, t, min(run) AS r FROM mm_in WHERE v IS NOT NULL GROUP BY k, v, t) x JOIN (SELECT k, v, min(run) AS r FROM mm_in WHERE v IS NOT NULL GROUP BY k, v) f USING (k, v) WHERE x.r > f.r`);
    expect(gaining.rows[0].n).toBeGreaterThan(100);
    // The oracle: PostgreSQL's count(DISTINCT v) FILTER per member over the runs so far.
    const want = async (upTo: number) =>
      (await db.query(`SELECT k, ${conds.map((c, j) => `count(DISTINCT v) FILTER (WHERE ${c.replace(/i\./g, '')})::int AS n${j}`).join(', ')} FROM mm_in WHERE run <= $1 GROUP BY k HAVING count(v) > 0 ORDER BY k`, [upTo])).rows;
    const got = async () => (await db.query(`SELECT k, ${cols.map((c) => `${c}::int`).join(', ')} FROM mm_state WHERE n3 > 0 ORDER BY k`)).rows;
    let most = 0;
    for (let run = 0; run < runs; run++) {
      if (run === 5) forgetCachedSets(); // cold: the pairs' several rows are read back from the segments
      await db.query('BEGIN');
      let pairs: RunPairs = { pg: src(run) };
      const extract = run % 2 ? new RunExtract('mm_in i', [{ src: src(run), oids }]) : undefined;
      if (extract) {
        await extract.load(db);
        pairs = { duck: extract.pairs(src(run), oids) };
      }
      const counts = await maintainSets(db, [{ set, pairs, oids, columns: cols }], 'add', 'n__mm');
      await extract?.close();
      await db.query(`CREATE TEMP TABLE mm_d ON COMMIT DROP AS SELECT k, ${cols.map((c) => `0::bigint AS ${c}`).join(', ')} FROM mm_state`);
      if (counts) await applyCounts(db, 'pg_temp.mm_d', '__t', cols, ['k'], oids.slice(0, 1), counts);
      await db.query(`UPDATE mm_state s SET ${cols.map((c) => `${c} = s.${c} + d.${c}`).join(', ')} FROM pg_temp.mm_d d WHERE d.k = s.k`);
      await db.query('COMMIT');
      expect(await got()).toEqual(await want(run));
      most = Math.max(most, (await db.query(`SELECT count(*)::int AS n FROM mm_set`)).rows[0].n);
    }
    expect(most).toBe(COMPACT_AT - 1);
    // After compaction and after a build, each pair is one row: as many as there are distinct (k, v).
    const distinctPairs = (await db.query(`SELECT count(*)::int AS n FROM (SELECT DISTINCT k, v FROM mm_in WHERE v IS NOT NULL) p`)).rows[0].n;
    await db.query('BEGIN');
    await db.query(`UPDATE mm_state SET ${cols.map((c) => `${c} = 0`).join(', ')}`);
    const counts = await maintainSets(db, [{ set, pairs: { pg: src('all') }, oids, columns: cols }], 'build', 'n__mm');
    await applyCounts(db, 'mm_state', '__t', cols, ['k'], oids.slice(0, 1), counts!);
    await db.query('COMMIT');
    expect(await got()).toEqual(await want(runs));
    expect((await db.query(`SELECT sum(pairs)::int AS n FROM mm_set`)).rows[0].n).toBe(distinctPairs);
  });

  it('a rolled-back run leaves nothing behind: its pairs count again in the next run', async () => {
    const { set, src } = await setup('rb', 'text', 300, 2);
    await db.query('BEGIN');
    await applyRun('rb', set, src(0));
    await db.query('ROLLBACK'); // the process's copy still has run 0's pairs; the store does not
    expect((await db.query(`SELECT count(*)::int AS n FROM rb_set`)).rows[0].n).toBe(0);
    await db.query('BEGIN');
    await applyRun('rb', set, src(0));
    await db.query('COMMIT');
    expect(await actual('rb')).toEqual(await expected('rb', 0));
    await db.query('BEGIN');
    await applyRun('rb', set, src(1));
    await db.query('COMMIT');
    expect(await actual('rb')).toEqual(await expected('rb', 1));
  });

  it(`many runs: the segments are merged at ${COMPACT_AT} and the counts stay exact`, async () => {
    const runs = COMPACT_AT + 4;
    await db.query(`CREATE TABLE cp_in AS SELECT 'k' || (g % 7) AS k, g AS v, g % ${runs} AS run FROM generate_series(1, 5000) g`);
    await db.query(`INSERT INTO cp_in SELECT k, v, (run + 1) % ${runs} FROM cp_in WHERE v % 3 = 0`); // repeats in later runs
    await db.query(`CREATE TABLE cp_state (k text PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await db.query(`INSERT INTO cp_state (k) SELECT DISTINCT k FROM cp_in`);
    const set = { table: 'cp_set', keys: ['k'] };
    await createStore(db, set.table);
    let most = 0;
    for (let run = 0; run < runs; run++) {
      await db.query('BEGIN');
      await applyRun('cp', set, { from: 'cp_in i', keyExprs: ['i.k'], valueExpr: '(i.v)', members: [`i.run = ${run}`] }, run % 3 === 0);
      await db.query('COMMIT');
      most = Math.max(most, (await db.query(`SELECT count(*)::int AS n FROM cp_set`)).rows[0].n);
    }
    expect(most).toBe(COMPACT_AT - 1);
    expect((await db.query(`SELECT count(*)::int AS n FROM cp_set`)).rows[0].n).toBeLessThan(COMPACT_AT / 2);
    expect((await db.query(`SELECT sum(pairs)::int AS n FROM cp_set`)).rows[0].n).toBe(5000);
    expect(await actual('cp')).toEqual(await expected('cp', runs));
  });

  it('the sets engine takes half of the engine memory limit (at least 64MB), in DuckDB units', () => {
    expect([halfOf('400MB'), halfOf('1GB'), halfOf('1.5GiB'), halfOf(' 512 mb '), halfOf('3KB'), halfOf('lots')]).toEqual(['200MB', '500MB', '805MB', '256MB', '64MB', 'lots']);
  });

  it('types without a canonical text are not columnar (intervals: 1 day = 24 hours in PostgreSQL)', async () => {
    const res = await db.query(`SELECT interval '1 day' AS a, '{1}'::int[] AS b, '{}'::jsonb AS c, 1::bigint AS d`);
    expect(res.fields.map((f) => canonical('x', f.dataTypeID) !== undefined)).toEqual([false, false, false, true]);
  });
});
