import { InvocationContext, type Timer } from '@azure/functions';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheck } from '../functions/healthCheck';
import { setPlatformForTests } from '../functions/support/platform';
import { main } from '../shared/cli/main';
import { type Logger, silentLogger } from '../shared/log';
import { type HealthRun, runHealthChecks } from '../shared/ops/health';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';
import { freshPlatform } from './support/platform';

const customer = (id: string, tenure: number) => ({
  customer_id: id,
  gender: 'Female',
  senior_citizen: 0,
  partner: 'Yes',
  dependents: 'No',
  tenure,
  phone_service: true,
  internet_service: 'DSL',
  contract: 'Month-to-month',
  monthly_charges: 20,
  total_charges: 20 * tenure,
  updated_at: `2024-05-03T07:${String(tenure).padStart(2, '0')}:00Z`,
  email: `${id.toLowerCase()}@example.com`,
});

const records: { level: string; message: string; props: Record<string, unknown> }[] = [];
const recorder: Logger = {
  info: (message, props = {}) => records.push({ level: 'info', message, props }),
  warn: (message, props = {}) => records.push({ level: 'warn', message, props }),
  error: (message, props = {}) => records.push({ level: 'error', message, props }),
};

/** The failing results as check:dataset[:target]. */
function failing(run: HealthRun): string[] {
  return run.results.filter((r) => r.status === 'fail').map((r) => [r.check, r.dataset, r.target].filter(Boolean).join(':'));
}

/** A complete UTC day `k` days before today, at noon, as SQL. */
const dayAgo = (k: number) => `((date_trunc('day', now() AT TIME ZONE 'UTC') - interval '${k} days' + interval '12 hours') AT TIME ZONE 'UTC')`;

describe('health checks (freshness, row-count variance, duplicate keys, stuck runs, quarantine rate, failed files)', () => {
  let platform: Platform;
  let p: Platform;
  let env: Record<string, string>;
  let dir: string;
  const check = () => runHealthChecks(p, { env });

  async function insertRun(args: { path: string; dataset: string; status: string; started: string; finished?: string; read?: number; silver?: number; quarantined?: number }) {
    await platform.pool.query(
      `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, rows_read, rows_silver, rows_quarantined, duplicates_in_file, duplicates_cross_file, started_at, finished_at)
       VALUES ($1, 'etag-test', gen_random_uuid(), $2, 100, $3, $4, $5, $6, CASE WHEN $3 = 'succeeded' THEN 0 END, CASE WHEN $3 = 'succeeded' THEN 0 END, ${args.started}, ${args.finished ?? 'NULL'})`,
      [args.path, args.dataset, args.status, args.read ?? null, args.silver ?? null, args.quarantined ?? null],
    );
  }

  beforeAll(async () => {
    // The two datasets these expectations are written for (a dataset without files is skipped as not in use).
    ({ platform, env } = await freshPlatform({ datasets: ['ecommerce_events', 'customers'] }));
    p = { ...platform, log: recorder };
    dir = await mkdtemp(path.join(os.tmpdir(), 'health-'));
    const file = path.join(dir, 'events.csv');
    await writeEcommerceSample(file, { rows: 2000, seed: 11, days: 1, duplicateRate: 0.01, badRate: 0.01 });
    await platform.lake.write('bronze', 'ecommerce_events/events.csv', createReadStream(file));
    expect((await ingestBronzeFile(platform, 'ecommerce_events/events.csv')).outcome).toBe('succeeded');
    const lines = ['C-1', 'C-2', 'C-3', 'C-4'].map((id, i) => JSON.stringify(customer(id, i + 1))).join('\n') + '\n';
    await platform.lake.write('bronze', 'customers/ingest_date=2024-05-03/hour=07/p0-1-4.jsonl.gz', Readable.from([gzipSync(lines)]));
    expect((await ingestBronzeFile(platform, 'customers/ingest_date=2024-05-03/hour=07/p0-1-4.jsonl.gz')).outcome).toBe('succeeded');
  });
  afterAll(async () => {
    setPlatformForTests(undefined);
    await platform?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('with data landed, every check passes; results stored in ops.health_checks and logged as medallion.health', async () => {
    records.length = 0;
    const run = await check();
    expect(failing(run)).toEqual([]);
    const names = run.results.map((r) => [r.check, r.dataset, r.target].filter(Boolean).join(':')).sort();
    expect(names).toEqual(
      [
        'duplicate_keys:customers:gold.customer_churn_summary',
        'duplicate_keys:customers:gold.customers',
        'duplicate_keys:customers:silver.customers',
        'duplicate_keys:ecommerce_events:gold.conversion_funnel',
        'duplicate_keys:ecommerce_events:gold.customer_metrics',
        'duplicate_keys:ecommerce_events:gold.daily_sales_summary',
        'duplicate_keys:ecommerce_events:gold.product_performance',
        'duplicate_keys:ecommerce_events:silver.ecommerce_events',
        'failed_files:customers',
        'failed_files:ecommerce_events',
        'freshness:customers',
        'freshness:ecommerce_events',
        'quarantine_rate:customers',
        'quarantine_rate:ecommerce_events',
        'row_count_variance:customers',
        'row_count_variance:ecommerce_events',
        'stuck_runs:customers',
        'stuck_runs:ecommerce_events',
      ].sort(),
    );
    const fresh = run.results.find((r) => r.check === 'freshness' && r.dataset === 'customers')!;
    expect(fresh.threshold).toBe(26 * 60);
    expect(fresh.value).toBeLessThan(5);
    expect(run.results.find((r) => r.check === 'row_count_variance')!.message).toMatch(/^skipped: no complete day of data yet/);
    const q = run.results.find((r) => r.check === 'quarantine_rate' && r.dataset === 'ecommerce_events')!;
    expect(q.value).toBeGreaterThan(0);
    expect(q.threshold).toBe(0.05);

    const stored = await platform.pool.query(`SELECT "check", dataset, target, status, value, threshold, message FROM ops.health_checks WHERE run_id = $1`, [run.runId]);
    expect(stored.rows.length).toBe(run.results.length);
    expect(stored.rows.every((r) => r.status === 'pass')).toBe(true);
    const logged = records.filter((r) => r.message === 'medallion.health');
    expect(logged.length).toBe(run.results.length);
    expect(logged.every((r) => r.level === 'info')).toBe(true);
    expect(Object.keys(logged[0]!.props).sort()).toEqual(['check', 'checked_at', 'dataset', 'message', 'run_id', 'status', 'target', 'threshold', 'value']);
  });

  it('stale dataset: only freshness of that dataset fails; ops.dataset_expectations raises its limit', async () => {
    await platform.pool.query(`UPDATE ops.file_runs SET started_at = started_at - interval '30 hours', finished_at = finished_at - interval '30 hours' WHERE dataset = 'customers'`);
    try {
      records.length = 0;
      const run = await check();
      expect(failing(run)).toEqual(['freshness:customers']);
      const r = run.results.find((x) => x.check === 'freshness' && x.dataset === 'customers')!;
      expect(r.value).toBeGreaterThan(30 * 60 - 1);
      expect(r.message).toMatch(/newest file landed 30\.\d h ago .*more than the 26\.0 h allowed/);
      const warned = records.filter((x) => x.message === 'medallion.health' && x.level === 'warn');
      expect(warned.map((x) => [x.props.check, x.props.dataset, x.props.status])).toEqual([['freshness', 'customers', 'fail']]);

      await platform.pool.query(`INSERT INTO ops.dataset_expectations (dataset, max_age_minutes) VALUES ('customers', 48 * 60)`);
      const relaxed = await check();
      expect(failing(relaxed)).toEqual([]);
      expect(relaxed.results.find((x) => x.check === 'freshness' && x.dataset === 'customers')!.threshold).toBe(2880);
    } finally {
      await platform.pool.query(`DELETE FROM ops.dataset_expectations`);
      await platform.pool.query(`UPDATE ops.file_runs SET started_at = started_at + interval '30 hours', finished_at = finished_at + interval '30 hours' WHERE dataset = 'customers'`);
    }
  });

  it('a dataset no file of which ever arrived (no run in the ledger) is not in use: skipped, not failed, no warning; medallion health shows skip and exits 0', async () => {
    await platform.pool.query(`UPDATE ops.file_runs SET dataset = 'hidden' WHERE dataset = 'customers'`);
    try {
      records.length = 0;
      const run = await check();
      expect(failing(run)).toEqual([]);
      const r = run.results.find((x) => x.check === 'freshness' && x.dataset === 'customers')!;
      expect(r).toMatchObject({ status: 'pass', notInUse: true, value: null, message: 'not in use: no file of this dataset has arrived (no run in the ledger); judged from its first file on' });
      expect(run.results.filter((x) => x.notInUse).map((x) => x.dataset)).toEqual(['customers']);
      // Logged as information (the alert rule reads warnings with status fail): no monitoring signal for it.
      expect(records.filter((x) => x.level === 'warn')).toEqual([]);
      expect(records.filter((x) => x.props.check === 'freshness' && x.props.dataset === 'customers').map((x) => [x.level, x.props.status])).toEqual([['info', 'pass']]);
      const stored = await platform.pool.query(`SELECT status, message FROM ops.health_checks WHERE run_id = $1 AND "check" = 'freshness' AND dataset = 'customers'`, [run.runId]);
      expect(stored.rows).toEqual([{ status: 'pass', message: r.message }]);

      records.length = 0;
      const out: string[] = [];
      const code = await main(['health'], { env, out: (l) => out.push(l), err: () => undefined, log: recorder });
      expect(code).toBe(0);
      const text = out.join('\n');
      expect(text).toMatch(/^skip\s+freshness\s+customers\s+.*not in use: no file of this dataset has arrived/m);
      expect(text).not.toMatch(/^FAIL/m);
      expect(text).toMatch(/18 of 18 check\(s\) passed; not in use \(no file yet, skipped\): customers \(run [0-9a-f-]{36}, in ops.health_checks\)$/);
      expect(records.filter((x) => x.level === 'warn')).toEqual([]);
    } finally {
      await platform.pool.query(`UPDATE ops.file_runs SET dataset = 'customers' WHERE dataset = 'hidden'`);
    }
  });

  it('a dataset whose files arrived but never landed (failed runs only) still fails freshness, with a warning', async () => {
    await platform.pool.query(`UPDATE ops.file_runs SET dataset = 'hidden' WHERE dataset = 'customers'`);
    // Failed 3 days ago: outside failed_files' 24 h, so freshness is what still says something is wrong.
    await insertRun({ path: 'customers/bad.jsonl', dataset: 'customers', status: 'failed', started: `now() - interval '3 days'`, finished: `now() - interval '3 days'` });
    try {
      records.length = 0;
      const run = await check();
      expect(failing(run)).toEqual(['freshness:customers']);
      const r = run.results.find((x) => x.check === 'freshness' && x.dataset === 'customers')!;
      expect(r.notInUse).toBeUndefined();
      expect(r.message).toBe('no file has landed: 1 run(s) in the ledger, none succeeded (see medallion status --dataset customers)');
      const warned = records.filter((x) => x.message === 'medallion.health' && x.level === 'warn');
      expect(warned.map((x) => [x.props.check, x.props.dataset, x.props.status])).toEqual([['freshness', 'customers', 'fail']]);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
      await platform.pool.query(`UPDATE ops.file_runs SET dataset = 'customers' WHERE dataset = 'hidden'`);
    }
  });

  it("duplicate business key in a 'latest' silver table (its primary key dropped): only duplicate_keys of silver.customers fails", async () => {
    await platform.pool.query(`ALTER TABLE silver.customers DROP CONSTRAINT customers_pkey`);
    await platform.pool.query(`INSERT INTO silver.customers SELECT * FROM silver.customers WHERE customer_id = 'C-2'`);
    try {
      const run = await check();
      expect(failing(run)).toEqual(['duplicate_keys:customers:silver.customers']);
      const r = run.results.find((x) => x.target === 'silver.customers')!;
      expect({ value: r.value, threshold: r.threshold, message: r.message }).toEqual({ value: 1, threshold: 0, message: '1 value(s) of (customer_id) on more than one row (2 rows)' });
    } finally {
      await platform.pool.query(`DELETE FROM silver.customers a USING silver.customers b WHERE a.customer_id = b.customer_id AND a.ctid > b.ctid`);
      await platform.pool.query(`ALTER TABLE silver.customers ADD PRIMARY KEY (customer_key)`);
    }
  });

  it('duplicate primary key in a gold table (its key dropped since the last check): only duplicate_keys of that table fails', async () => {
    await platform.pool.query(`ALTER TABLE gold.customers DROP CONSTRAINT customers_pkey`);
    await platform.pool.query(`INSERT INTO gold.customers SELECT * FROM gold.customers WHERE customer_id = 'C-3'`);
    try {
      const run = await check();
      expect(failing(run)).toEqual(['duplicate_keys:customers:gold.customers']);
      expect(run.results.find((x) => x.target === 'gold.customers')!.message).toBe(
        '1 value(s) of (customer_id) on more than one row (2 rows) (its primary key (customer_id) has been dropped)',
      );
    } finally {
      await platform.pool.query(`DELETE FROM gold.customers a USING gold.customers b WHERE a.customer_id = b.customer_id AND a.ctid > b.ctid`);
      await platform.pool.query(`ALTER TABLE gold.customers ADD PRIMARY KEY (customer_id)`);
    }
    expect(failing(await check())).toEqual([]);
  });

  it('a run stuck in running for 2 hours: only stuck_runs of its dataset fails', async () => {
    await insertRun({ path: 'ecommerce_events/stuck.csv', dataset: 'ecommerce_events', status: 'running', started: `now() - interval '2 hours'` });
    await insertRun({ path: 'ecommerce_events/busy.csv', dataset: 'ecommerce_events', status: 'running', started: `now() - interval '5 minutes'` });
    try {
      const run = await check();
      expect(failing(run)).toEqual(['stuck_runs:ecommerce_events']);
      const r = run.results.find((x) => x.check === 'stuck_runs' && x.dataset === 'ecommerce_events')!;
      expect({ value: r.value, threshold: r.threshold }).toEqual({ value: 1, threshold: 0 });
      expect(r.message).toMatch(/1 run\(s\) running for more than 60 min; oldest bronze\/ecommerce_events\/stuck\.csv, running for 2\.0 h$/);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
    }
  });

  it('quarantine spike over the last 24 h: only quarantine_rate of that dataset fails', async () => {
    await insertRun({ path: 'customers/spike.jsonl', dataset: 'customers', status: 'succeeded', started: `now() - interval '1 hour'`, finished: 'now()', read: 1000, silver: 100, quarantined: 900 });
    try {
      const run = await check();
      expect(failing(run)).toEqual(['quarantine_rate:customers']);
      const r = run.results.find((x) => x.check === 'quarantine_rate' && x.dataset === 'customers')!;
      expect({ value: r.value, threshold: r.threshold }).toEqual({ value: 0.8964, threshold: 0.05 });
      expect(r.message).toBe('900 of 1004 rows quarantined in the last 24 h (89.64%, above 5.00%)');
      // The threshold is the HEALTH_QUARANTINE_RATE setting.
      expect(failing(await runHealthChecks(p, { env: { ...env, HEALTH_QUARANTINE_RATE: '0.95' } }))).toEqual([]);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
    }
  });

  it('row-count variance: the latest complete day against the median of the 7 days before it (> 10% fails; fewer than 3 days skipped)', async () => {
    const history = async (counts: number[]) => {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
      // counts[0] is yesterday, counts[1] the day before, ...
      for (const [k, n] of counts.entries()) {
        await insertRun({ path: `ecommerce_events/history-${k}.csv`, dataset: 'ecommerce_events', status: 'succeeded', started: dayAgo(k + 1), finished: dayAgo(k + 1), read: n, silver: n, quarantined: 0 });
      }
    };
    const variance = (run: HealthRun) => run.results.find((x) => x.check === 'row_count_variance' && x.dataset === 'ecommerce_events')!;
    try {
      await history([1500, 1000, 1000]);
      let run = await check();
      expect(failing(run)).toEqual([]);
      expect(variance(run).message).toMatch(/^skipped: 2 day\(s\) of history before \d{4}-\d\d-\d\d, at least 3 needed/);

      await history([1500, 1000, 1000, 900, 1100, 1000, 950, 1050, 5000]);
      run = await check();
      expect(failing(run)).toEqual(['row_count_variance:ecommerce_events']);
      expect({ value: variance(run).value, threshold: variance(run).threshold }).toEqual({ value: 0.5, threshold: 0.1 });
      expect(variance(run).message).toMatch(/^\d{4}-\d\d-\d\d: 1500 rows read, \+50\.0% against the median 1000 of 7 day\(s\) before \(more than ±10%\)$/);

      await history([850, 1000, 1000, 900, 1100, 1000, 950, 1050]);
      expect(failing(await check())).toEqual(['row_count_variance:ecommerce_events']);
      await history([1080, 1000, 1000, 900, 1100, 1000, 950, 1050]);
      run = await check();
      expect(failing(run)).toEqual([]);
      expect(variance(run).value).toBe(0.08);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
    }
  });

  it('a file that failed in the last 24 h: only failed_files of its dataset fails, until it lands', async () => {
    await platform.lake.write('bronze', 'ecommerce_events/late.csv', Readable.from([Buffer.from('event_time,event_type\n')]));
    platform.blockedDatasets.set('ecommerce_events', 'test block');
    try {
      expect((await ingestBronzeFile(platform, 'ecommerce_events/late.csv')).outcome).toBe('failed');
    } finally {
      platform.blockedDatasets.delete('ecommerce_events');
    }
    try {
      const run = await check();
      expect(failing(run)).toEqual(['failed_files:ecommerce_events']);
      expect(run.results.find((x) => x.check === 'failed_files' && x.dataset === 'ecommerce_events')!.message).toBe(
        '1 file(s) failed in the last 24 h (bad_contract), e.g. bronze/ecommerce_events/late.csv: fix, then medallion replay --failed --dataset ecommerce_events',
      );
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE path = 'ecommerce_events/late.csv'`);
      await platform.lake.delete('bronze', 'ecommerce_events/late.csv');
    }
  });

  it('a transient failure counts as a failed file only once the pipeline gave up on it (MAX_FILE_ATTEMPTS)', async () => {
    const fail = (attempts: number) =>
      platform.pool.query(
        `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, failure_kind, attempts, error, started_at, finished_at)
         VALUES ('customers/flaky.jsonl', 'etag-test', gen_random_uuid(), 'customers', 10, 'failed', 'transient', $1, 'connection reset', now(), now())
         ON CONFLICT (path, etag) DO UPDATE SET attempts = EXCLUDED.attempts`,
        [attempts],
      );
    try {
      await fail(2);
      expect(failing(await check())).toEqual([]);
      await fail(5);
      expect(failing(await check())).toEqual(['failed_files:customers']);
      expect(failing(await runHealthChecks(p, { env: { ...env, MAX_FILE_ATTEMPTS: '8' } }))).toEqual([]);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
    }
  });

  it('medallion health: a table of the results, exit 0 when all pass and 1 when one fails; --json', async () => {
    const cli = async (...argv: string[]) => {
      const out: string[] = [];
      const code = await main(argv, { env, out: (l) => out.push(l), err: () => undefined, log: silentLogger });
      return { code, out: out.join('\n') };
    };
    const ok = await cli('health');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^status\s+check\s+dataset\s+target\s+value\s+threshold\s+message/);
    expect(ok.out).toMatch(/18 of 18 check\(s\) passed \(run [0-9a-f-]{36}, in ops.health_checks\)$/);
    await insertRun({ path: 'ecommerce_events/stuck.csv', dataset: 'ecommerce_events', status: 'running', started: `now() - interval '3 hours'` });
    try {
      const bad = await cli('health', '--json');
      expect(bad.code).toBe(1);
      const run = JSON.parse(bad.out) as HealthRun;
      expect(run.failed).toBe(1);
      expect(failing(run)).toEqual(['stuck_runs:ecommerce_events']);
      const table = await cli('health');
      expect(table.code).toBe(1);
      expect(table.out).toMatch(/^FAIL\s+stuck_runs\s+ecommerce_events/m);
      expect(table.out).toMatch(/17 of 18 check\(s\) passed, 1 FAILED/);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
    }
  });

  it('the healthCheck timer function runs the checks and logs one medallion.health trace per result (warning when failing)', async () => {
    setPlatformForTests(platform);
    await insertRun({ path: 'customers/stuck.jsonl', dataset: 'customers', status: 'running', started: `now() - interval '90 minutes'` });
    const logs: { level: string; text: string }[] = [];
    try {
      const ctx = new InvocationContext({ invocationId: 'health-1', functionName: 'healthCheck', logHandler: (level, ...args) => logs.push({ level, text: args.join(' ') }) });
      const timer: Timer = { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: '', next: '', lastUpdated: '' } };
      const before = (await platform.pool.query(`SELECT count(*)::int AS n FROM ops.health_checks`)).rows[0].n;
      await healthCheck(timer, ctx);
      const health = logs.filter((l) => l.text.startsWith('medallion.health {'));
      expect(health.length).toBe(18);
      const parsed = health.map((l) => ({ level: l.level, ...JSON.parse(l.text.slice('medallion.health '.length)) }));
      expect(parsed.filter((x) => x.status === 'fail').map((x) => [x.level, x.check, x.dataset])).toEqual([['warning', 'stuck_runs', 'customers']]);
      expect(parsed.filter((x) => x.status === 'pass').every((x) => x.level === 'information')).toBe(true);
      const summary = logs.find((l) => l.text.startsWith('medallion.health_run '))!;
      expect(JSON.parse(summary.text.slice('medallion.health_run '.length))).toMatchObject({ checks: 18, failed: 1 });
      expect((await platform.pool.query(`SELECT count(*)::int AS n FROM ops.health_checks`)).rows[0].n).toBe(before + 18);
    } finally {
      await platform.pool.query(`DELETE FROM ops.file_runs WHERE etag = 'etag-test'`);
      setPlatformForTests(undefined);
    }
  });
});
