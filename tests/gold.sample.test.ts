import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../shared/engine/transform';
import { readSmall } from '../shared/lake/lake';
import { rebuildGold } from '../shared/gold/refresh';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { expectedGold, type GoldExpected, goldMismatches, readGold } from './support/goldReference';
import { freshPlatform, HAVE_DATASETS, SAMPLE_EVENTS } from './support/platform';
import { referenceFromFile } from './support/reference';

describe.runIf(HAVE_DATASETS)('gold on the real REES46 sample (2019-Oct_first17k.csv)', () => {
  let platform: Platform;
  let expected: GoldExpected;
  let afterIngest: GoldExpected;

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    // Expected values from the raw file, in plain JS (not from silver).
    expected = expectedGold(referenceFromFile(SAMPLE_EVENTS).kept);
    await platform.lake.write('bronze', 'ecommerce_events/2019-Oct_first17k.csv', createReadStream(SAMPLE_EVENTS));
    const report = await ingestBronzeFile(platform, 'ecommerce_events/2019-Oct_first17k.csv');
    expect(report.outcome).toBe('succeeded');
    afterIngest = await readGold(platform.pool);
  });
  afterAll(async () => platform?.close());

  it('the independent reading of the raw file has the quirks the README lists', () => {
    const ref = referenceFromFile(SAMPLE_EVENTS);
    expect(ref.rowsRead).toBe(17_435);
    expect(ref.malformed).toBe(1);
    expect(ref.duplicates).toBe(5);
    expect(ref.kept.length).toBe(17_429);
  });

  it('every gold row and value equals the independent computation (incremental refresh in the file transaction)', () => {
    expect(goldMismatches(afterIngest, expected)).toEqual([]);
  });

  it('headline numbers of the sample, computed from the raw file', () => {
    const ref = referenceFromFile(SAMPLE_EVENTS).kept;
    const purchases = ref.filter((e) => e.eventType === 'purchase');
    const revenueCents = purchases.reduce((a, e) => a + Math.round(e.price * 100), 0);
    expect(afterIngest.customer_metrics.length).toBe(new Set(ref.map((e) => e.userId)).size);
    expect(afterIngest.product_performance.length).toBe(new Set(ref.map((e) => e.productId)).size);
    expect(afterIngest.daily_sales_summary).toHaveLength(1);
    const day = afterIngest.daily_sales_summary[0]!;
    expect(day.event_date).toBe('2019-10-01');
    expect(day.day_name).toBe('Tuesday');
    expect(day.total_events).toBe(String(ref.length));
    expect(day.total_purchases).toBe(String(purchases.length));
    expect(Math.round(Number(day.total_revenue) * 100)).toBe(revenueCents);
    // One day of history: the 7-day average is that day's revenue; no previous day.
    expect(day.revenue_7d_avg).toBe(day.total_revenue);
    expect(day.revenue_dod_change).toBeNull();
    // Every buyer is active "today" (the newest event's date): churn risk Low; non-buyers N/A.
    const risks = new Set(afterIngest.customer_metrics.map((c) => `${c.total_purchases === '0'}:${c.churn_risk}`));
    expect([...risks].sort()).toEqual(['false:Low', 'true:N/A']);
    // Blank category codes are counted in the funnel under 'unknown', not dropped.
    expect(afterIngest.conversion_funnel.some((r) => r.category_l1 === 'unknown')).toBe(true);
    const funnelRevenue = afterIngest.conversion_funnel.reduce((a, r) => a + Math.round(Number(r.total_revenue) * 100), 0);
    expect(funnelRevenue).toBe(revenueCents);
  });

  it('a full rebuild gives the same tables', async () => {
    const r = await rebuildGold(platform.pool, platform.contracts, ['ecommerce_events']);
    expect(r?.mode).toBe('full');
    expect(await readGold(platform.pool)).toEqual(afterIngest);
  });

  it('exports every gold table to the lake as Parquet with exact types (19-digit ids, cents)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gold-parquet-'));
    const { con, close } = await openEngine({ memoryLimit: '256MB', threads: 1, spillDir: path.join(dir, 'spill') });
    try {
      for (const table of ['customer_metrics', 'product_performance', 'daily_sales_summary', 'conversion_funnel'] as const) {
        const file = path.join(dir, `${table}.parquet`);
        const bytes = await readSmall(await platform.lake.read('gold', `ecommerce_events/${table}.parquet`));
        await (await import('node:fs/promises')).writeFile(file, bytes);
        const n = await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}')`);
        expect(n.getRowObjects()[0]!.n).toBe(expected[table].length);
      }
      const types = await con.runAndReadAll(
        `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('${path.join(dir, 'product_performance.parquet')}'))`,
      );
      const t = Object.fromEntries(types.getRowObjects().map((r) => [String(r.column_name), String(r.column_type)]));
      expect(t).toMatchObject({ product_id: 'BIGINT', category_id: 'BIGINT', total_revenue: 'DECIMAL(18,2)', view_to_cart_rate: 'DOUBLE', revenue_rank_global: 'INTEGER', brand: 'VARCHAR' });
      const rows = await con.runAndReadAll(
        `SELECT product_id::VARCHAR AS product_id, category_id::VARCHAR AS category_id, total_revenue::VARCHAR AS total_revenue FROM read_parquet('${path.join(dir, 'product_performance.parquet')}') ORDER BY read_parquet.product_id`,
      );
      const fromParquet = rows.getRowObjects().map((r) => ({ product_id: r.product_id, category_id: r.category_id, total_revenue: r.total_revenue }));
      expect(fromParquet).toEqual(expected.product_performance.map((r) => ({ product_id: r.product_id, category_id: r.category_id, total_revenue: r.total_revenue })));
      expect(fromParquet.some((r) => String(r.category_id).length === 19)).toBe(true);
    } finally {
      close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
