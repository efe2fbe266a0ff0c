import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProduce } from '../shared/cli/commands/produce';
import { rebuildGold, rebuildInTransaction, withDatasetTransaction } from '../shared/gold';
import { readSmall } from '../shared/lake/lake';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { generateCustomerStream } from '../shared/streaming/generator';
import { type BronzeStreamResult, produceToBronze } from '../shared/streaming/toBronze';
import { GOLD_CUSTOMERS_SQL, GOLD_SUMMARY_SQL, goldChurnSummary, goldCustomers, type RefCustomer, typeRecord } from './support/customersReference';
import { freshPlatform } from './support/platform';


const LATENESS_MS = 10 * 60_000;

describe('a generated stream with updates (out of order, late, missing totals) → bronze → silver → gold', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let produced: BronzeStreamResult;
  const { records, summary } = generateCustomerStream({ count: 1500, updates: 0.35, seed: 21, start: new Date('2024-05-03T06:00:00Z'), stepMs: 1000 });

  beforeAll(async () => {
    ({ platform, env } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  it('lands every batch file; each record is in silver or counted as an older/duplicate version', async () => {
    expect(summary).toMatchObject({ records: 1500 });
    expect(summary.delayed).toBeGreaterThan(50);
    produced = await produceToBronze(platform.lake, records, { partitions: 2, batchSize: 300, ingest: (p) => ingestBronzeFile(platform, p) });
    expect(produced.sent).toBe(1500);
    expect(produced.files.every((f) => f.report?.outcome === 'succeeded')).toBe(true);
    expect(produced.files.every((f) => /^customers\/ingest_date=\d{4}-\d\d-\d\d\/hour=\d\d\/plocal[01]-\d{20}-\d{20}\.jsonl\.gz$/.test(f.path))).toBe(true);
    const ledgers = produced.files.map((f) => f.report!.ledger!);
    const total = (k: 'rows_read' | 'rows_silver' | 'rows_quarantined' | 'duplicates_in_file' | 'duplicates_cross_file') => ledgers.reduce((s, l) => s + Number(l[k]), 0);
    expect(total('rows_read')).toBe(1500);
    expect(total('rows_quarantined')).toBe(0);
    expect(total('rows_silver') + total('duplicates_in_file') + total('duplicates_cross_file')).toBe(1500);
    // Warnings count the rows each file sends to silver: the latest version of each customer in
    // the file (ties: the later line). Computed here from the bronze files themselves.
    const isBad = (email: string) => !/^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/.test(email);
    let bad = 0;
    for (const f of produced.files) {
      const lines = gunzipSync(await readSmall(await platform.lake.read('bronze', f.path))).toString('utf8').split('\n').filter(Boolean);
      const latest = new Map<string, { at: number; email: string }>();
      for (const line of lines) {
        const r = JSON.parse(line) as { customer_id: string; updated_at: string; email: string };
        const at = Date.parse(r.updated_at);
        const seen = latest.get(r.customer_id.trim());
        if (!seen || at >= seen.at) latest.set(r.customer_id.trim(), { at, email: r.email.trim().toLowerCase() });
      }
      bad += [...latest.values()].filter((v) => isBad(v.email)).length;
    }
    expect(bad).toBeGreaterThan(0);
    expect(ledgers.reduce((s, l) => s + (l.warnings.valid_email ?? 0), 0)).toBe(bad);
    const customers = new Set(records.map((r) => r.customer_id)).size;
    expect((await platform.pool.query('SELECT count(*)::int AS n FROM silver.customers')).rows[0].n).toBe(customers);
  });

  it('counts late records per file exactly as the watermark rule says (computed here from the bronze files)', async () => {
    // Read back what each file holds, in the order the files were ingested.
    let newest = -Infinity;
    const expected: number[] = [];
    for (const f of produced.files) {
      const lines = gunzipSync(await readSmall(await platform.lake.read('bronze', f.path)))
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { customer_id: string; updated_at: string });
      // Within a file only the latest version of each customer is loaded (later line wins ties).
      const kept = new Map<string, number>();
      for (const r of lines) kept.set(r.customer_id, Math.max(kept.get(r.customer_id) ?? -Infinity, Date.parse(r.updated_at)));
      expected.push([...kept.values()].filter((t) => t < newest - LATENESS_MS).length);
      for (const r of lines) newest = Math.max(newest, Date.parse(r.updated_at));
    }
    expect(expected.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(produced.files.map((f) => f.report!.ledger!.warnings.late_records)).toEqual(expected);
  });

  it('gold holds the latest version of every customer and the churn summary over them (incremental == full == computed here)', async () => {
    const current = new Map<string, RefCustomer>();
    for (const r of records) {
      const c = typeRecord(r as unknown as Record<string, unknown>, 0);
      const prev = current.get(c.customer_id);
      if (!prev || prev.updated_at_ms <= c.updated_at_ms) current.set(c.customer_id, c);
    }
    const expectedCustomers = goldCustomers(current.values());
    const expectedSummary = goldChurnSummary(current.values());
    // The stream exercised what it should: imputed totals among current versions, invalid e-mails hidden.
    expect(expectedCustomers.some((c) => c.total_charges_imputed)).toBe(true);
    expect(expectedCustomers.some((c) => !c.email_valid && c.email === null)).toBe(true);
    expect(expectedSummary.every((g) => g.churn_rate === null)).toBe(true);

    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(expectedCustomers);
    expect((await platform.pool.query(GOLD_SUMMARY_SQL)).rows).toEqual(expectedSummary);
    await rebuildGold(platform.pool, platform.contracts, ['customers']);
    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(expectedCustomers);
    expect((await platform.pool.query(GOLD_SUMMARY_SQL)).rows).toEqual(expectedSummary);

    // With the PII setting on (GOLD_SHOW_PII=true → medallion.gold_show_pii), names and valid e-mails appear in clear.
    await withDatasetTransaction(platform.pool, 'customers', async (db) => {
      await db.query(`SELECT set_config('medallion.gold_show_pii', 'true', true)`);
      await rebuildInTransaction(db, platform.contracts, ['customers']);
    });
    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(goldCustomers(current.values(), true));
    await rebuildGold(platform.pool, platform.contracts, ['customers']);
    expect((await platform.pool.query(GOLD_CUSTOMERS_SQL)).rows).toEqual(expectedCustomers);
  });

  it('medallion produce customers --to bronze: the same path from the CLI, sequence numbers continue after the files already there', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const before = (await platform.pool.query('SELECT count(*)::int AS n FROM silver.customers')).rows[0].n as number;
    const code = await runProduce(['customers', '--count', '120', '--updates', '0', '--seed', '5', '--to', 'bronze'], {
      env,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      log: silentLogger,
    });
    expect(code, [...out, ...err].join('\n')).toBe(0);
    expect(out.at(-1)).toMatch(/^wrote 120 record\(s\) in \d+ file\(s\) to bronze\/customers\/ and ingested them/);
    expect((await platform.pool.query('SELECT count(*)::int AS n FROM silver.customers')).rows[0].n).toBe(before + 120);
    // The CLI's files continue each partition's sequence numbers: nothing of the first stream was overwritten.
    const earlier = new Set(produced.files.map((f) => f.path));
    const names: string[] = [];
    for await (const f of platform.lake.list('bronze', 'customers/')) names.push(f.path);
    const added = names.filter((n) => !earlier.has(n));
    expect(names.filter((n) => earlier.has(n))).toHaveLength(produced.files.length);
    expect(added).toHaveLength(out.length - 1);
    for (const pid of ['local0', 'local1']) {
      const lastBefore = Math.max(...produced.files.filter((f) => f.partitionId === pid).map((f) => f.lastSequenceNumber));
      const firsts = added.map((n) => new RegExp(`/p${pid}-(\\d{20})-`).exec(n)).filter(Boolean).map((m) => Number(m![1]));
      expect(Math.min(...firsts)).toBe(lastBefore + 1);
    }
  });
});
