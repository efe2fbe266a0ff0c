import { InvocationContext } from '@azure/functions';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goldRefresh } from '../functions/goldRefresh';
import { setPlatformForTests } from '../functions/support/platform';
import { benchGold, describeGoldBench } from '../scripts/benchGold';
import { main } from '../shared/cli/main';
import { silentLogger } from '../shared/log';
import { ensureGold } from '../shared/gold/schema';
import { GoldGraph, parseGoldModel } from '../shared/gold/models';
import { goldHighlights } from '../shared/gold/highlights';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { csv, goldInput } from './support/goldFiles';
import { expectedGold, goldMismatches, readGold } from './support/goldReference';
import { freshPlatform } from './support/platform';
import { referenceSilver } from './support/reference';

function cli(env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  return { ctx: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l), log: silentLogger }, out, err };
}

describe('gold operations: CLI, timer function, pending runs, model changes', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let lines: string[];
  let dir: string;

  beforeAll(async () => {
    ({ platform, env } = await freshPlatform());
    dir = await mkdtemp(path.join(os.tmpdir(), 'gold-ops-'));
    lines = await goldInput(dir);
  });
  afterAll(async () => {
    setPlatformForTests(undefined);
    await platform?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('medallion gold refresh applies runs that landed without gold (hooks off), then says it is up to date', async () => {
    const half = Math.floor(lines.length / 2);
    await platform.lake.write('bronze', 'ecommerce_events/ops/a.csv', Readable.from([Buffer.from(csv(lines.slice(0, half)))]));
    await platform.lake.write('bronze', 'ecommerce_events/ops/b.csv', Readable.from([Buffer.from(csv(lines.slice(half)))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/ops/a.csv')).outcome).toBe('succeeded');
    // A load with the gold hooks switched off (as in the core benchmark): gold falls behind.
    expect((await ingestBronzeFile({ ...platform, hooks: {} }, 'ecommerce_events/ops/b.csv')).outcome).toBe('succeeded');
    const expected = expectedGold(referenceSilver(csv(lines)).kept);
    expect(goldMismatches(await readGold(platform.pool), expected).length).toBeGreaterThan(0);

    const first = cli(env);
    expect(await main(['gold', 'refresh'], first.ctx)).toBe(0);
    expect(first.out.join('\n')).toMatch(/1 pending run\(s\) of ecommerce_events/);
    expect(goldMismatches(await readGold(platform.pool), expected)).toEqual([]);

    const again = cli(env);
    expect(await main(['gold', 'refresh'], again.ctx)).toBe(0);
    expect(again.out.join('\n')).toMatch(/up to date/);
  });

  it('medallion gold refresh --full rebuilds and exports; gold show prints tables and highlights', async () => {
    const before = await readGold(platform.pool);
    const full = cli(env);
    expect(await main(['gold', 'refresh', '--full', '--json', '--dataset', 'ecommerce_events'], full.ctx)).toBe(0);
    const report = JSON.parse(full.out.join('\n'));
    expect(report.refreshes).toHaveLength(1);
    expect(report.refreshes[0]).toMatchObject({ dataset: 'ecommerce_events', mode: 'full' });
    expect(report.exports).toHaveLength(1);
    expect(report.exports[0]).toMatchObject({ dataset: 'ecommerce_events', skipped: false });
    expect(report.exports[0].files.map((f: { path: string }) => f.path).sort()).toEqual(
      ['conversion_funnel', 'customer_metrics', 'daily_sales_summary', 'product_performance'].map((t) => `ecommerce_events/${t}.parquet`),
    );
    expect(await readGold(platform.pool)).toEqual(before);

    const show = cli(env);
    expect(await main(['gold', 'show'], show.ctx)).toBe(0);
    expect(show.out.join('\n')).toMatch(/Top customers by revenue/);
    expect(show.out.join('\n')).toMatch(/customer_metrics/);
    const shown = cli(env);
    expect(await main(['gold', 'show', '--json', '--dataset', 'ecommerce_events'], shown.ctx)).toBe(0);
    const listed = JSON.parse(shown.out.join('\n')).tables as { table: string; rows: number }[];
    // Every exported table with its exact row count.
    expect(listed.map((t) => [t.table, t.rows])).toEqual(
      ['conversion_funnel', 'customer_metrics', 'daily_sales_summary', 'product_performance'].map((t) => [`gold.${t}`, before[t as keyof typeof before].length]),
    );

    const h = await goldHighlights(platform.pool);
    expect(h.topCustomers.length).toBe(5);
    const top = [...before.customer_metrics].sort((a, b) => Number(b.total_revenue) - Number(a.total_revenue) || Number(a.user_id) - Number(b.user_id))[0]!;
    expect(h.topCustomers[0]).toMatchObject({ user_id: top.user_id, total_revenue: top.total_revenue });
    const busiest = [...before.daily_sales_summary].sort((a, b) => Number(b.total_events) - Number(a.total_events) || String(a.event_date).localeCompare(String(b.event_date)))[0]!;
    expect(h.busiestDay).toBe(busiest.event_date);
    expect(h.funnel.length).toBe(before.conversion_funnel.filter((r) => r.event_date === busiest.event_date).length);
  });

  it('the timer function (goldRefresh) rebuilds in full and exports, called as the Functions host would', async () => {
    setPlatformForTests(platform);
    const logs: string[] = [];
    const context = new InvocationContext({
      invocationId: 'gold-timer-test',
      functionName: 'goldRefresh',
      logHandler: (_level, ...args) => logs.push(args.join(' ')),
    });
    const { rows: [last] } = await platform.pool.query(`SELECT max(id)::int AS id FROM ops.gold_refreshes`);
    // Every dataset with gold models is rebuilt; this test looks at the e-commerce one.
    await goldRefresh({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } }, context);
    const { rows } = await platform.pool.query(`SELECT mode, models FROM ops.gold_refreshes WHERE id > $1`, [last.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].mode).toBe('full');
    expect(rows[0].models).toEqual(expect.arrayContaining(['conversion_funnel', 'customer_metrics', 'daily_sales_summary', 'product_performance']));
    const record = logs.find((l) => l.startsWith('medallion.gold_refresh '));
    expect(JSON.parse(record!.slice('medallion.gold_refresh '.length))).toMatchObject({ dataset: '*', mode: 'full' });
    const exported = await platform.pool.query(`SELECT refresh_id::int AS id FROM ops.gold_exports WHERE dataset = 'ecommerce_events'`);
    expect(exported.rows[0].id).toBeGreaterThan(last.id);
    const files: string[] = [];
    for await (const f of platform.lake.list('gold', 'ecommerce_events/')) files.push(f.path);
    expect(files.sort()).toEqual(['conversion_funnel', 'customer_metrics', 'daily_sales_summary', 'product_performance'].map((t) => `ecommerce_events/${t}.parquet`));
  });

  it('a changed model file is dropped, recreated and rebuilt in full with the next file', async () => {
    const before = await readGold(platform.pool);
    await platform.pool.query(`UPDATE ops.gold_models SET sql_hash = 'an older version' WHERE table_name = 'daily_sales_summary'`);
    await platform.pool.query(`UPDATE gold.daily_sales_summary SET total_events = -1`);
    const { rows: [last] } = await platform.pool.query(`SELECT max(id)::int AS id FROM ops.gold_refreshes`);
    await platform.lake.write('bronze', 'ecommerce_events/ops/c.csv', Readable.from([Buffer.from(csv(lines.slice(0, 10)))]));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/ops/c.csv')).outcome).toBe('succeeded');
    // The edited model (and only it: nothing reads it) is built in full inside the file's refresh.
    const { rows } = await platform.pool.query(`SELECT sections_ms FROM ops.gold_refreshes WHERE id > $1 AND dataset = 'ecommerce_events'`, [last.id]);
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0].sections_ms).filter((k) => k.endsWith('.full'))).toEqual(['daily_sales_summary.full']);
    expect(await readGold(platform.pool)).toEqual(before); // c.csv only repeats rows already in silver
  });

  it('refuses a model with an uncommented column or a missing section', async () => {
    expect(() => parseGoldModel('x', '/m/t_bad.sql', '-- @ddl\nCREATE TABLE gold.t_bad (a int);\n')).toThrow(/missing the -- @select section/);
    expect(() => parseGoldModel('x', '/m/t_bad.sql', '-- @ddl\nCREATE TABLE gold.other (a int);\n-- @select\nSELECT 1 AS a')).toThrow(/CREATE TABLE gold.t_bad/);
    expect(() => parseGoldModel('x', '/m/t_bad.sql', '-- @ddl\nCREATE TABLE gold.t_bad (a int);\n-- @select\nSELECT 1 AS a\n-- @incremental\nSELECT 1')).toThrow(/unknown marker '-- @incremental'/);
    const model = parseGoldModel(
      'ecommerce_events',
      '/m/t_uncommented.sql',
      `-- @ddl\nCREATE TABLE gold.t_uncommented (a bigint PRIMARY KEY, b bigint);\nCOMMENT ON COLUMN gold.t_uncommented.a IS 'a';\n-- @select\nSELECT user_id AS a, count(*) AS b FROM silver.ecommerce_events GROUP BY user_id`,
    );
    const contracts = platform.contracts.all();
    const graph = new GoldGraph(contracts, (d) => (d === 'ecommerce_events' ? [model] : []));
    const db = await platform.pool.connect();
    try {
      await db.query('BEGIN');
      // Set aside, with the reason in one line; nothing else is stopped.
      const { broken, unbuilt } = await ensureGold(db, graph);
      expect([...broken.keys()]).toEqual(['t_uncommented']);
      expect(broken.get('t_uncommented')).toMatch(/t_uncommented\.sql: every column needs a COMMENT ON COLUMN; missing for b$/);
      expect(unbuilt.has('t_uncommented')).toBe(false);
    } finally {
      await db.query('ROLLBACK');
      db.release();
    }
  });

  it('the gold benchmark runs with a small N (smoke)', async () => {
    const result = await benchGold({
      // Each layout on its own fresh database, as in the bench.
      platform: async () => (await freshPlatform()).platform,
      workDir: dir,
      files: 2,
      rowsPerFile: 1500,
      samples: 2,
    });
    expect(result.layouts.map((l) => l.layout)).toEqual(['new-week', 'same-week']);
    for (const l of result.layouts) {
      expect(l.files).toHaveLength(2);
      expect(l.files[1]!.silverTotal).toBe(l.files[0]!.silverRows + l.files[1]!.silverRows);
      for (const f of l.files) {
        expect(f.inTxSamplesMs).toHaveLength(2); // one rolled back (savepoint), one committed
        expect(f.exportSamplesMs).toHaveLength(2);
        expect(f.inTxMs).toBeGreaterThan(0);
        expect(f.exportMs).toBeGreaterThan(0);
        expect(f.endToEndMs).toBeGreaterThan(0);
        expect(f.copyMs).toBeGreaterThan(0);
        expect(f.duckParseMs).toBeGreaterThan(0);
        expect(f.duckComputeMs).toBeGreaterThan(0);
        expect(Object.keys(f.sectionsMs).length).toBeGreaterThan(0);
      }
      expect(l.fullRebuildMs).toBeGreaterThan(0);
      // The DuckDB baseline computes the same four tables as gold.
      expect(l.crossCheck).toHaveLength(4);
      for (const c of l.crossCheck) expect(c.duckdb, c.table).toBe(c.gold);
    }
    // Same users in every file of layout B, half shared between neighbours in A.
    expect(result.layouts[1]!.files[1]!.customers).toBeLessThan(result.layouts[0]!.files[1]!.customers);
    expect(result.figures).toHaveLength(10);
    const printed = describeGoldBench(result);
    for (const f of result.figures) expect(printed).toContain(f.figure);
    expect(printed).toMatch(/customer_metrics/);
  });
});
