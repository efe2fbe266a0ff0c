import { cpSync, createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../shared/cli/main';
import { rebuildGold } from '../shared/gold/refresh';
import { silentLogger } from '../shared/log';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { csv, goldInput, splitInput } from './support/goldFiles';
import { expectedGold, goldMismatches, readGold } from './support/goldReference';
import { TELCO, testEnv, wipeLake } from './support/platform';
import { referenceSilver } from './support/reference';
import { inject } from 'vitest';

const ROOT = path.resolve(__dirname, '..');

/** The one file a user adds: a model that reads two datasets (an example, not part of the platform). */
const DAILY_ACTIVITY = `-- Per UTC day with events: how many e-commerce events, and how many customers the platform knows.
-- @ddl
CREATE TABLE gold.daily_activity (
  day             date   NOT NULL PRIMARY KEY,
  events          bigint NOT NULL,
  customers_known bigint NOT NULL
);
COMMENT ON TABLE gold.daily_activity IS 'One row per UTC day with at least one e-commerce event.';
COMMENT ON COLUMN gold.daily_activity.day IS 'silver.ecommerce_events.event_date.';
COMMENT ON COLUMN gold.daily_activity.events IS 'count(*) of the day''s events.';
COMMENT ON COLUMN gold.daily_activity.customers_known IS 'count(*) of silver.customers (current customers), the same on every row.';
-- @select
SELECT event_date AS day, count(*) AS events, (SELECT count(*) FROM silver.customers) AS customers_known
FROM silver.ecommerce_events
GROUP BY event_date
`;

/** A user's internal model (state only, not exported) and a gold model over it: model-over-model maintenance. */
const SESSION_STEPS = `-- @internal
-- Per UTC day and session: which steps the session reached, and its events.
-- @ddl
CREATE TABLE gold_state.session_steps (
  event_date   date    NOT NULL,
  user_session text    NOT NULL,
  viewed       boolean NOT NULL,
  purchased    boolean NOT NULL,
  events       bigint  NOT NULL,
  PRIMARY KEY (event_date, user_session)
);
COMMENT ON COLUMN gold_state.session_steps.event_date IS 'Calendar date (UTC).';
COMMENT ON COLUMN gold_state.session_steps.user_session IS 'Session identifier.';
COMMENT ON COLUMN gold_state.session_steps.viewed IS 'bool_or(event_type = ''view'').';
COMMENT ON COLUMN gold_state.session_steps.purchased IS 'bool_or(event_type = ''purchase'').';
COMMENT ON COLUMN gold_state.session_steps.events IS 'count(*).';
-- @select
SELECT event_date, user_session, bool_or(event_type = 'view') AS viewed, bool_or(event_type = 'purchase') AS purchased, count(*) AS events
FROM silver.ecommerce_events
GROUP BY event_date, user_session
`;
const DAILY_STEPS = `-- Per UTC day: sessions, those that viewed, those that viewed and bought, events.
-- @ddl
CREATE TABLE gold.daily_steps (
  event_date        date   NOT NULL PRIMARY KEY,
  sessions          bigint NOT NULL,
  viewing           bigint NOT NULL,
  buying_after_view bigint NOT NULL,
  events            bigint NOT NULL
);
COMMENT ON COLUMN gold.daily_steps.event_date IS 'Calendar date (UTC).';
COMMENT ON COLUMN gold.daily_steps.sessions IS 'Sessions with an event that day.';
COMMENT ON COLUMN gold.daily_steps.viewing IS 'Sessions with a view that day.';
COMMENT ON COLUMN gold.daily_steps.buying_after_view IS 'Sessions with a view and a purchase that day.';
COMMENT ON COLUMN gold.daily_steps.events IS 'Events that day.';
-- @select
SELECT event_date, count(*) AS sessions, count(*) FILTER (WHERE viewed) AS viewing, count(*) FILTER (WHERE viewed AND purchased) AS buying_after_view, sum(events) AS events
FROM gold_state.session_steps
GROUP BY event_date
`;

/** daily_steps computed from the reference's kept events (independent of the models). */
function expectedSteps(kept: { eventTime: string; eventType: string; session: string }[]): [string, number, number, number, number][] {
  const days = new Map<string, Map<string, { view: boolean; purchase: boolean }>>();
  const events = new Map<string, number>();
  for (const e of kept) {
    const day = e.eventTime.slice(0, 10);
    const sessions = days.get(day) ?? days.set(day, new Map()).get(day)!;
    const s = sessions.get(e.session) ?? sessions.set(e.session, { view: false, purchase: false }).get(e.session)!;
    s.view ||= e.eventType === 'view';
    s.purchase ||= e.eventType === 'purchase';
    events.set(day, (events.get(day) ?? 0) + 1);
  }
  return [...days].sort(([a], [b]) => a.localeCompare(b)).map(([day, ss]) => {
    const v = [...ss.values()];
    return [day, v.length, v.filter((s) => s.view).length, v.filter((s) => s.view && s.purchase).length, events.get(day)!];
  });
}

function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, ctx: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l), log: silentLogger } };
}

describe('gold framework: a model is one SQL file, across datasets; state survives what PostgreSQL can lose', () => {
  let dir: string;
  let lines: string[];
  let platform: Platform;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gold-fw-'));
    for (const d of ['ecommerce_events', 'customers', 'crm_products']) cpSync(path.join(ROOT, 'shared', 'datasets', d), path.join(dir, 'datasets', d), { recursive: true });
    lines = await goldInput(dir);
    const { name } = await createScratchDatabase(inject('databaseUrl'), 't');
    await wipeLake();
    env = { ...testEnv(name), MEDALLION_DATASETS_DIR: path.join(dir, 'datasets') };
  });
  afterAll(async () => {
    await platform?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gold_state.ts_key is the instant in µs since 1970 plus 3e17 and sorts like the timestamp (any instant PostgreSQL holds, ±infinity, any session time zone), in C and ICU collations', async () => {
    const own = await createPlatform(env);
    const db = await own.pool.connect();
    try {
      await db.query("SET TimeZone = 'Pacific/Chatham'"); // +12:45/+13:45: the key is the instant, not the wall clock
      const r = await db.query<{ c: boolean; icu: boolean; eq: boolean; n: string }>(`
        WITH t AS (
          SELECT to_timestamp(-210000000000 + random() * 9400000000000) AS a FROM generate_series(1, 20000) -- 4685 BC … 293,000 AD
          UNION ALL SELECT timestamptz '2019-10-01 00:00:00+00' + random() * interval '2 seconds' FROM generate_series(1, 20000)
          UNION ALL SELECT timestamptz '1970-01-01 00:00:00+00' + (random() * 1e18)::bigint * interval '1 microsecond' FROM generate_series(1, 20000) -- µs digits everywhere to 33,658 AD
          UNION ALL VALUES (timestamptz 'infinity'), (timestamptz '-infinity'), (timestamptz '1969-12-31 23:59:59.999999+00'), (timestamptz '1970-01-01 00:00:00+00'),
            (timestamptz '4713-01-01 00:00:00+00 BC'), (timestamptz '0001-12-31 23:59:59.999999+00 BC'), (timestamptz '0001-01-01 00:00:00+00'),
            (timestamptz '99999-12-31 23:59:59.999999+00'), (timestamptz '100000-01-01 00:00:00+00'), (timestamptz '294276-12-31 23:59:59.999999+00')
        ), k AS (SELECT a, gold_state.ts_key(a) AS ka FROM t),
        pairs AS (SELECT a, ka, lead(a) OVER w AS b, lead(ka) OVER w AS kb FROM k WINDOW w AS (ORDER BY random()))
        SELECT bool_and((ka COLLATE "C" > kb COLLATE "C") = (a > b)) AS c,
               bool_and((ka COLLATE "und-x-icu" > kb COLLATE "und-x-icu") = (a > b)) AS icu,
               bool_and((ka = kb) = (a = b)) AS eq,
               -- The value itself, from extract()'s exact numeric (µs since 1970 of the instant, whatever the session's zone).
               bool_and(ka = lpad((extract(epoch FROM a) * 1000000 + 300000000000000000)::numeric(40, 0)::text, 20, '0')) FILTER (WHERE isfinite(a)) AS exact,
               count(*) AS n
        FROM pairs WHERE b IS NOT NULL`);
      expect(r.rows[0]).toEqual({ c: true, icu: true, eq: true, exact: true, n: '60009' });
    } finally {
      db.release();
      await own.close();
    }
  });

  it('adding a model that joins two datasets is one SQL file: built, refreshed by either dataset, rebuilt identically', async () => {
    writeFileSync(path.join(dir, 'datasets', 'ecommerce_events', 'gold', 'daily_activity.sql'), DAILY_ACTIVITY);
    writeFileSync(path.join(dir, 'datasets', 'ecommerce_events', 'gold', 'session_steps.sql'), SESSION_STEPS);
    writeFileSync(path.join(dir, 'datasets', 'ecommerce_events', 'gold', 'daily_steps.sql'), DAILY_STEPS);
    platform = await createPlatform(env, { log: silentLogger, datasetsDir: path.join(dir, 'datasets') });
    const pieces = splitInput(lines, 2, 77);
    // Events first: no customer yet.
    await platform.lake.write('bronze', 'ecommerce_events/fw/a.csv', Readable.from([Buffer.from(csv(pieces[0]!))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/fw/a.csv')).outcome).toBe('succeeded');
    const perDay = (ls: string[]) => {
      const ref = referenceSilver(csv(ls));
      const days = new Map<string, number>();
      for (const e of ref.kept) days.set(e.eventTime.slice(0, 10), (days.get(e.eventTime.slice(0, 10)) ?? 0) + 1);
      return days;
    };
    const read = async () =>
      (await platform.pool.query<{ day: string; events: string; customers_known: string }>(`SELECT day::text, events, customers_known FROM gold.daily_activity ORDER BY day`)).rows.map((r) => [r.day, Number(r.events), Number(r.customers_known)]);
    expect(await read()).toEqual([...perDay(pieces[0]!)].sort().map(([d, n]) => [d, n, 0]));
    const steps = async () =>
      (await platform.pool.query(`SELECT event_date::text AS d, sessions, viewing, buying_after_view, events FROM gold.daily_steps ORDER BY 1`)).rows.map((r) => [r.d, Number(r.sessions), Number(r.viewing), Number(r.buying_after_view), Number(r.events)]);
    expect(await steps()).toEqual(expectedSteps(referenceSilver(csv(pieces[0]!)).kept));

    // The customers dataset lands: the model reads it, so its refresh follows.
    await platform.lake.write('bronze', 'customers/telco.csv', createReadStream(TELCO));
    expect((await ingestBronzeFile(platform, 'customers/telco.csv')).outcome).toBe('succeeded');
    expect(await read()).toEqual([...perDay(pieces[0]!)].sort().map(([d, n]) => [d, n, 7043]));

    await platform.lake.write('bronze', 'ecommerce_events/fw/b.csv', Readable.from([Buffer.from(csv(pieces[1]!))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/fw/b.csv')).outcome).toBe('succeeded');
    const all = [...perDay([...pieces[0]!, ...pieces[1]!])].sort().map(([d, n]) => [d, n, 7043]);
    expect(await read()).toEqual(all);
    const allSteps = expectedSteps(referenceSilver(csv([...pieces[0]!, ...pieces[1]!])).kept);
    expect(await steps()).toEqual(allSteps);
    const incremental = await platform.pool.query(`SELECT sections_ms FROM ops.gold_refreshes ORDER BY id DESC LIMIT 1`);
    expect(Object.keys(incremental.rows[0].sections_ms)).toEqual(expect.arrayContaining(['session_steps.aggregate', 'daily_steps.aggregate']));
    expect(goldMismatches(await readGold(platform.pool), expectedGold(referenceSilver(csv(lines)).kept))).toEqual([]);

    await rebuildGold(platform.pool, platform.contracts);
    expect(await read()).toEqual(all);
    expect(await steps()).toEqual(allSteps);

    // The export went next to the other e-commerce tables; `medallion gold models` lists it.
    const files: string[] = [];
    for await (const f of platform.lake.list('gold', 'ecommerce_events/')) files.push(f.path);
    expect(files).toContain('ecommerce_events/daily_activity.parquet');
    const models = cli(env);
    expect(await main(['gold', 'models', '--json'], models.ctx)).toBe(0);
    const listed = JSON.parse(models.out.join('\n')) as { model: string; reads: string[]; strategy: string }[];
    expect(listed.find((m) => m.model === 'gold.daily_activity')).toMatchObject({ reads: ['silver.customers', 'silver.ecommerce_events'], strategy: 'recompute' });
    expect(listed.find((m) => m.model === 'gold.daily_steps')).toMatchObject({ reads: ['gold_state.session_steps'], strategy: 'aggregate' });
    expect(listed.find((m) => m.model === 'gold.conversion_funnel')).toMatchObject({ reads: ['silver.ecommerce_events'], strategy: 'aggregate' });
    // The internal model is a view over its state (rows written once), not exported.
    const kind = await platform.pool.query(`SELECT relkind FROM pg_class WHERE oid = 'gold_state.session_steps'::regclass`);
    expect(kind.rows[0].relkind).toBe('v');
    expect(files).not.toContain('ecommerce_events/session_steps.parquet');
    expect(listed.find((m) => m.model === 'gold.customer_metrics')).toMatchObject({ strategy: 'aggregate' });
    expect(listed.find((m) => m.model === 'gold.customers')).toMatchObject({ strategy: 'rows' });
  });

  it('state lost by a server crash (unlogged tables emptied) is noticed and rebuilt: gold stays exact', async () => {
    const state = await platform.pool.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'gold_state' AND c.relkind = 'r' AND c.relpersistence = 'u'`,
    );
    expect(state.rows.map((r) => r.relname)).toEqual(expect.arrayContaining(['alive', 'customer_metrics__agg', 'session_steps__agg', 'daily_steps__agg']));
    // What crash recovery does to unlogged tables: they come back empty.
    await platform.pool.query(`TRUNCATE ${state.rows.map((r) => `gold_state."${r.relname}"`).join(', ')}`);
    const extra = splitInput(lines, 3, 5)[0]!;
    await platform.lake.write('bronze', 'ecommerce_events/fw/c.csv', Readable.from([Buffer.from(csv(extra))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/fw/c.csv')).outcome).toBe('succeeded');
    expect(goldMismatches(await readGold(platform.pool), expectedGold(referenceSilver(csv(lines)).kept))).toEqual([]);
    const alive = await platform.pool.query(`SELECT count(*)::int AS n FROM gold_state.alive`);
    expect(alive.rows[0].n).toBe(1);
    // And the next file is incremental again, still exact.
    await platform.lake.write('bronze', 'ecommerce_events/fw/d.csv', Readable.from([Buffer.from(csv(splitInput(lines, 3, 6)[1]!))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/fw/d.csv')).outcome).toBe('succeeded');
    const last = await platform.pool.query(`SELECT sections_ms FROM ops.gold_refreshes ORDER BY id DESC LIMIT 1`);
    expect(Object.keys(last.rows[0].sections_ms).some((k) => k.endsWith('.full'))).toBe(false);
    expect(goldMismatches(await readGold(platform.pool), expectedGold(referenceSilver(csv(lines)).kept))).toEqual([]);
  });

  it('an edited model file is rebuilt alone with the next file; a broken one fails only the files it reads, with a one-line message naming the file; a deleted one is dropped', async () => {
    const file = path.join(dir, 'datasets', 'ecommerce_events', 'gold', 'daily_activity.sql');
    writeFileSync(file, readFileSync(file, 'utf8').replace('count(*) AS events', 'count(*) FILTER (WHERE true) AS events'));
    const p2 = await createPlatform(env, { log: silentLogger, datasetsDir: path.join(dir, 'datasets') });
    try {
      await p2.lake.write('bronze', 'ecommerce_events/fw/e.csv', Readable.from([Buffer.from(csv(lines.slice(0, 5)))]));
      expect((await ingestBronzeFile(p2, 'ecommerce_events/fw/e.csv')).outcome).toBe('succeeded');
      const last = await p2.pool.query(`SELECT sections_ms FROM ops.gold_refreshes ORDER BY id DESC LIMIT 1`);
      expect(Object.keys(last.rows[0].sections_ms).filter((k) => k.endsWith('.full'))).toEqual(['daily_activity.full']);
      // A typo in the SELECT: the file's load fails as a whole (gold commits with silver or not at all), saying which model.
      writeFileSync(file, readFileSync(file, 'utf8').replace('count(*) FILTER (WHERE true) AS events', 'count(no_such_column) AS events'));
      await p2.lake.write('bronze', 'ecommerce_events/fw/f.csv', Readable.from([Buffer.from(csv(lines.slice(5, 12)))]));
      const failed = await ingestBronzeFile(p2, 'ecommerce_events/fw/f.csv');
      expect(failed.outcome).not.toBe('succeeded');
      expect(failed.message).toMatch(/gold model .*daily_activity.*no_such_column/);
      expect(failed.message).not.toMatch(/\n/);
      // The same process, the same pooled connections: a file of a dataset the model does not read lands.
      await p2.lake.write('bronze', 'crm/products/fw.csv', Readable.from([Buffer.from('product,series,sales_price\r\nGTX Basic,GTX,550\r\n')]));
      const other = await ingestBronzeFile(p2, 'crm/products/fw.csv');
      expect(other.outcome, other.message).toBe('succeeded');
      // A column without a comment is set aside the same way, named in one line; deleting the file drops its table.
      writeFileSync(file, readFileSync(file, 'utf8').replace(/COMMENT ON COLUMN gold\.daily_activity\.events IS [^\n]*\n/, '').replace('count(no_such_column) AS events', 'count(*) AS events'));
      await p2.lake.write('bronze', 'ecommerce_events/fw/g.csv', Readable.from([Buffer.from(csv(lines.slice(12, 20)))]));
      const uncommented = await ingestBronzeFile(p2, 'ecommerce_events/fw/g.csv');
      expect(uncommented.message).toMatch(/daily_activity\.sql: every column needs a COMMENT ON COLUMN; missing for events/);
      rmSync(file);
      expect((await ingestBronzeFile(p2, 'ecommerce_events/fw/g.csv')).outcome).toBe('succeeded');
      const table = await p2.pool.query(`SELECT to_regclass('gold.daily_activity') IS NULL AS gone`);
      expect(table.rows[0].gone).toBe(true);
    } finally {
      await p2.close();
    }
  });

  it('a model file that cannot be read (half written, another table name, one name in two folders) is left out and blocks no dataset; a SELECT or population PostgreSQL refuses is listed broken before any file lands; a recompute-only refresh records its rows', async () => {
    const gold = (d: string, f: string) => path.join(dir, 'datasets', d, 'gold', f);
    const comment = (t: string, cols: string[]) => cols.map((c) => `COMMENT ON COLUMN gold.${t}.${c} IS '${c}.';`).join('\n');
    const files: [string, string][] = [
      // Saved half way: no -- @select yet.
      [gold('customers', 'half_done.sql'), '-- @ddl\nCREATE TABLE gold.half_done (k bigint NOT NULL PRIMARY KEY);\n'],
      // Creates another table than its file name says.
      [gold('ecommerce_events', 'misnamed.sql'), `-- @ddl\nCREATE TABLE gold.other_name (k date PRIMARY KEY);\n${comment('other_name', ['k'])}\n-- @select\nSELECT event_date AS k FROM silver.ecommerce_events GROUP BY 1\n`],
      // One model name in two folders.
      [gold('ecommerce_events', 'twin.sql'), `-- @ddl\nCREATE TABLE gold.twin (k date PRIMARY KEY);\n${comment('twin', ['k'])}\n-- @select\nSELECT event_date AS k FROM silver.ecommerce_events GROUP BY 1\n`],
      [gold('crm_products', 'twin.sql'), `-- @ddl\nCREATE TABLE gold.twin (k date PRIMARY KEY);\n${comment('twin', ['k'])}\n-- @select\nSELECT event_date AS k FROM silver.ecommerce_events GROUP BY 1\n`],
      // Reads the misnamed one: left out with it, saying why.
      [gold('ecommerce_events', 'reader.sql'), `-- @ddl\nCREATE TABLE gold.reader (k date PRIMARY KEY);\n${comment('reader', ['k'])}\n-- @select\nSELECT k FROM gold.misnamed\n`],
      // PostgreSQL reads GROUPBY as an alias: a syntax error, found when the model is deployed.
      [gold('crm_products', 'typo.sql'), `-- @ddl\nCREATE TABLE gold.typo (series text PRIMARY KEY, n bigint NOT NULL);\n${comment('typo', ['series', 'n'])}\n-- @select\nSELECT series, count(*) AS n FROM silver.crm_products GROUPBY series\n`],
      // No primary key: the model has no grain.
      [gold('crm_products', 'nopk.sql'), `-- @ddl\nCREATE TABLE gold.nopk (series text NOT NULL, n bigint NOT NULL);\n${comment('nopk', ['series', 'n'])}\n-- @select\nSELECT series, count(*) AS n FROM silver.crm_products GROUP BY series\n`],
      // A population column declared NOT NULL (new rows get it only after they are written).
      [gold('crm_products', 'ranked.sql'), `-- @ddl\nCREATE TABLE gold.ranked (product text PRIMARY KEY, price numeric(18,2) NOT NULL, rk integer NOT NULL);\n${comment('ranked', ['product', 'price', 'rk'])}\n-- @select\nSELECT product, sales_price AS price FROM silver.crm_products\n-- @population\nSELECT product, rank() OVER (ORDER BY price DESC)::integer AS rk FROM gold.ranked\n`],
    ];
    for (const [f, text] of files) {
      mkdirSync(path.dirname(f), { recursive: true });
      writeFileSync(f, text);
    }
    const p3 = await createPlatform(env, { log: silentLogger, datasetsDir: path.join(dir, 'datasets') });
    try {
      const models = cli(env);
      expect(await main(['gold', 'models', '--json'], models.ctx)).toBe(0);
      const listed = JSON.parse(models.out.join('\n')) as { model: string; strategy: string; why: string }[];
      const row = (m: string) => listed.find((x) => x.model === m || x.model === `gold.${m}`);
      expect(row('half_done')).toMatchObject({ strategy: 'unavailable', why: expect.stringMatching(/half_done\.sql: missing the -- @select section/) });
      expect(row('misnamed')).toMatchObject({ strategy: 'unavailable', why: expect.stringMatching(/misnamed\.sql: the -- @ddl section must contain CREATE TABLE gold\.misnamed/) });
      expect(row('twin')).toMatchObject({ strategy: 'unavailable', why: expect.stringMatching(/'twin' is declared twice: .*twin\.sql and .*twin\.sql; rename or remove all but one of them/) });
      expect(row('reader')).toMatchObject({ strategy: 'unavailable', why: expect.stringMatching(/reader\.sql: it reads misnamed, which is unavailable \(/) });
      expect(row('gold.typo')).toMatchObject({ strategy: 'broken', why: expect.stringMatching(/typo\.sql: its -- @select does not run: syntax error/) });
      expect(row('gold.ranked')).toMatchObject({ strategy: 'broken', why: expect.stringMatching(/ranked\.sql: population columns must be nullable .*: rk; drop their NOT NULL/) });
      expect(row('gold.customer_metrics')).toMatchObject({ strategy: 'aggregate' });
      expect(row('reader')).toMatchObject({ model: 'gold.reader', folder: 'ecommerce_events', reads: ['gold.misnamed'] });
      expect(row('gold.nopk')).toMatchObject({ strategy: 'broken', why: expect.stringMatching(/nopk\.sql: its table needs a PRIMARY KEY/) });
      rmSync(gold('crm_products', 'nopk.sql')); // so the crm file below meets only the two broken models above
      // Files of every dataset land, but those read by a broken model (crm_products: typo, ranked).
      await p3.lake.write('bronze', 'ecommerce_events/fw/h.csv', Readable.from([Buffer.from(csv(lines.slice(20, 30)))]));
      const events = await ingestBronzeFile(p3, 'ecommerce_events/fw/h.csv');
      expect(events.outcome, events.message).toBe('succeeded');
      await p3.lake.write('bronze', 'customers/fw.csv', createReadStream(TELCO));
      const customers = await ingestBronzeFile(p3, 'customers/fw.csv');
      expect(customers.outcome, customers.message).toBe('succeeded');
      await p3.lake.write('bronze', 'crm/products/fw2.csv', Readable.from([Buffer.from('product,series,sales_price\r\nGTX Pro,GTX,4821\r\nGTX Basic,GTX,550\r\n')]));
      const crm = await ingestBronzeFile(p3, 'crm/products/fw2.csv');
      expect(crm.outcome).toBe('failed');
      expect(crm.message).toMatch(/^gold model .*(typo\.sql: its -- @select does not run: syntax error|ranked\.sql: population columns must be nullable).*; fix the model, then run `medallion replay crm\/products\/fw2\.csv`$/);
      // Both broken models are named, so both are fixed before the replay.
      expect(crm.message).toMatch(/\(also broken: (typo|ranked)\.sql: see medallion gold models\)/);
      // Fixed: the replay lands, and the refresh of the recompute-only dataset records its rows.
      rmSync(gold('crm_products', 'typo.sql'));
      writeFileSync(gold('crm_products', 'ranked.sql'), readFileSync(gold('crm_products', 'ranked.sql'), 'utf8').replace('rk integer NOT NULL', 'rk integer'));
      const replay = cli(env);
      expect(await main(['replay', 'crm/products/fw2.csv'], replay.ctx), replay.err.join('\n')).toBe(0);
      const ranked = await p3.pool.query(`SELECT product, rk FROM gold.ranked ORDER BY rk, product`);
      expect(ranked.rows).toEqual([
        { product: 'GTX Pro', rk: 1 },
        { product: 'GTX Basic', rk: 2 },
      ]);
      const rec = await p3.pool.query(
        `SELECT r.rows_in::int AS n, (SELECT count(*)::int FROM silver.crm_products s WHERE s.ingestion_run_id = ANY (r.run_ids)) AS carried
         FROM ops.gold_refreshes r WHERE r.dataset = 'crm_products' ORDER BY r.id DESC LIMIT 1`,
      );
      // The silver rows the replayed run carries (GTX Pro at least; GTX Basic too unless an earlier file landed it unchanged).
      expect(rec.rows[0].n).toBe(rec.rows[0].carried);
      expect(rec.rows[0].n).toBeGreaterThanOrEqual(1);
    } finally {
      for (const [f] of files) rmSync(f, { force: true });
      await p3.close();
    }
  });

  it('a model left out while files land is rebuilt in full once its file is readable again, even restored byte for byte; a trailing comment ends a SELECT; a helper function cannot write', async () => {
    const file = path.join(dir, 'datasets', 'ecommerce_events', 'gold', 'sessions_by_day.sql');
    const text = `-- Sessions per day.
-- @ddl
CREATE TABLE gold.sessions_by_day (event_date date PRIMARY KEY, sessions bigint NOT NULL, label text);
COMMENT ON TABLE gold.sessions_by_day IS 'x';
COMMENT ON COLUMN gold.sessions_by_day.event_date IS 'Day.';
COMMENT ON COLUMN gold.sessions_by_day.sessions IS 'count(DISTINCT user_session).';
COMMENT ON COLUMN gold.sessions_by_day.label IS 'gold_state.sessions_by_day__label of the day.';
CREATE OR REPLACE FUNCTION gold_state.sessions_by_day__label(d date) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'day ' || d::text $$;
-- @select
SELECT event_date, count(DISTINCT user_session) AS sessions, max(gold_state.sessions_by_day__label(event_date)) AS label
FROM silver.ecommerce_events
GROUP BY event_date -- one row a day
`;
    writeFileSync(file, text);
    const p4 = await createPlatform(env, { log: silentLogger, datasetsDir: path.join(dir, 'datasets') });
    const select = `SELECT event_date, count(DISTINCT user_session) AS sessions, 'day ' || event_date::text AS label FROM silver.ecommerce_events GROUP BY event_date`;
    const differs = async () => Number((await p4.pool.query(`SELECT count(*) AS n FROM ((TABLE gold.sessions_by_day EXCEPT ALL ${select}) UNION ALL (${select} EXCEPT ALL TABLE gold.sessions_by_day)) d`)).rows[0].n);
    // Rows silver does not hold yet (the tests above landed every line): each session renamed per file.
    const fresh = (name: string, from: number, to: number) => lines.slice(from, to).map((l) => l.replace(/,([^,]*)$/, `,$1-${name}`));
    const land = async (name: string, from: number, to: number) => {
      await p4.lake.write('bronze', `ecommerce_events/fw/${name}.csv`, Readable.from([Buffer.from(csv(fresh(name, from, to)))]));
      const r = await ingestBronzeFile(p4, `ecommerce_events/fw/${name}.csv`);
      expect(r.outcome, r.message).toBe('succeeded');
    };
    try {
      await land('s1', 30, 200);
      expect(Number((await p4.pool.query(`SELECT count(*) AS n FROM gold.sessions_by_day`)).rows[0].n)).toBeGreaterThan(0);
      expect(await differs()).toBe(0);
      // A marker mistyped: the model is left out while a file lands, then the file is put back as it was.
      writeFileSync(file, text.replace('-- @select', '-- @selekt'));
      await land('s2', 200, 600);
      expect(await differs()).toBeGreaterThan(0); // left out: behind
      writeFileSync(file, text);
      const refresh = cli(env);
      expect(await main(['gold', 'refresh'], refresh.ctx), refresh.err.join('\n')).toBe(0);
      expect(await differs()).toBe(0);
      // A helper that tries to write is refused by PostgreSQL (STABLE), and the model is broken, not a way around the rules.
      writeFileSync(file, text.replace("LANGUAGE sql IMMUTABLE AS $$ SELECT 'day ' || d::text $$", "LANGUAGE plpgsql STABLE AS $f$ BEGIN CREATE TABLE public.sneaky (x int); RETURN 'day ' || d::text; END $f$"));
      await p4.lake.write('bronze', 'ecommerce_events/fw/s3.csv', Readable.from([Buffer.from(csv(fresh('s3', 600, 700)))]));
      const refused = await ingestBronzeFile(p4, 'ecommerce_events/fw/s3.csv');
      expect(refused.outcome).toBe('failed');
      expect(refused.message).toMatch(/sessions_by_day\.sql\): CREATE TABLE is not allowed in a non-volatile function; fix the model/);
      expect((await p4.pool.query(`SELECT to_regclass('public.sneaky') IS NULL AS absent`)).rows[0].absent).toBe(true);
      // A distinct count whose values fail to compute: the message names the model it belongs to.
      writeFileSync(file, text.replace('count(DISTINCT user_session) AS sessions', 'count(DISTINCT 1 / (product_id - product_id)) AS sessions'));
      const failed = await ingestBronzeFile(p4, 'ecommerce_events/fw/s3.csv');
      expect(failed.message).toMatch(/^gold model .*sessions_by_day\.sql.*division by zero; fix the model/);
      // A full rebuild reads the values of every model's distinct counts at once: the failure still names the model.
      const full = cli(env);
      expect(await main(['gold', 'refresh', '--full'], full.ctx)).not.toBe(0);
      expect(full.err.join('\n')).toMatch(/gold model .*sessions_by_day\.sql.*: reading the values of its count\(DISTINCT …\): division by zero/);
    } finally {
      rmSync(file, { force: true });
      await p4.close();
    }
  });
});
