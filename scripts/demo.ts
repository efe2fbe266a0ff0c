/**
 * `npm run demo`: the platform end to end on the embedded local stack (Azurite + PostgreSQL),
 * over sample exports this script generates with the quirks of real ones. Prints what landed in
 * silver, what was quarantined and why, what was refused as a whole file, and gold highlights.
 * Then the SaaS API sources (scripts/demoApi.ts): Pipedrive and Zendesk extracted from the
 * stand-in API into bronze, staged and modelled into core, changed, and extracted again.
 */
import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describeReport, table } from '../shared/cli/format';
import { crmHighlights, formatCrmHighlights, formatGoldHighlights, goldHighlights } from '../shared/gold/highlights';
import { medallionHome } from '../shared/config';
import { runHealthChecks } from '../shared/ops/health';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { startLocalStack } from '../shared/local/stack';
import { silentLogger } from '../shared/log';
import { createPlatform, type Platform } from '../shared/platform';
import { writeCrmInteractions } from '../shared/samples/crmInteractions';
import { writeCrmSample } from '../shared/samples/crmSample';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';
import { generateCustomerStream } from '../shared/streaming/generator';
import { produceToBronze } from '../shared/streaming/toBronze';
import { runApiDemo } from './demoApi';

const out = (s = '') => process.stdout.write(`${s}\n`);
const heading = (s: string) => out(`\n\x1b[1m${s}\x1b[0m`);

async function makeInputs(dir: string): Promise<{ file: string; bronze: string; note: string; redelivery?: boolean }[]> {
  await mkdir(dir, { recursive: true });
  const day1 = path.join(dir, '2019-10-01_store_export.csv');
  await writeEcommerceSample(day1, { rows: 60_000, seed: 101, days: 1, start: new Date('2019-10-01T00:00:00Z'), duplicateRate: 0.005, badRate: 0.004, truncateLastLine: true });

  // The next day's export was re-run from 20:00 the day before: it repeats 10,000 events of day 1.
  const day2 = path.join(dir, '2019-10-02_store_export.csv');
  await writeEcommerceSample(day2, { rows: 40_000, seed: 102, days: 1, start: new Date('2019-10-02T00:00:00Z'), duplicateRate: 0.005, badRate: 0.004 });
  const d1 = readFileSync(day1, 'utf8').split('\r\n');
  const d2 = readFileSync(day2, 'utf8').split('\r\n');
  const day2gz = `${day2}.gz`;
  writeFileSync(day2gz, gzipSync([d2[0], ...d1.slice(49_990, 59_990), ...d2.slice(1)].join('\r\n')));

  // A partner feed: same data, other column order, upper-case header, LF line endings.
  const partner = path.join(dir, '2019-10-03_partner_feed.csv');
  await writeEcommerceSample(partner, { rows: 5_000, seed: 103, days: 1, start: new Date('2019-10-03T00:00:00Z') });
  const lines = readFileSync(partner, 'utf8').trim().split('\r\n').map((l) => l.split(','));
  const order = [8, 7, 6, 5, 4, 3, 2, 1, 0];
  writeFileSync(partner, lines.map((f, i) => order.map((j) => (i === 0 ? f[j]!.toUpperCase() : f[j])).join(',')).join('\n') + '\n');

  // An export someone cut down by hand: price and user_session are gone.
  const broken = path.join(dir, 'manual_extract.csv');
  writeFileSync(broken, 'event_time,event_type,product_id,category_id,category_code,brand,user_id\r\n2019-10-03 10:00:00 UTC,view,1004767,2053013555631882655,electronics.smartphone,samsung,512345678\r\n');

  // The same extract exported again, with every column: the refused path lands.
  const fixed = path.join(dir, 'manual_extract_fixed.csv');
  writeFileSync(
    fixed,
    'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\r\n2019-10-03 10:00:00 UTC,view,1004767,2053013555631882655,electronics.smartphone,samsung,130.76,512345678,4d3b30da-a5e4-49df-b1a8-ba5943f1dd33\r\n',
  );

  return [
    { file: day1, bronze: 'ecommerce_events/2019/10/01/store_export.csv', note: 'CRLF, blank brands/categories, 0.00 prices, duplicates, bad rows, last line cut off' },
    { file: day2gz, bronze: 'ecommerce_events/2019/10/02/store_export.csv.gz', note: 'gzip; repeats 10,000 events of the day before' },
    { file: partner, bronze: 'ecommerce_events/partner/2019-10-03.csv', note: 'other column order, upper-case header, LF' },
    { file: broken, bronze: 'ecommerce_events/manual/extract.csv', note: 'two required columns missing' },
    { file: fixed, bronze: 'ecommerce_events/manual/extract.csv', note: 'the same extract exported again with every column' },
    { file: day1, bronze: 'ecommerce_events/2019/10/01/store_export.csv', note: 'the same blob event delivered again (Event Grid is at-least-once)', redelivery: true },
  ];
}

async function printSummary(p: Platform): Promise<void> {
  heading('What landed in silver (PostgreSQL silver.ecommerce_events; Parquet in silver/ecommerce_events/event_date=…/)');
  const byDay = await p.pool.query(
    `SELECT event_date::text AS event_date, count(*) AS events, count(DISTINCT user_id) AS users,
            count(*) FILTER (WHERE event_type = 'purchase') AS purchases, round(sum(price) FILTER (WHERE event_type = 'purchase')::numeric, 2) AS revenue
     FROM silver.ecommerce_events GROUP BY 1 ORDER BY 1`,
  );
  out(table(byDay.rows));
  const files: string[] = [];
  for await (const f of p.lake.list('silver', 'ecommerce_events/')) files.push(`silver/${f.path} (${(f.size / 1024).toFixed(0)} KiB)`);
  out(`\n${files.length} Parquet file(s):\n  ${files.join('\n  ')}`);

  heading('What was quarantined, and why (silver.ecommerce_events_quarantine; Parquet in quarantine/ecommerce_events/rows/)');
  const reasons = await p.pool.query(
    `SELECT quarantine_reason AS reason, count(*) AS rows,
            (array_agg(source_file || ':' || source_line || '  ' || coalesce(raw_line, concat_ws(',', event_time, event_type, product_id, price, user_id, user_session)) ORDER BY source_file, source_line))[1] AS example
     FROM silver.ecommerce_events_quarantine GROUP BY 1 ORDER BY 2 DESC`,
  );
  out(table(reasons.rows));

  heading('Files refused as a whole (copied to quarantine/_files/ with an .error.json manifest)');
  const failed = await p.pool.query(`SELECT path, error FROM ops.file_runs WHERE status = 'failed' ORDER BY path`);
  for (const f of failed.rows) out(`  bronze/${f.path}\n    ${f.error}`);
}

async function main(): Promise<void> {
  const home = path.resolve(medallionHome(), 'demo');
  await rm(home, { recursive: true, force: true });
  const inputs = await makeInputs(path.join(home, 'input'));
  out(`medallion demo — local stack under ${home}`);
  const stack = await startLocalStack({ home: path.join(home, 'stack'), log: () => undefined });
  let platform: Platform | undefined;
  try {
    platform = await createPlatform({ ...process.env, LakeStorage: stack.lakeConnectionString, DATABASE_URL: stack.databaseUrl }, { log: silentLogger });
    heading('Dropping files into bronze; each one runs through the same pipeline the blob-triggered function runs');
    for (const input of inputs) {
      out(`\n→ bronze/${input.bronze}   (${input.note})`);
      // A redelivered event points at the same blob version: nothing is uploaded again.
      if (!input.redelivery) await platform.lake.write('bronze', input.bronze, createReadStream(input.file));
      const report = await ingestBronzeFile(platform, input.bronze);
      out(describeReport(report));
    }
    heading('The customers stream: generated customer updates, as the Event Hubs consumer writes them to bronze');
    const { records } = generateCustomerStream({ count: 1_000, updates: 0.3, seed: 7, start: new Date(Date.now() - 1_000 * 1_000), stepMs: 1_000 });
    const stream = await produceToBronze(platform.lake, records, { partitions: 2, batchSize: 250, ingest: (file) => ingestBronzeFile(platform!, file) });
    for (const f of stream.files) if (f.report) out(describeReport(f.report));
    heading('CRM lead scoring (seed 000): a generated CRM export, deals first, the accounts later, then the interactions');
    const crmDir = path.join(home, 'input', 'crm');
    writeCrmSample(crmDir, { seed: 2016 });
    await writeCrmInteractions(path.join(crmDir, 'interactions.csv'), { crmDir, seed: 42 });
    for (const [file, bronze, note] of [
      ['sales_pipeline.csv', 'crm/sales_pipeline/2017-12-31.csv', 'deals name accounts, products and agents not loaded yet: counted as unresolved, kept'],
      ['products.csv', 'crm/products/catalogue.csv', 'the pipeline spells GTX Pro as GTXPro: normalised'],
      ['sales_teams.csv', 'crm/sales_teams/teams.csv', ''],
      ['accounts.csv', 'crm/accounts/accounts.csv', 'the late dimension: gold re-resolves the deals that named these accounts'],
      ['interactions.csv', 'crm/interactions/2017.csv', 'calls, e-mails, WhatsApp, meetings; a few blank channels and unknown accounts'],
    ] as const) {
      out(`\n→ bronze/${bronze}${note ? `   (${note})` : ''}`);
      await platform.lake.write('bronze', bronze, createReadStream(path.join(crmDir, file)));
      out(describeReport(await ingestBronzeFile(platform, bronze)));
    }
    await printSummary(platform);
    heading('Gold highlights (gold.customer_metrics, gold.conversion_funnel; Parquet in gold/ecommerce_events/)');
    out(formatGoldHighlights(await goldHighlights(platform.pool)));
    heading('Lead scoring (gold.customer_features; Parquet in gold/crm_deals/, the model in gold/models/lead_scoring/)');
    const crm = await crmHighlights(platform.pool);
    if (crm) out(formatCrmHighlights(crm));
    heading('SaaS APIs (seed 004): Pipedrive and Zendesk → bronze → staging (stg_<source>.<entity>_raw, JSONB) → core star schema');
    const api = await runApiDemo(platform, { out });
    heading('Health checks (medallion health; the healthCheck timer runs the same hourly)');
    // With the stand-in's settings, the checks judge the API sources' extractions too (extract_freshness, extract_count_variance).
    const health = await runHealthChecks(platform, { env: { ...process.env, ...api.env } });
    out(table(health.results.map((r) => ({ check: r.check, dataset: r.dataset ?? '', target: r.target ?? '', status: r.status, message: r.message }))));
    out(health.failed ? `${health.failed} check(s) failing` : 'every check passes');
    heading('Explore it yourself');
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion status`);
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion health`);
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion sql "SELECT * FROM ops.file_runs"`);
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion sql "SELECT * FROM gold.daily_sales_summary ORDER BY event_date"`);
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion sql "SELECT * FROM ops.extract_watermarks"`);
    out(`  MEDALLION_HOME=${path.join(home, 'stack')} npx medallion sql "SELECT deal_id, title, status, value, currency FROM core.pd_deals ORDER BY updated_at DESC LIMIT 10"`);
  } finally {
    await platform?.close();
    await stack.stop();
  }
}

main().catch((e) => {
  // One line saying what went wrong (a failed stack start says what to do); the stack trace only when asked for.
  const verbose = process.argv.includes('--verbose') || /^(1|true|yes|on)$/i.test(process.env.MEDALLION_VERBOSE ?? '');
  const message = e instanceof Error ? (e.message.split('\n').find((l) => l.trim()) ?? e.name) : String(e);
  console.error(`demo failed: ${message}${verbose ? '' : ' (MEDALLION_VERBOSE=1 for details)'}`);
  if (verbose) console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
