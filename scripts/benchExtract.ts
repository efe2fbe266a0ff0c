/**
 * Extraction throughput (issue 11's bench line), on the stand-in API serving Pipedrive deals, 500
 * per page, through the real code, each figure next to a baseline measured in the same run:
 *
 *   API page → bronze   the extractor (HTTP, raw record text, gzip parts, upload, run records and
 *                       watermark), best of `samples` runs
 *                       baseline: fetching and parsing the same pages, writing nothing
 *   API page → core     round 1: a full extraction of the N deals into bronze, then every bronze
 *                       part through the pipeline (ingestBronzeFile, as the blob trigger runs it:
 *                       ledger, stg_pipedrive.deals_raw, and the gold framework's refresh of
 *                       core.pd_deals in the same transaction); round 2, the steady state: 5% of
 *                       the deals updated in the stand-in, an incremental extraction (watermark
 *                       minus the overlap) and its parts ingested the same way
 *                       baseline of each round: the same pages fetched (same window) and their
 *                       records written straight into PostgreSQL by one `COPY … FROM STDIN` of
 *                       (id, record jsonb) rows into a scratch table (no index), commit included;
 *                       the COPY alone (rows prepared in memory beforehand) is printed beside it
 *
 * After each round the bench checks what landed: staging holds one row per extracted record,
 * core.pd_deals one row per deal, and after round 2 core's status, value and update time of every
 * deal equal the stand-in's own state.
 *
 * Standalone: `npm run build && node dist/scripts/benchExtract.js [--extract-records 100000]` (its
 * own local stack in a temp folder); `runBench` is the entry point for scripts/bench.ts.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { numberArg } from './benchArgs';
import { table } from '../shared/cli/format';
import { type PipedriveSettings, sourceSettings } from '../shared/config';
import { startLocalStack } from '../shared/local/stack';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { entitySpec, type EntitySpec, type JsonObject } from '../shared/sources/entities';
import { type EntityReport, extractSource } from '../shared/sources/extract';
import { SourceHttpClient } from '../shared/sources/http';
import { rawArrayElements } from '../shared/sources/rawJson';
import { seededRandom, startStandIn, type StandIn } from '../shared/sources/standIn';

export interface ExtractBenchOptions {
  /** A platform on a scratch database (the bench extracts into its lake and ingests into its database). */
  platform: Platform;
  /** Scratch folder (the parts are built there before upload). */
  workDir: string;
  /** Deals the stand-in serves (default 100 000). */
  records?: number;
  /** Measurements of page → bronze and of its baseline, best kept (default 3). */
  samples?: number;
  /** Bronze part size (default 64 MiB, the default of EXTRACT_PART_MAX_BYTES). */
  partMaxBytes?: number;
  /** Share of the deals updated before the incremental round (default 0.05). */
  updateShare?: number;
  log?: (line: string) => void;
}

export interface ExtractBenchSide {
  ms: number;
  records: number;
  recordsPerSecond: number;
}

/** One round of API page → bronze → staging → core, and its COPY baseline. */
export interface CoreRound {
  round: 'full' | 'incremental';
  /** Records the extraction wrote to bronze (= lines of its parts). */
  records: number;
  parts: number;
  bytes: number;
  /** Start of the window the round read (undefined: from the beginning). */
  windowStart?: number;
  extractMs: number;
  /** Every part through ingestBronzeFile, wall clock. */
  ingestMs: number;
  /** Of ingestMs: the gold framework's refresh of core in the staging transaction (ledger timing 'gold') plus the after-commit step. */
  coreMs: number;
  /** ingestMs - coreMs: download, staging pass, COPY into staging, ledger. */
  stagingMs: number;
  endToEnd: ExtractBenchSide;
  /** Rows the round added to stg_pipedrive.deals_raw (ledger rows_silver, summed over its parts). */
  staged: number;
  /** Lines of its parts quarantined or counted as duplicates (0 expected). */
  notStaged: number;
  /** Rows in stg_pipedrive.deals_raw / core.pd_deals after the round. */
  stagingRows: number;
  coreRows: number;
  /** Baseline: the same pages fetched and their records COPYed into a scratch table, commit included. */
  copyBaseline: ExtractBenchSide;
  /** The COPY of those rows alone (prepared in memory beforehand), commit included. */
  copyOnlyMs: number;
  /** endToEnd records/s ÷ copyBaseline records/s. */
  ratio: number;
}

export interface ExtractBenchResult {
  records: number;
  pages: number;
  /** Baseline: the same pages fetched and parsed, nothing written. */
  fetchOnly: ExtractBenchSide;
  /** The extractor: pages → bronze parts in the lake, run recorded, watermark moved. */
  toBronze: ExtractBenchSide & { parts: number; bytes: number };
  /** toBronze records/s ÷ fetchOnly records/s. */
  ratio: number;
  /** API page → core: the full round, then the incremental one. */
  toCore: CoreRound[];
  /** Deals updated in the stand-in before the incremental round. */
  updated: number;
  /** Deals (of all N) whose status, value or update time in core.pd_deals differ from the stand-in's after the incremental round (0 expected). */
  coreMismatches: number;
}

const side = (records: number, ms: number): ExtractBenchSide => ({ ms: Math.round(ms), records, recordsPerSecond: Math.round((records / ms) * 1000) });

const EXTRACT = (partMaxBytes: number) => ({ overlapMinutes: 10, partMaxBytes, maxWaitSeconds: 60 });

function httpClient(settings: PipedriveSettings): SourceHttpClient {
  return new SourceHttpClient(settings, { fetch, now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random }, { maxWaitMs: 60_000 });
}

/** A field of COPY's text format. */
const copyText = (s: string) => s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));

const COPY_TABLE = 'public.extract_bench_copy';

/** A fresh scratch table for the baseline: (id, record jsonb), no index. */
async function freshCopyTable(client: pg.PoolClient): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${COPY_TABLE}`);
  await client.query(`CREATE TABLE ${COPY_TABLE} (id bigint NOT NULL, record jsonb NOT NULL)`);
  await client.query('CHECKPOINT').catch(() => undefined);
}

/**
 * The baseline of one round: the pages of the round's window fetched as the extractor fetches
 * them, each page's records streamed as (id, record) rows into one COPY FROM STDIN, committed.
 * Then the same rows (kept in memory, not timed) COPYed alone into a fresh table.
 */
async function copyBaseline(pool: pg.Pool, settings: PipedriveSettings, spec: EntitySpec, since: number | undefined): Promise<{ fetchAndCopy: ExtractBenchSide; copyOnlyMs: number }> {
  const client = await pool.connect();
  try {
    await freshCopyTable(client);
    const http = httpClient(settings);
    const chunks: string[] = [];
    let rows = 0;
    async function* pages(): AsyncGenerator<string> {
      for (let url: URL | undefined = spec.first(settings.baseUrl, since, Date.now()); url; ) {
        const answer = await http.getJson(url, spec.requestClass);
        const body = answer.body as JsonObject;
        const records = body[spec.recordsKey] as JsonObject[];
        const raw = rawArrayElements(answer.text, spec.recordsKey) ?? records.map((r) => JSON.stringify(r));
        let chunk = '';
        for (let i = 0; i < records.length; i++) chunk += `${String(records[i]!.id)}\t${copyText(raw[i]!)}\n`;
        rows += records.length;
        chunks.push(chunk);
        yield chunk;
        url = spec.next(url, body);
      }
    }
    let t = performance.now();
    await client.query('BEGIN');
    await pipeline(Readable.from(pages()), client.query(copyFrom(`COPY ${COPY_TABLE} (id, record) FROM STDIN`)));
    await client.query('COMMIT');
    const fetchAndCopy = side(rows, performance.now() - t);

    await freshCopyTable(client);
    t = performance.now();
    await client.query('BEGIN');
    await pipeline(Readable.from(chunks), client.query(copyFrom(`COPY ${COPY_TABLE} (id, record) FROM STDIN`)));
    await client.query('COMMIT');
    const copyOnlyMs = Math.round(performance.now() - t);
    const copied = Number((await client.query(`SELECT count(*) AS n FROM ${COPY_TABLE}`)).rows[0].n);
    if (copied !== rows) throw new Error(`the COPY baseline wrote ${copied} rows, expected ${rows}`);
    await client.query(`DROP TABLE ${COPY_TABLE}`);
    return { fetchAndCopy, copyOnlyMs };
  } finally {
    client.release();
  }
}

const countRows = async (pool: pg.Pool, t: string): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);

/** One round: extract (full or incremental) → ingest every part → the COPY baseline of the same window. */
async function coreRound(o: ExtractBenchOptions, settings: PipedriveSettings, spec: EntitySpec, round: CoreRound['round']): Promise<CoreRound> {
  const p = o.platform;
  let t = performance.now();
  const report = await extractSource(
    { lake: p.lake, pool: p.pool, log: silentLogger, workRoot: o.workDir },
    settings,
    EXTRACT(o.partMaxBytes ?? 64 * 1024 * 1024),
    { entities: ['deals'], full: round === 'full' },
  );
  const extractMs = performance.now() - t;
  const deals: EntityReport = report.entities[0]!;
  if (deals.status !== 'succeeded') throw new Error(`the ${round} extraction failed: ${deals.error}`);

  let staged = 0;
  let notStaged = 0;
  let coreMs = 0;
  t = performance.now();
  for (const part of deals.parts) {
    const r = await ingestBronzeFile(p, part);
    if (r.outcome !== 'succeeded' || !r.ledger) throw new Error(`ingesting ${part}: ${r.outcome} ${r.message ?? ''}`);
    staged += r.ledger.rows_silver ?? 0;
    notStaged += (r.ledger.rows_quarantined ?? 0) + (r.ledger.duplicates_in_file ?? 0) + (r.ledger.duplicates_cross_file ?? 0);
    coreMs += (r.ledger.timings_ms.gold ?? 0) + (r.ledger.timings_ms.after_commit ?? 0);
  }
  const ingestMs = performance.now() - t;

  const { fetchAndCopy, copyOnlyMs } = await copyBaseline(p.pool, settings, spec, deals.windowStart);
  if (fetchAndCopy.records !== deals.records) throw new Error(`the baseline read ${fetchAndCopy.records} records from the ${round} window, the extraction ${deals.records}`);
  const endToEnd = side(deals.records, extractMs + ingestMs);
  return {
    round,
    records: deals.records,
    parts: deals.parts.length,
    bytes: deals.bytes,
    windowStart: deals.windowStart,
    extractMs: Math.round(extractMs),
    ingestMs: Math.round(ingestMs),
    coreMs: Math.round(coreMs),
    stagingMs: Math.round(ingestMs - coreMs),
    endToEnd,
    staged,
    notStaged,
    stagingRows: await countRows(p.pool, 'stg_pipedrive.deals_raw'),
    coreRows: await countRows(p.pool, 'core.pd_deals'),
    copyBaseline: fetchAndCopy,
    copyOnlyMs,
    ratio: endToEnd.recordsPerSecond / fetchAndCopy.recordsPerSecond,
  };
}

/** Updates `share` of the live deals (seeded choice), as the stand-in changes a deal (value, status, stage). */
function updateDeals(standIn: StandIn, share: number): number {
  const live = standIn.store.records('pipedrive', 'deals').filter((r) => !r.deleted);
  const rnd = seededRandom(11);
  const n = Math.round(live.length * share);
  // A partial Fisher–Yates shuffle: n distinct deals.
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rnd() * (live.length - i));
    [live[i], live[j]] = [live[j]!, live[i]!];
    standIn.store.update('pipedrive', 'deals', live[i]!.id);
  }
  return n;
}

/** Deals whose status, value or update time in core.pd_deals differ from the stand-in's state (missing ones included), plus rows core has beyond them. */
async function coreMismatches(pool: pg.Pool, standIn: StandIn): Promise<number> {
  const state = standIn.store.state('pipedrive', 'deals');
  const r = await pool.query(
    `SELECT count(*) AS n
     FROM unnest($1::bigint[], $2::text[], $3::numeric[], $4::timestamptz[]) AS s(id, status, value, updated)
     LEFT JOIN core.pd_deals c ON c.deal_id = s.id
     WHERE c.deal_id IS NULL OR c.status IS DISTINCT FROM s.status OR c.value IS DISTINCT FROM s.value OR c.updated_at IS DISTINCT FROM (s.updated AT TIME ZONE 'UTC')`,
    [state.map((d) => d.id), state.map((d) => d.status), state.map((d) => (d.value === null ? null : String(d.value))), state.map((d) => d.update_time)],
  );
  // Plus any row of core that is not a deal of the stand-in.
  const extra = Math.max(0, (await countRows(pool, 'core.pd_deals')) - state.length);
  return Number(r.rows[0].n) + extra;
}

export async function benchExtract(options: ExtractBenchOptions): Promise<ExtractBenchResult> {
  const n = options.records ?? 100_000;
  const samples = Math.max(1, options.samples ?? 3);
  const log = options.log ?? (() => undefined);
  const { lake, pool } = options.platform;
  await mkdir(options.workDir, { recursive: true });
  log(`generating ${n.toLocaleString('en')} deals in the stand-in API…`);
  const standIn = await startStandIn({ seed: 7, limits: { pipedrivePer2s: 0, zendeskPerMinute: 0, zendeskIncrementalPerMinute: 0 }, counts: { pipedrive: { deals: n, persons: 100, organizations: 50, activities: 10 } } });
  try {
    const settings = sourceSettings('pipedrive', standIn.env()) as PipedriveSettings;
    const spec = entitySpec('pipedrive', 'deals')!;
    let best: ExtractBenchResult | undefined;
    for (let s = 0; s < samples; s++) {
      // Baseline: the same requests, answers parsed, records counted, nothing written.
      const client = httpClient(settings);
      let t = performance.now();
      let records = 0;
      let pages = 0;
      for (let url: URL | undefined = spec.first(settings.baseUrl, undefined, Date.now()); url; ) {
        const answer = await client.getJson(url);
        const body = answer.body as JsonObject;
        records += (body.data as unknown[]).length;
        pages++;
        url = spec.next(url, body);
      }
      const fetchOnly = side(records, performance.now() - t);

      t = performance.now();
      const report = await extractSource({ lake, pool, log: silentLogger, workRoot: options.workDir }, settings, EXTRACT(options.partMaxBytes ?? 64 * 1024 * 1024), { entities: ['deals'], full: true });
      const ms = performance.now() - t;
      const deals = report.entities[0]!;
      if (deals.status !== 'succeeded') throw new Error(`the extraction failed: ${deals.error}`);
      const toBronze = { ...side(deals.records, ms), parts: deals.parts.length, bytes: deals.bytes };
      const result: ExtractBenchResult = { records, pages, fetchOnly, toBronze, ratio: 0, toCore: [], updated: 0, coreMismatches: 0 };
      log(`sample ${s + 1}: fetch only ${fetchOnly.recordsPerSecond} records/s, to bronze ${toBronze.recordsPerSecond} records/s`);
      if (!best) best = result;
      else
        best = {
          ...result,
          fetchOnly: result.fetchOnly.ms < best.fetchOnly.ms ? result.fetchOnly : best.fetchOnly,
          toBronze: result.toBronze.ms < best.toBronze.ms ? result.toBronze : best.toBronze,
        };
    }
    const result = best!;
    result.ratio = result.toBronze.recordsPerSecond / result.fetchOnly.recordsPerSecond;

    log('API page → core, round 1: full extraction, every part ingested (staging + core), then the COPY baseline…');
    result.toCore.push(await coreRound(options, settings, spec, 'full'));
    log(`  ${result.toCore[0]!.endToEnd.recordsPerSecond} records/s end to end, COPY baseline ${result.toCore[0]!.copyBaseline.recordsPerSecond} records/s`);
    result.updated = updateDeals(standIn, options.updateShare ?? 0.05);
    log(`API page → core, round 2: ${result.updated.toLocaleString('en')} deals updated, incremental extraction, ingested, then the COPY baseline…`);
    result.toCore.push(await coreRound(options, settings, spec, 'incremental'));
    log(`  ${result.toCore[1]!.endToEnd.recordsPerSecond} records/s end to end, COPY baseline ${result.toCore[1]!.copyBaseline.recordsPerSecond} records/s`);
    result.coreMismatches = await coreMismatches(pool, standIn);
    return result;
  } finally {
    await standIn.close();
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export function describeExtractBench(r: ExtractBenchResult): string {
  const [full, inc] = r.toCore;
  const lines = [
    `API page → bronze: ${r.records.toLocaleString('en')} Pipedrive deals in ${r.pages} pages of 500 from the stand-in API (best of the samples):`,
    table([
      { step: 'fetch + parse the pages only (baseline)', 'records/s': r.fetchOnly.recordsPerSecond, ms: r.fetchOnly.ms },
      { step: `extract to bronze (${r.toBronze.parts} part(s), ${mb(r.toBronze.bytes)} MB of JSON lines, gzip)`, 'records/s': r.toBronze.recordsPerSecond, ms: r.toBronze.ms },
    ]),
    `ratio to the baseline: ${r.ratio.toFixed(2)}`,
  ];
  if (!full) return lines.join('\n');
  lines.push(
    '',
    `API page → bronze → stg_pipedrive.deals_raw → core.pd_deals (ingestBronzeFile per part, core refreshed by the gold framework in each part's transaction), one run per round;`,
    `baseline: the same pages fetched and their records COPYed straight into a scratch table (id bigint, record jsonb; no index), in the same run:`,
    table(
      r.toCore.map((c) => ({
        round: c.round === 'full' ? 'full (first run)' : `incremental (${r.updated.toLocaleString('en')} deals updated)`,
        records: c.records,
        parts: c.parts,
        'extract ms': c.extractMs,
        'staging ms': c.stagingMs,
        'core ms': c.coreMs,
        'end to end ms': c.endToEnd.ms,
        'end to end records/s': c.endToEnd.recordsPerSecond,
        'page → COPY records/s': c.copyBaseline.recordsPerSecond,
        'page → COPY ms': c.copyBaseline.ms,
        'COPY alone ms': c.copyOnlyMs,
        ratio: c.ratio.toFixed(2),
      })),
    ),
    ...r.toCore.map(
      (c) =>
        `  ${c.round}: ${c.records.toLocaleString('en')} records (${mb(c.bytes)} MB) → ${c.staged.toLocaleString('en')} staged (${c.notStaged} quarantined or duplicate); stg_pipedrive.deals_raw now ${c.stagingRows.toLocaleString('en')} rows, core.pd_deals ${c.coreRows.toLocaleString('en')}`,
    ),
    `  core.pd_deals after the incremental round equals the stand-in's ${r.records.toLocaleString('en')} deals (status, value, update time): ${r.coreMismatches === 0 ? 'PASS' : `FAIL (${r.coreMismatches} differ)`}`,
    '',
    'summary:',
    table(
      r.toCore.map((c) => ({
        figure: `API page → core, ${c.round === 'full' ? 'full' : 'incremental'} round (${c.records.toLocaleString('en')} records)`,
        measured: `${c.endToEnd.recordsPerSecond.toLocaleString('en')} records/s`,
        'baseline (same run)': `page → COPY ${c.copyBaseline.recordsPerSecond.toLocaleString('en')} records/s`,
        ratio: `×${c.ratio.toFixed(2)}`,
      })),
    ),
  );
  if (inc === undefined) lines.push('(no incremental round)');
  return lines.join('\n');
}

/** Entry point for scripts/bench.ts: its own scratch database on the bench's stack; prints its figures. */
export async function runBench(o: { databaseUrl: string; lakeConnectionString: string; workDir: string; records?: number; log?: (line: string) => void }): Promise<ExtractBenchResult> {
  const records = o.records ?? numberArg('extract-records', 100_000);
  const log = o.log ?? ((l: string) => console.log(l));
  const { name, url } = await createScratchDatabase(o.databaseUrl, 'bench_extract');
  const workRoot = path.join(o.workDir, 'extract-work');
  log(`\nextraction: ${records.toLocaleString('en')} Pipedrive deals from the stand-in API → bronze → staging → core (database ${name})…`);
  const platform = await createPlatform({ ...process.env, LakeStorage: o.lakeConnectionString, DATABASE_URL: url }, { log: silentLogger, workRoot });
  try {
    const result = await benchExtract({ platform, workDir: workRoot, records, log });
    log(describeExtractBench(result));
    return result;
  } finally {
    await platform.close();
    await dropScratchDatabase(o.databaseUrl, name);
    await rm(workRoot, { recursive: true, force: true });
  }
}

/** Standalone: its own local stack in a temp folder. */
async function main(): Promise<void> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'medallion-extract-bench-'));
  const stack = await startLocalStack({ home, blobPort: 0, postgresPort: 0 });
  try {
    console.log(`machine: ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(2)} at the start; Node ${process.version}`);
    await runBench({ databaseUrl: stack.databaseUrl, lakeConnectionString: stack.lakeConnectionString, workDir: home });
    console.log(`load average ${os.loadavg()[0]!.toFixed(2)} at the end`);
  } finally {
    await stack.stop();
    await rm(home, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
