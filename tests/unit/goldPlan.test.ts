import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Contract } from '../../shared/contracts/contract';
import { GoldGraph, goldModels, parseGoldModel } from '../../shared/gold/models';
import { type AggregatePlan, type LatestPlan, planModel } from '../../shared/gold/plan';
import { replaceTableRef, tokenize } from '../../shared/gold/sqlText';

const ctx = { appendOnly: (d: string) => d !== 'customers', isModel: (t: string) => t === 'm1' || t === 'funnel' };

function aggregate(sql: string): AggregatePlan {
  const p = planModel(sql, ctx);
  if (p.kind !== 'aggregate') throw new Error(`expected aggregate, got ${p.kind}: ${'reason' in p ? p.reason : ''}`);
  return p;
}

describe('gold planner: the strategy derived from one SELECT', () => {
  it('an aggregate over an append-only dataset: keys, aggregates (deduplicated), outputs over the state', () => {
    const p = aggregate(`-- leading comment, with a comma, and (parentheses
      SELECT user_id,
             count(*) AS n,
             count(*) FILTER (WHERE t = 'a,b') AS n_ab,
             coalesce(sum(round(price::numeric, 2)) FILTER (WHERE t = 'p'), 0) AS revenue,
             gold_state.money_avg(sum(round(price::numeric, 2)) FILTER (WHERE t = 'p'), count(*) FILTER (WHERE t = 'p')) AS avg,
             count(DISTINCT s) AS sessions,
             (max(ARRAY[gold_state.ts_key(at), id, brand]))[3] AS brand
      FROM silver.events e
      GROUP BY e.user_id`);
    expect(p.input).toEqual({ kind: 'silver', dataset: 'events' });
    expect(p.alias).toBe('e');
    expect(p.keys).toEqual(['user_id']);
    // count(*), count(*) FILTER 'a,b', sum FILTER p, count(*) FILTER p, count(DISTINCT s), max(ARRAY…): the repeated sum/count are one column each.
    expect(p.aggregates.map((a) => a.fn)).toEqual(['count', 'count', 'sum', 'count', 'count_distinct', 'max']);
    expect(p.aggregates[1]!.filter).toBe("t = 'a,b'");
    expect(p.aggregates[5]!.arg).toBe('ARRAY[gold_state.ts_key(at), id, brand]');
    const out = Object.fromEntries(p.outputs.map((o) => [o.column, o.expr]));
    expect(out.revenue).toBe('coalesce((CASE WHEN e.__a3n > 0 THEN e.__a3 END), 0)');
    expect(out.avg).toBe('gold_state.money_avg((CASE WHEN e.__a3n > 0 THEN e.__a3 END), e.__a4)');
    expect(out.sessions).toBe('e.__a5');
    expect(out.brand).toBe('(e.__a6)[3]');
  });

  it("a distinct count's argument that is a bare column is known as that column (one column of the run extract with the keys)", () => {
    const p = aggregate(`SELECT k, count(DISTINCT s) AS a, count(DISTINCT e.s) AS b, count(DISTINCT "Mixed") AS c, count(DISTINCT lower(s)) AS d,
      count(DISTINCT (s)) AS f, count(DISTINCT true) AS g, count(DISTINCT current_date) AS h FROM silver.events e GROUP BY k`);
    expect(p.aggregates.map((a) => a.argColumn)).toEqual(['s', 's', 'Mixed', undefined, undefined, undefined, undefined]);
  });

  it('a projection without GROUP BY is row-wise; its copied columns are known (for the primary key)', () => {
    const p = planModel(`SELECT customer_id, round(x::numeric, 2) AS x, c.y FROM silver.customers c WHERE c.y IS NOT NULL`, ctx);
    expect(p.kind).toBe('rows');
    if (p.kind !== 'rows') return;
    expect(p.columns).toEqual(['customer_id', 'x', 'y']);
    expect([...p.passthrough]).toEqual([
      ['customer_id', 'customer_id'],
      ['y', 'y'],
    ]);
    expect(p.template).toContain('{{input}} AS c WHERE');
  });

  it('recompute, with the reason, for what partial state cannot follow', () => {
    const reason = (sql: string) => {
      const p = planModel(sql, ctx);
      return p.kind === 'recompute' ? p.reason : `not recompute: ${p.kind}`;
    };
    expect(reason('SELECT a, count(*) AS n FROM silver.x JOIN silver.y USING (a) GROUP BY a')).toMatch(/joins/);
    expect(reason('SELECT a, avg(b) AS m FROM silver.x GROUP BY a')).toMatch(/avg\(\) cannot be merged/);
    expect(reason('SELECT a, count(*) AS n FROM silver.customers GROUP BY a')).toMatch(/updated in place/);
    // A row value has no column type for its set: recomputed (PostgreSQL counts distinct rows fine).
    expect(reason('SELECT a, count(DISTINCT (b, c)) AS n FROM silver.x GROUP BY a')).toMatch(/row value/);
    expect(reason('SELECT a, count(DISTINCT ROW(b, c)) AS n FROM silver.x GROUP BY a')).toMatch(/row value/);
    expect(planModel('SELECT a, count(DISTINCT (b)) AS n, count(DISTINCT (b) + (c)) AS m, count(DISTINCT ARRAY[b, c]) AS k FROM silver.x GROUP BY a', ctx).kind).toBe('aggregate');
    expect(reason('SELECT a, min(b) AS m FROM gold.m1 GROUP BY a')).toMatch(/min\(\) over another model/);
    expect(reason('SELECT a, rank() OVER (ORDER BY b) AS r FROM silver.x')).toMatch(/window/);
    expect(reason('SELECT a, count(*) AS n FROM (SELECT a FROM silver.x) s GROUP BY a')).toMatch(/subquery|single table/);
    expect(reason('SELECT lower(a), count(*) AS n FROM silver.x GROUP BY lower(a)')).toMatch(/no name|expression/);
    expect(reason('SELECT a, count(*) + 1 FROM silver.x GROUP BY a')).toMatch(/no name/);
    expect(reason('SELECT a, count(*) AS n FROM silver.x GROUP BY a HAVING count(*) > 1')).toMatch(/HAVING/);
    expect(planModel('SELECT a, count(*) AS n FROM silver.x GROUP BY a', ctx, { forceRecompute: true }).kind).toBe('recompute');
  });

  it('count and sum over another model are kept from its changed rows (weighted)', () => {
    const p = aggregate('SELECT d, count(*) FILTER (WHERE v) AS nv, sum(r) AS r FROM gold_state.funnel GROUP BY d');
    expect(p.input).toEqual({ kind: 'model', table: 'funnel' });
  });

  it('the tokenizer keeps strings, quoted names, comments and dollar quotes opaque', () => {
    const t = tokenize(`SELECT 'a''(b' AS "we""ird", $x$ ) ( $x$ -- ) not here\n /* ( */ FROM silver.x`);
    expect(t.filter((x) => x.kind === 'open' || x.kind === 'close')).toEqual([]);
    expect(t.find((x) => x.kind === 'quoted')!.value).toBe('we"ird');
    expect(() => tokenize("SELECT 'open")).toThrow(/never closed/);
    expect(() => tokenize('SELECT (1')).toThrow(/never closed/);
  });
});

describe('gold graph: models across datasets', () => {
  const contract = (name: string, mode: 'first' | 'latest' = 'first') => ({ name, dedup: { mode } }) as unknown as Contract;
  const model = (dataset: string, table: string, select: string) =>
    parseGoldModel(dataset, `/d/${dataset}/gold/${table}.sql`, `-- @ddl\nCREATE TABLE gold.${table} (k int PRIMARY KEY);\n-- @select\n${select}`);

  it('orders models by what they read, across datasets, and finds what a dataset feeds', () => {
    const files: Record<string, ReturnType<typeof model>[]> = {
      a: [model('a', 'top', 'SELECT k FROM gold.mid ORDER BY k LIMIT 5'), model('a', 'base', 'SELECT k, count(*) AS n FROM silver.a GROUP BY k')],
      b: [model('b', 'mid', 'SELECT b.k FROM gold.base x JOIN silver.b b USING (k)')],
    };
    const g = new GoldGraph([contract('a'), contract('b')], (d) => files[d] ?? []);
    expect(g.models.map((m) => m.table)).toEqual(['base', 'mid', 'top']);
    expect(g.downstreamOf(['b']).map((m) => m.table)).toEqual(['mid', 'top']);
    expect(g.downstreamOf(['a']).map((m) => m.table)).toEqual(['base', 'mid', 'top']);
    expect(g.get('base')!.readers).toEqual(['mid']);
    expect(g.get('mid')!.plan.kind).toBe('recompute');
    expect([...g.exportGroups().keys()].sort()).toEqual(['a', 'b']);
  });

  it('leaves out (with the reason) a model in a cycle, over an unknown dataset or model, and what reads it; refuses one table declared twice', () => {
    const cyc = { a: [model('a', 'p', 'SELECT k FROM gold.q'), model('a', 'q', 'SELECT k FROM gold.p'), model('a', 'fine', 'SELECT k, count(*) AS n FROM silver.a GROUP BY k')] } as Record<string, ReturnType<typeof model>[]>;
    const g = new GoldGraph([contract('a')], (d) => cyc[d] ?? []);
    expect(g.models.map((m) => m.table)).toEqual(['fine']);
    expect(g.unavailable.get('p')).toMatch(/cycle: (p → q → p|q → p → q)/);
    const missing = new GoldGraph([contract('a')], () => [model('a', 'p', 'SELECT k FROM silver.nope'), model('a', 'r', 'SELECT k FROM gold.p'), model('a', 's', 'SELECT k FROM gold.nope')]);
    expect(missing.models).toEqual([]);
    expect(missing.unavailable.get('p')).toMatch(/silver\.nope, but there is no dataset 'nope'/);
    expect(missing.unavailable.get('r')).toMatch(/it reads p, which is unavailable/);
    expect(missing.unavailable.get('s')).toMatch(/reads nope, which is no gold model/);
    expect(missing.unavailable.get('s')).toMatch(/add that model or stop reading it$/);
    // One name in two folders: neither is the model, both left out (with what reads it); the rest stands.
    const twice = new GoldGraph([contract('a'), contract('b')], (d) => [model(d, 'same', 'SELECT 1 AS k'), ...(d === 'a' ? [model('a', 'user', 'SELECT k FROM gold.same'), model('a', 'ok', 'SELECT k FROM silver.a')] : [])]);
    expect(twice.models.map((m) => m.table)).toEqual(['ok']);
    expect(twice.unavailable.get('same')).toBe("gold model 'same' is declared twice: /d/a/gold/same.sql and /d/b/gold/same.sql; rename or remove all but one of them");
    expect(twice.unavailable.get('user')).toMatch(/it reads same, which is unavailable \(gold model 'same' is declared twice/);
  });

  it('a file that cannot be read as a model is left out with why (goldModels), never stopping the graph', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gold-files-'));
    try {
      mkdirSync(path.join(root, 'gold'));
      writeFileSync(path.join(root, 'gold', 'half.sql'), '-- @ddl\nCREATE TABLE gold.half (k int PRIMARY KEY);\n');
      writeFileSync(path.join(root, 'gold', 'good.sql'), '-- @ddl\nCREATE TABLE gold.good (k int PRIMARY KEY);\n-- @select\nSELECT k FROM silver.a');
      const found = goldModels('a', path.join(root, 'gold'));
      expect(found.map((m) => [m.table, m.unreadable ?? 'ok'])).toEqual([
        ['good', 'ok'],
        ['half', expect.stringMatching(/half\.sql: missing the -- @select section/)],
      ]);
      const g = new GoldGraph([contract('a')], () => found);
      expect(g.models.map((m) => m.table)).toEqual(['good']);
      expect(g.unavailable.get('half')).toMatch(/missing the -- @select section/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("the -- @ddl section holds only the model's own table, its indexes and comments, and gold_state.<table>__ functions that cannot write; the SELECT only reads", () => {
    const ddl = (body: string, create = 'CREATE TABLE gold.x (k int PRIMARY KEY);') => `-- @ddl\n${create}\n${body}\n-- @select\nSELECT k FROM silver.a`;
    const ok = [
      'CREATE INDEX x_k_idx ON gold.x (k);',
      'CREATE UNIQUE INDEX IF NOT EXISTS x_u ON ONLY "gold"."x" USING btree (k) INCLUDE (k) WHERE k > 0;',
      "COMMENT ON TABLE gold.x IS 'a; b';",
      "COMMENT ON COLUMN gold.x.k IS 'DROP TABLE silver.a';",
      'CREATE OR REPLACE FUNCTION gold_state.x__f(a int) RETURNS int LANGUAGE plpgsql STABLE AS $body$ BEGIN RETURN a; END; $body$; -- DROP; DELETE',
      'CREATE OR REPLACE FUNCTION gold_state."x__g"() RETURNS int LANGUAGE sql IMMUTABLE AS \'SELECT 1\';',
      'CREATE OR REPLACE FUNCTION gold_state.x__h(v text) RETURNS text LANGUAGE sql IMMUTABLE BEGIN ATOMIC SELECT CASE WHEN v IS NULL THEN \'\' ELSE upper(v) END; END;\r\n/* trailing */',
    ];
    for (const body of ok) expect(() => parseGoldModel('a', '/d/a/gold/x.sql', ddl(body)), body).not.toThrow();
    // The table's name may be quoted, and spelled with spaces around the dot.
    for (const create of ['CREATE TABLE "gold"."x" (k int PRIMARY KEY);', 'create table IF NOT EXISTS gold . "x" (k int primary key)']) {
      expect(parseGoldModel('a', '/d/a/gold/x.sql', ddl('', create)).schema, create).toBe('gold');
    }
    const refused: [string, RegExp][] = [
      ['CREATE TABLE public.pwned (x int);', /may only hold/],
      ['DROP TABLE silver.a;', /may only hold/],
      ['GRANT ALL ON gold.x TO public;', /may only hold/],
      ['ALTER TABLE gold.x RENAME TO y;', /may only hold/],
      ['ALTER TABLE silver.a ADD COLUMN y int;', /may only hold/],
      ['CREATE INDEX i ON silver.a (k);', /may only hold/],
      ['CREATE INDEX CONCURRENTLY i ON gold.x (k);', /drop CONCURRENTLY/],
      ["COMMENT ON TABLE silver.a IS 'x';", /may only hold/],
      ['CREATE FUNCTION public.f() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;', /may only create functions named gold_state\.x__/],
      ['CREATE OR REPLACE FUNCTION gold_state.other__f() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 $$;', /may only create functions named/],
      ['CREATE OR REPLACE FUNCTION gold_state.x__w() RETURNS int LANGUAGE plpgsql AS $$ BEGIN CREATE TABLE public.p (x int); RETURN 1; END $$;', /must be declared IMMUTABLE or STABLE/],
      ['CREATE FUNCTION gold_state.x__g() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;', /must be CREATE OR REPLACE FUNCTION/],
      ['CREATE OR REPLACE FUNCTION gold_state.x__() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;', /may only create functions named/],
      ['DO $$ BEGIN PERFORM 1; END $$;', /may only hold/],
      ['INSERT INTO gold.x VALUES (1);', /may only hold/],
      ['CREATE TABLE gold.x2 (k int);', /may only hold/],
    ];
    for (const [body, why] of refused) expect(() => parseGoldModel('a', '/d/a/gold/x.sql', ddl(body)), body).toThrow(why);
    for (const create of ['CREATE TABLE gold.x (PRIMARY KEY (k)) INHERITS (gold.daily_sales_summary);', 'CREATE TABLE gold.x PARTITION OF gold.other FOR VALUES IN (1);', 'CREATE TABLE gold.x (k int PRIMARY KEY REFERENCES gold.customer_metrics (user_id));']) {
      expect(() => parseGoldModel('a', '/d/a/gold/x.sql', ddl('', create)), create).toThrow(/may not attach it to another table/);
    }
    const sel = (select: string) => parseGoldModel('a', '/d/a/gold/x.sql', `-- @ddl\nCREATE TABLE gold.x (k int PRIMARY KEY);\n-- @select\n${select}`);
    for (const dml of [
      'WITH d AS (DELETE FROM silver.a RETURNING 1) SELECT 1 AS k',
      'WITH d AS (UPDATE silver.a SET k = 1 RETURNING 1) SELECT 1 AS k',
      'WITH d AS (INSERT INTO silver.a VALUES (1) RETURNING 1) SELECT 1 AS k',
      'WITH d AS ( update "silver"."a" SET k = 1 RETURNING 1) SELECT 1 AS k',
      'WITH d AS (MERGE INTO silver.a USING silver.b ON true WHEN MATCHED THEN DELETE RETURNING 1) SELECT 1 AS k',
    ]) {
      expect(() => sel(dml), dml).toThrow(/must only read .*gold never writes its inputs/);
    }
    expect(() => sel('WITH x AS (SELECT 1) DELETE FROM silver.a RETURNING 1 AS k')).toThrow(/must only read/);
    // Words that only look like it: a column named update, a string, a lock; a trailing comment.
    expect(sel("SELECT (update) AS k, 'delete from x' AS t FROM silver.a").reads.silver).toEqual(['a']);
    expect(sel('SELECT k FROM silver.a FOR NO KEY UPDATE').reads.silver).toEqual(['a']);
    expect(sel('WITH u AS (SELECT 1 AS n) SELECT update AS k, delete FROM silver.a').reads.silver).toEqual(['a']);
    expect(sel('SELECT k FROM silver.a GROUP BY k -- one row a key\n; -- done\n').select).toBe('SELECT k FROM silver.a GROUP BY k');
    // A block comment may open the SELECT; a VALUES list is not one.
    expect(sel('/* one row a key */\n(SELECT k FROM silver.a)').reads.silver).toEqual(['a']);
    expect(() => sel('VALUES (1)')).toThrow(/must be one SELECT \(it starts with VALUES\)/);
    // '<table>__<what>' is the framework's: a model may not be named so (it would take another model's state table or functions).
    for (const name of ['daily_sales_summary__agg', 'x__y', 'x_']) {
      expect(() => parseGoldModel('a', `/d/a/gold/${name}.sql`, `-- @internal\n-- @ddl\nCREATE TABLE gold_state.${name} (k int PRIMARY KEY);\n-- @select\nSELECT k FROM silver.a`), name).toThrow(/may not contain '__' or end with '_'/);
    }
    // Markers are read whatever their case.
    expect(parseGoldModel('a', '/d/a/gold/x.sql', '-- @DDL\nCREATE TABLE gold.x (k int PRIMARY KEY);\n-- @Select\nSELECT k FROM silver.a').select).toBe('SELECT k FROM silver.a');
  });

  it("a core model over a dataset's own table: DISTINCT ON its key is the 'latest' strategy; the table resolves to its dataset", () => {
    const stg = { name: 'pd_deals', table: 'stg_pipedrive.deals_raw', dedup: { mode: 'line' } } as unknown as Contract;
    const core = parseGoldModel(
      'pd_deals',
      '/d/pd_deals/gold/deals.sql',
      `-- @ddl\nCREATE TABLE core.deals (scope text, deal_id bigint, PRIMARY KEY (scope, deal_id));\n-- @select\n` +
        `SELECT DISTINCT ON (s.scope, s.record_id) s.scope, s.record_id AS deal_id, gold_state.jsonb_text(s.record -> 'title') AS title\n` +
        `FROM stg_pipedrive.deals_raw s\nORDER BY s.scope, s.record_id, s.updated_at DESC NULLS LAST, s.line_no DESC`,
    );
    expect(core).toMatchObject({ schema: 'core', reads: { silver: [], models: [], external: ['stg_pipedrive.deals_raw'] } });
    const side = parseGoldModel('pd_deals', '/d/pd_deals/gold/side.sql', `-- @ddl\nCREATE TABLE core.side (k int PRIMARY KEY);\n-- @select\nSELECT d.deal_id AS k FROM core.deals d JOIN silver.other o ON o.k = d.deal_id`);
    const g = new GoldGraph([stg, contract('other')], (d) => (d === 'pd_deals' ? [core, side] : []));
    expect(g.models.map((m) => [m.table, m.reads.silver])).toEqual([
      ['deals', ['pd_deals']],
      ['side', ['other']],
    ]);
    expect(g.datasetTable('pd_deals')).toBe('"stg_pipedrive"."deals_raw"');
    expect(g.downstreamOf(['pd_deals']).map((m) => m.table)).toEqual(['deals', 'side']);
    const plan = g.get('deals')!.plan as LatestPlan;
    expect(plan).toMatchObject({ kind: 'latest', input: { kind: 'silver', dataset: 'pd_deals' }, alias: 's', inputKey: ['scope', 'record_id'], outputKey: ['scope', 'deal_id'] });
    expect(plan.template).toMatch(/^SELECT DISTINCT ON \(s\.scope, s\.record_id\)[^]*\nFROM \{\{input\}\} AS s\nORDER BY s\.scope/);
    // What stays 'recompute', with its reason: a key that is not an output, an expression, a join, a model input.
    const why = (sql: string) => {
      const p = planModel(sql, { ...ctx, datasetOf: (q) => (q === 'stg_pipedrive.deals_raw' ? 'pd_deals' : undefined) });
      return p.kind === 'recompute' ? p.reason : p.kind;
    };
    expect(why('SELECT DISTINCT ON (s.record_id) s.scope FROM stg_pipedrive.deals_raw s ORDER BY s.record_id')).toBe('its DISTINCT ON column record_id is not an output');
    expect(why('SELECT DISTINCT ON (lower(s.t)) s.t FROM stg_pipedrive.deals_raw s')).toBe('its DISTINCT ON has an expression (lower(s.t)), not a column');
    expect(why('SELECT DISTINCT ON (s.k) s.k FROM stg_pipedrive.deals_raw s JOIN silver.x x ON x.k = s.k')).toBe('its FROM joins or has more than one table');
    expect(why('SELECT DISTINCT ON (m.k) m.k FROM gold.m1 m')).toBe('DISTINCT ON over another model is recomputed');
    expect(why('SELECT DISTINCT ON (s.k) s.k FROM stg_pipedrive.deals_raw s ORDER BY s.k LIMIT 3')).toBe('it uses DISTINCT ON with LIMIT');
    expect(why('SELECT DISTINCT ON (s.k) s.k FROM stg_pipedrive.deals_raw s ORDER BY s.k')).toBe('latest');
    expect(() => parseGoldModel('a', '/d/a/gold/x.sql', '-- @ddl\nCREATE TABLE other.x (k int);\n-- @select\nSELECT 1')).toThrow(/must contain CREATE TABLE gold\.x \(or core\.x\)/);
  });

  it('a model declared keyed on one input (-- @keyed): its plan, its validation, and the input restricted in its SELECT', () => {
    const file = (table: string, header: string, select: string) =>
      parseGoldModel('a', `/d/a/gold/${table}.sql`, `${header}\n-- @ddl\nCREATE TABLE core.${table} (scope text, ticket_id bigint, PRIMARY KEY (scope, ticket_id));\n-- @select\n${select}`);
    const base = parseGoldModel('a', '/d/a/gold/t.sql', `-- @ddl\nCREATE TABLE core.t (scope text, ticket_id bigint, PRIMARY KEY (scope, ticket_id));\n-- @select\nSELECT DISTINCT ON (scope, ticket_id) scope, ticket_id FROM silver.a ORDER BY scope, ticket_id`);
    const side = file('side', '-- @keyed: core.t (scope, ticket_id)', 'SELECT t.scope, t.ticket_id, f.title FROM core.t t LEFT JOIN core.f f ON f.id = t.ticket_id');
    const fields = parseGoldModel('a', '/d/a/gold/f.sql', `-- @ddl\nCREATE TABLE core.f (id bigint PRIMARY KEY);\n-- @select\nSELECT 1::bigint AS id, 'x' AS title FROM silver.a`);
    const wrong = file('wrong', '-- @keyed: core.nope (scope)', 'SELECT t.scope, t.ticket_id FROM core.t t');
    const g = new GoldGraph([contract('a')], () => [base, side, fields, wrong]);
    expect(side.keyed).toEqual({ schema: 'core', name: 't', columns: ['scope', 'ticket_id'] });
    expect(g.get('side')!.plan).toEqual({ kind: 'keyed', input: { kind: 'model', table: 't' }, ref: { schema: 'core', name: 't' }, columns: ['scope', 'ticket_id'] });
    expect(g.unavailable.get('wrong')).toMatch(/its -- @keyed input core\.nope is not a model its SELECT reads/);
    expect(() => file('bad', '-- @keyed: tickets', 'SELECT 1')).toThrow(/write -- @keyed: <schema>\.<table> \(<key column>, …\)/);
    // The keyed input is replaced where it is read, keeping (or giving) its alias; other names stay.
    expect(replaceTableRef('SELECT t.x FROM core.t t JOIN core.tt ON true WHERE core.t.x > 0', 'core', 't', '(SUB)')).toBe('SELECT t.x FROM (SUB) t JOIN core.tt ON true WHERE core.t.x > 0');
    expect(replaceTableRef('SELECT x FROM core.t WHERE x > 0', 'core', 't', '(SUB)')).toBe('SELECT x FROM (SUB) AS "t" WHERE x > 0');
    expect(replaceTableRef("SELECT 'core.t' FROM core.t AS k", 'core', 't', '(SUB)')).toBe("SELECT 'core.t' FROM (SUB) AS k");
  });

  it('parses the file: sections, header flags, one-line errors', () => {
    const m = parseGoldModel('a', '/d/a/gold/x.sql', '-- Says what x is.\r\n-- @internal\r\n-- @ddl\r\nCREATE TABLE gold_state.x (k int);\r\n-- @select\r\nSELECT k FROM silver.a;\r\n');
    expect(m).toMatchObject({ schema: 'gold_state', description: 'Says what x is.', select: 'SELECT k FROM silver.a', reads: { silver: ['a'], models: [], external: [] } });
    expect(() => parseGoldModel('a', '/d/a/gold/x.sql', '-- @strategy: magic\n-- @ddl\nCREATE TABLE gold.x (k int);\n-- @select\nSELECT 1')).toThrow(/only strategy a model can force is 'recompute'/);
    expect(() => parseGoldModel('a', '/d/a/gold/x.sql', '-- @ddl\nCREATE TABLE gold.x (k int);\n-- @select\nDELETE FROM gold.x')).toThrow(/must be one SELECT/);
    expect(() => parseGoldModel('a', '/d/a/gold/X-1.sql', '-- @ddl\nCREATE TABLE gold.x (k int);\n-- @select\nSELECT 1')).toThrow(/lower snake_case/);
  });
});
