import { dropScratchDatabase } from '../shared/local/scratchDatabase';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { checkReadOnlyQuery, readOnlyQuery, sqlStatements } from '../shared/cli/commands/sql';
import { main } from '../shared/cli/main';
import { silentLogger } from '../shared/log';
import type { Platform } from '../shared/platform';
import { freshPlatform, wipeLake } from './support/platform';

function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  return { ctx: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l), log: silentLogger }, out, err };
}

/** Statements that try to write, or to get out of the read-only transaction. */
const ESCAPES = [
  'COMMIT; CREATE TABLE gold.x(i int)',
  'ROLLBACK; CREATE TABLE gold.x(i int)',
  'END; INSERT INTO public.cli_t VALUES (1)',
  'SELECT 1; CREATE TABLE gold.x(i int)',
  'SELECT 1; DROP TABLE public.cli_t',
  "SELECT ';'; CREATE TABLE gold.x(i int)",
  'SELECT $$;$$; CREATE TABLE gold.x(i int)',
  'CREATE TABLE gold.x(i int)',
  'INSERT INTO public.cli_t VALUES (1)',
  'UPDATE public.cli_t SET i = 2',
  'DELETE FROM public.cli_t',
  'DROP TABLE public.cli_t',
  'TRUNCATE public.cli_t',
  'COMMIT',
  'ROLLBACK',
  'BEGIN',
  'START TRANSACTION READ WRITE',
  'SET TRANSACTION READ WRITE',
  'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
  'SET default_transaction_read_only = off',
  'SET transaction_read_only = off',
  'RESET ALL',
  'WITH x AS (INSERT INTO public.cli_t VALUES (1) RETURNING i) SELECT * FROM x',
  'WITH x AS (DELETE FROM public.cli_t RETURNING i) SELECT count(*) FROM x',
  'SELECT * INTO public.cli_copy FROM public.cli_t',
  "SELECT set_config('transaction_read_only', 'off', false)",
  "SELECT set_config('transaction_read_only', 'off', true)",
  "SELECT nextval('public.cli_seq')",
  'EXPLAIN ANALYZE INSERT INTO public.cli_t VALUES (1)',
  'SELECT * FROM public.cli_t FOR UPDATE',
  'DO $$ BEGIN CREATE TABLE gold.x(i int); END $$',
  'CALL public.cli_write()',
  'COPY public.cli_t FROM STDIN',
  'VACUUM public.cli_t',
  "PREPARE w AS INSERT INTO public.cli_t VALUES (1)",
  'LOCK TABLE public.cli_t',
  'SELECT public.cli_write_fn()',
];

const HARMLESS = new Set([
  'BEGIN',
  'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
  'SET default_transaction_read_only = off',
  'RESET ALL',
  'PREPARE w AS INSERT INTO public.cli_t VALUES (1)',
  'LOCK TABLE public.cli_t', // held until the ROLLBACK right after
]);

describe('medallion sql is read-only for real', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let database: string;

  beforeAll(async () => {
    ({ platform, env, database } = await freshPlatform());
    await platform.pool.query(`
      CREATE TABLE public.cli_t (i int);
      INSERT INTO public.cli_t VALUES (7);
      CREATE SEQUENCE public.cli_seq;
      CREATE PROCEDURE public.cli_write() LANGUAGE sql AS 'INSERT INTO public.cli_t VALUES (1)';
      CREATE FUNCTION public.cli_write_fn() RETURNS int LANGUAGE plpgsql AS 'BEGIN INSERT INTO public.cli_t VALUES (1); RETURN 1; END';
    `);
  });
  afterAll(async () => {
    await platform?.close();
    await wipeLake();
    if (database) await dropScratchDatabase(inject('databaseUrl'), database);
  });

  /** Nothing was written: no new table, the test table unchanged, the sequence unused, settings intact. */
  async function expectUntouched(): Promise<void> {
    const { rows } = await platform.pool.query(
      `SELECT to_regclass('gold.x') AS x, to_regclass('public.cli_copy') AS copy,
              (SELECT array_agg(i) FROM public.cli_t) AS t,
              (SELECT last_value FROM public.cli_seq) AS seq, (SELECT is_called FROM public.cli_seq) AS called`,
    );
    expect(rows[0]).toEqual({ x: null, copy: null, t: [7], seq: '1', called: false });
  }

  it.each(ESCAPES)('the command refuses or fails, and nothing is written: %s', async (query) => {
    const run = cli(env);
    const code = await main(['sql', query], run.ctx);
    expect(code).not.toBe(0);
    expect(run.err.join('\n')).toMatch(/read-only|exactly one statement|refused|not allowed/i);
    expect(run.err.join('\n')).not.toMatch(/^\s+at /m);
    await expectUntouched();
  });

  it.each(ESCAPES)('without the text checks, the database itself lets nothing through: %s', async (query) => {
    const attempt = readOnlyQuery(platform.pool, query, { timeoutMs: 5000 });
    // These do nothing harmful inside the transaction (a no-op BEGIN, defaults for later
    // transactions of a connection that is then thrown away, a prepared statement that never runs).
    if (HARMLESS.has(query)) await attempt;
    else await expect(attempt).rejects.toThrow();
    await expectUntouched();
  });

  it('a query that changes session settings leaves no trace on the pool', async () => {
    await readOnlyQuery(platform.pool, "SELECT set_config('default_transaction_read_only', 'off', false), set_config('statement_timeout', '0', false)");
    // Every connection the pool hands out afterwards has the server defaults.
    const clients = await Promise.all([1, 2, 3].map(() => platform.pool.connect()));
    try {
      for (const c of clients) {
        const { rows } = await c.query(`SELECT current_setting('statement_timeout') AS st`);
        expect(rows[0].st).toBe('0'); // server default; never the value a query set
      }
    } finally {
      for (const c of clients) c.release();
    }
    await expect(readOnlyQuery(platform.pool, 'WITH x AS (INSERT INTO public.cli_t VALUES (1) RETURNING i) SELECT * FROM x')).rejects.toThrow(/read-only/);
    await expectUntouched();
  });

  it('reads work: one statement, with comments, quotes and a trailing semicolon', async () => {
    for (const q of [
      'SELECT i FROM public.cli_t',
      'select i from public.cli_t;',
      "SELECT ';' AS s, i FROM public.cli_t -- ; DROP TABLE public.cli_t",
      '/* ; */ SELECT $x$;$x$ AS s, i FROM public.cli_t',
      '(SELECT i FROM public.cli_t)',
      'WITH t AS (SELECT i FROM public.cli_t) SELECT * FROM t',
      'VALUES (7)',
      'TABLE public.cli_t',
      'SHOW transaction_read_only',
      'EXPLAIN SELECT * FROM public.cli_t',
    ]) {
      const run = cli(env);
      expect(await main(['sql', '--json', q], run.ctx), q).toBe(0);
      expect(JSON.parse(run.out.join('\n')), q).toHaveLength(1);
    }
    const ro = cli(env);
    await main(['sql', '--json', 'SHOW transaction_read_only'], ro.ctx);
    expect(JSON.parse(ro.out.join('\n'))).toEqual([{ transaction_read_only: 'on' }]);
    // Columns that share a name are all printed (a later one no longer hides an earlier one).
    const dup = cli(env);
    expect(await main(['sql', '--json', 'SELECT 1 AS x, 2 AS x, count(*), count(*) FILTER (WHERE false) FROM public.cli_t'], dup.ctx)).toBe(0);
    expect(JSON.parse(dup.out.join('\n'))).toEqual([{ x: 1, x_2: 2, count: '1', count_2: '0' }]);
    const table = cli(env);
    expect(await main(['sql', 'SELECT 1 AS x, 2 AS x'], table.ctx)).toBe(0);
    expect(table.out.join('\n')).toMatch(/x\s+x_2/);
  });

  it('json and jsonb values print exactly as PostgreSQL stores them, in the table and with --json', async () => {
    // Numbers a JavaScript double would change: trailing zeros, beyond 2^53, beyond double range.
    const exact = ['1500.00', '9007199254740993', '12345678901234567890123.5', '-0.000000000000000000001'];
    const q = `SELECT '[${exact.join(', ')}]'::jsonb AS b, '[1e400, 1500.00]'::json AS j, 7::bigint AS big`;
    const json = cli(env);
    expect(await main(['sql', '--json', q], json.ctx)).toBe(0);
    const text = json.out.join('\n');
    // An independent reading: the printed text carries every literal digit for digit.
    for (const v of exact) expect(text, v).toContain(v);
    expect(text).toContain('[1e400, 1500.00]'); // json keeps its text verbatim
    expect(text).not.toMatch(/null/);
    // It is still one valid JSON document with the rows' shape.
    const parsed = JSON.parse(text) as Record<string, unknown>[];
    expect(parsed).toHaveLength(1);
    expect(Object.keys(parsed[0]!)).toEqual(['b', 'j', 'big']);
    expect((parsed[0]!.b as unknown[]).length).toBe(exact.length);
    expect(parsed[0]!.big).toBe('7');
    const table = cli(env);
    expect(await main(['sql', q], table.ctx)).toBe(0);
    for (const v of [...exact, '1e400']) expect(table.out.join('\n'), v).toContain(v);
  });

  it('every other type prints as PostgreSQL prints it too: microseconds and offsets, -0 and Infinity, intervals, bytea, arrays; control characters never break a table row, and piped values are never cut', async () => {
    const q = `SELECT '2026-12-01 04:00:00.123456+00'::timestamptz AS t, '2026-12-01 04:00:00.5'::timestamp AS ts, '-0'::float8 AS z, 'Infinity'::float8 AS inf,
                      'NaN'::numeric AS nan, '1 day 02:00:00.000001'::interval AS i, 'x'::bytea AS b, ARRAY[1, 2] AS a, 12::int4 AS n, true AS ok,
                      E'x\\ny\\t"q"' AS s, repeat('w', 300) AS long`;
    const json = cli(env);
    expect(await main(['sql', '--json', q], json.ctx)).toBe(0);
    // Read by an independent reading of what PostgreSQL prints (its text output, by hand).
    expect(JSON.parse(json.out.join('\n'))).toEqual([
      { t: '2026-12-01 04:00:00.123456+00', ts: '2026-12-01 04:00:00.5', z: '-0', inf: 'Infinity', nan: 'NaN', i: '1 day 02:00:00.000001', b: '\\x78', a: '{1,2}', n: 12, ok: true, s: 'x\ny\t"q"', long: 'w'.repeat(300) },
    ]);
    const table = cli(env);
    expect(await main(['sql', q], table.ctx)).toBe(0);
    const lines = table.out.join('\n').split('\n');
    expect(lines).toHaveLength(3); // header, rule, one row: the newline and tab are shown as \n and \t
    expect(lines[2]).toContain('x\\ny\\t"q"');
    expect(lines[2]).toContain('w'.repeat(300)); // not a terminal: nothing is cut
    expect(lines[2]).toContain('2026-12-01 04:00:00.123456+00');
    // C1 controls (an 8-bit terminal escape) and the Unicode line separators are escaped too.
    const c1 = cli(env);
    expect(await main(['sql', "SELECT 'a' || chr(133) || 'b' || chr(155) || 'c' || chr(8232) || 'd' AS s"], c1.ctx)).toBe(0);
    expect(c1.out.join('\n').split('\n')[2]).toBe('a\\u0085b\\u009bc\\u2028d');
  });

  it('a statement timeout stops a long query', async () => {
    const run = cli(env);
    const t0 = Date.now();
    expect(await main(['sql', '--timeout', '1', 'SELECT pg_sleep(10)'], run.ctx)).toBe(1);
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(run.err.join('\n')).toMatch(/statement timeout.*--timeout 1/);
  });

  it('--timeout outside PostgreSQL\'s range is a usage error (exit 2, one line) before anything runs', async () => {
    for (const t of ['0', '-1', '1e9', 'abc', '2147484']) {
      const run = cli(env);
      expect(await main(['sql', '--timeout', t, 'SELECT 1'], run.ctx), t).toBe(2);
      expect(run.err[0], t).toContain(`--timeout must be a number of seconds above 0 and at most 2147483 (about 24 days), got '${t}'`);
    }
    const ok = cli(env);
    expect(await main(['sql', '--timeout', '2147483', 'SELECT 1 AS one'], ok.ctx)).toBe(0);
  });

  it('the statement splitter follows the PostgreSQL lexer', () => {
    expect(sqlStatements("SELECT 'a;b', \"c;d\", $$e;f$$, $t$g;$$h$t$, E'i\\';j' -- k;\n/* l; /* m; */ n; */ ;")).toHaveLength(1);
    expect(sqlStatements('SELECT 1; SELECT 2')).toEqual(['SELECT 1', 'SELECT 2']);
    expect(sqlStatements(' ;; -- nothing\n')).toEqual([]);
    expect(() => checkReadOnlyQuery('SELECT 1; SELECT 2')).toThrow(/exactly one statement; this input has 2/);
    expect(() => checkReadOnlyQuery('COMMIT')).toThrow(/read-only.*not 'COMMIT'/);
    expect(() => checkReadOnlyQuery('-- only a comment')).toThrow(/give a query/);
  });
});
