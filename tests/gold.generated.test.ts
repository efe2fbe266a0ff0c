import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildGold } from '../shared/gold/refresh';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { csv, goldInput, HAND, splitInput } from './support/goldFiles';
import { expectedGold, type GoldExpected, goldMismatches, readGold, type Row } from './support/goldReference';
import { freshPlatform } from './support/platform';
import { referenceSilver } from './support/reference';

async function ingestAll(platform: Platform, files: string[][], prefix: string): Promise<void> {
  for (const [i, lines] of files.entries()) {
    const bronze = `ecommerce_events/${prefix}/part-${i}.csv`;
    await platform.lake.write('bronze', bronze, Readable.from([Buffer.from(csv(lines))]));
    const report = await ingestBronzeFile(platform, bronze);
    expect(report.outcome, report.message).toBe('succeeded');
  }
}

const by = <T extends Row>(rows: T[], key: string, value: string) => rows.find((r) => r[key] === value);

describe('gold on generated files: exact, incremental = full rebuild = independent computation', () => {
  let dir: string;
  let lines: string[];
  let expected: GoldExpected;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gold-gen-'));
    lines = await goldInput(dir);
    // The expectation: the raw lines read in plain JS with the seed's rules (validation,
    // standardisation, dedup), then aggregated with the gold definitions. Never silver.
    const ref = referenceSilver(csv(lines));
    expect(ref.duplicates).toBeGreaterThan(0);
    expect(Object.values(ref.dropped).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(ref.malformed).toBe(1);
    expected = expectedGold(ref.kept);
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  // Random splits into 2-5 files with cross-file duplicates, in random arrival orders.
  for (const [trial, files] of [
    [1, 2],
    [2, 4],
    [3, 5],
  ] as const) {
    it(`split ${trial}: ${files} files in a random order — gold after each file's refresh equals the expectation and a full rebuild`, async () => {
      const { platform } = await freshPlatform();
      try {
        const pieces = splitInput(lines, files, 1000 + trial);
        await ingestAll(platform, pieces, `split-${trial}`);
        const incremental = await readGold(platform.pool);
        expect(goldMismatches(incremental, expected)).toEqual([]);
        const refreshes = await platform.pool.query(`SELECT mode, cardinality(run_ids)::int AS runs FROM ops.gold_refreshes WHERE mode = 'incremental' ORDER BY id`);
        expect(refreshes.rows).toEqual(pieces.map(() => ({ mode: 'incremental', runs: 1 })));
        // After the first file (which builds every model), each file's distinct-set values were
        // read by DuckDB from the file's own silver Parquet, never copied out of PostgreSQL.
        const extracts = await platform.pool.query<{ parquet: boolean; postgres: boolean }>(
          `SELECT sections_ms ? 'run_extract_parquet' AS parquet, sections_ms ? 'run_extract' AS postgres FROM ops.gold_refreshes WHERE mode = 'incremental' AND dataset = 'ecommerce_events' ORDER BY id OFFSET 1`,
        );
        expect(extracts.rows).toEqual(pieces.slice(1).map(() => ({ parquet: true, postgres: false })));
        const full = await rebuildGold(platform.pool, platform.contracts, ['ecommerce_events']);
        expect(full?.mode).toBe('full');
        expect(await readGold(platform.pool)).toEqual(incremental);
      } finally {
        await platform.close();
      }
    });
  }

  it('the open definitions, on hand-made rows', () => {
    const c = (id: number) => by(expected.customer_metrics, 'user_id', String(id))!;
    // Segments: the seed's rules.
    expect(c(HAND.champion).customer_segment).toBe('Champion');
    expect(c(HAND.loyal).customer_segment).toBe('Loyal');
    expect(c(HAND.potential).customer_segment).toBe('Potential Loyalist');
    expect(c(HAND.newCustomer).customer_segment).toBe('New Customer');
    expect(c(HAND.cartAbandoner).customer_segment).toBe('Cart Abandoner');
    expect(c(HAND.visitor).customer_segment).toBe('Visitor');
    expect(c(HAND.removeOnly).customer_segment).toBe('Visitor');
    // Money: exact cents; a free item is a purchase worth 0.00.
    expect(c(HAND.champion)).toMatchObject({ total_purchases: '10', total_revenue: '100.00', avg_purchase_value: '10.00', total_sessions: '1' });
    expect(c(HAND.potential)).toMatchObject({ total_purchases: '2', total_revenue: '55.55', avg_purchase_value: '27.78' });
    expect(c(HAND.cartAbandoner)).toMatchObject({ total_revenue: '0.00', avg_purchase_value: null, rfm_score: null, churn_risk: 'N/A' });
    // Churn risk: days since last activity relative to the newest event (2019-10-31), buyers only.
    expect(c(HAND.churn30).churn_risk).toBe('Low');
    expect(c(HAND.churn31).churn_risk).toBe('Medium');
    expect(c(HAND.churn90).churn_risk).toBe('Medium');
    expect(c(HAND.churn91).churn_risk).toBe('High');
    // RFM: 3..15 for every buyer, NULL for every non-buyer.
    for (const r of expected.customer_metrics) {
      if (r.total_purchases === '0') expect(r.rfm_score).toBeNull();
      else expect(r.rfm_score).toBeGreaterThanOrEqual(3), expect(r.rfm_score).toBeLessThanOrEqual(15);
    }
    // The champion has the most purchases and the latest purchase date: F = R = 5 (M >= 1).
    expect(c(HAND.champion).rfm_score).toBeGreaterThanOrEqual(11);
    // Products: ties share a rank; no revenue = Bottom 50%; the latest-event tie is decided by event_id.
    const p = (id: number) => by(expected.product_performance, 'product_id', String(id))!;
    expect(p(HAND.tieA).revenue_rank_global).toBe(p(HAND.tieB).revenue_rank_global);
    expect(p(HAND.tieA).avg_price).toBe('55.55');
    expect(expected.product_performance.filter((r) => r.total_revenue === '0.00').every((r) => r.performance_tier === 'Bottom 50%')).toBe(true);
    expect(expected.product_performance.find((r) => r.revenue_rank_global === 1)!.performance_tier).toBe('Top 10%');
    expect(['bosch', 'casio']).toContain(p(HAND.latestTie).brand);
    // Days: a zero-revenue previous day and a missing previous day give no day-over-day change.
    const d = (date: string) => by(expected.daily_sales_summary, 'event_date', date)!;
    expect(d('2019-10-29')).toMatchObject({ day_name: 'Tuesday', total_revenue: '0.00', avg_order_value: null, total_purchases: '0' });
    expect(d('2019-10-30').revenue_dod_change).toBeNull();
    expect(d('2019-10-31').revenue_dod_change).toBeCloseTo((100 * (Number(d('2019-10-31').total_revenue) - 55.55)) / 55.55, 9);
    expect(by(expected.daily_sales_summary, 'event_date', '2019-10-28')).toBeUndefined();
    // 7-day window: calendar days 10-25..10-31 (days without events count as 0), over 7 days.
    const window = ['2019-10-25', '2019-10-26', '2019-10-27', '2019-10-28', '2019-10-29', '2019-10-30', '2019-10-31'];
    const sumCents = window.reduce((a, w) => a + Math.round(Number(by(expected.daily_sales_summary, 'event_date', w)?.total_revenue ?? 0) * 100), 0);
    expect(d('2019-10-31').revenue_7d_avg).toBe((Math.round(sumCents / 7) / 100).toFixed(2));
    // The first day of history averages over the days since the first date (1 here), not 7.
    const first = expected.daily_sales_summary[0]!;
    expect(first.revenue_7d_avg).toBe(first.total_revenue);
    // Funnel: blank categories are the 'unknown' row; abandonment = carted sessions without purchase.
    expect(by(expected.conversion_funnel.filter((r) => r.event_date === '2019-10-29'), 'category_l1', 'unknown')).toMatchObject({ total_sessions: '1', sessions_with_view: '1' });
    for (const r of expected.conversion_funnel) {
      for (const k of ['session_view_to_cart_rate', 'session_cart_to_purchase_rate', 'cart_abandonment_rate']) {
        const v = r[k] as number | null;
        if (v !== null) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(100);
      }
      if (r.cart_abandonment_rate !== null) expect((r.cart_abandonment_rate as number) + (r.session_cart_to_purchase_rate as number)).toBeCloseTo(100, 9);
    }
  });

  it('recomputes only what a file touched: other days and customers keep their rows', async () => {
    const { platform } = await freshPlatform();
    try {
      const [june, rest] = [lines.filter((l) => l.startsWith('2019-06')), lines.filter((l) => !l.startsWith('2019-06'))];
      await ingestAll(platform, [june], 'touch-a');
      const before = await platform.pool.query(`SELECT event_date::text, xmin::text FROM gold.daily_sales_summary ORDER BY 1`);
      await ingestAll(platform, [rest.filter((l) => l.startsWith('2019-08-2'))], 'touch-b');
      const after = await platform.pool.query(`SELECT event_date::text, xmin::text FROM gold.daily_sales_summary WHERE event_date < '2019-07-01' ORDER BY 1`);
      // June rows untouched by the August file (same row versions) — the window columns of June
      // cannot change, and the finalize step writes only rows whose value changes.
      expect(after.rows).toEqual(before.rows);
    } finally {
      await platform.close();
    }
  });

  it('a full rebuild waits for a file load holding the dataset lock (never interleaves)', async () => {
    const { platform, env } = await freshPlatform();
    const holder = new pg.Client({ connectionString: env.DATABASE_URL });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended('medallion:dataset:ecommerce_events', 0))`);
      let done = false;
      const rebuild = rebuildGold(platform.pool, platform.contracts, ['ecommerce_events']).then((r) => ((done = true), r));
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false);
      await holder.query(`SELECT pg_advisory_unlock(hashtextextended('medallion:dataset:ecommerce_events', 0))`);
      expect((await rebuild)?.mode).toBe('full');
    } finally {
      await holder.end();
      await platform.close();
    }
  });
});
