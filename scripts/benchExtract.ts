/**
 * Extraction throughput: records per second from an API page to bronze (the stand-in API serving
 * Pipedrive deals, 500 per page, through the real extractor: HTTP, raw record text, gzip parts,
 * upload, run records and watermark), next to a baseline measured in the same run: fetching and
 * parsing the same pages and writing nothing. The difference is what writing bronze costs.
 * (Issue 11's bench line compares API page → core with a COPY of the same pages; core does not
 * exist yet, so this is the page → bronze half of it.)
 */
import { mkdir } from 'node:fs/promises';
import type pg from 'pg';
import { table } from '../shared/cli/format';
import { sourceSettings } from '../shared/config';
import type { Lake } from '../shared/lake/lake';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { createPlatform } from '../shared/platform';
import { entitySpec, type JsonObject } from '../shared/sources/entities';
import { extractSource } from '../shared/sources/extract';
import { SourceHttpClient } from '../shared/sources/http';
import { startStandIn } from '../shared/sources/standIn';

export interface ExtractBenchOptions {
  lake: Lake;
  pool: pg.Pool;
  /** Scratch folder (the parts are built there before upload). */
  workDir: string;
  /** Deals the stand-in serves (default 100 000). */
  records?: number;
  /** Measurements of each side, best kept (default 3). */
  samples?: number;
  /** Bronze part size (default 64 MiB, the default of EXTRACT_PART_MAX_BYTES). */
  partMaxBytes?: number;
  log?: (line: string) => void;
}

export interface ExtractBenchSide {
  ms: number;
  records: number;
  recordsPerSecond: number;
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
}

const side = (records: number, ms: number): ExtractBenchSide => ({ ms: Math.round(ms), records, recordsPerSecond: Math.round((records / ms) * 1000) });

export async function benchExtract(options: ExtractBenchOptions): Promise<ExtractBenchResult> {
  const n = options.records ?? 100_000;
  const samples = Math.max(1, options.samples ?? 3);
  const log = options.log ?? (() => undefined);
  await mkdir(options.workDir, { recursive: true });
  log(`generating ${n.toLocaleString('en')} deals in the stand-in API…`);
  const standIn = await startStandIn({ seed: 7, limits: { pipedrivePer2s: 0, zendeskPerMinute: 0, zendeskIncrementalPerMinute: 0 }, counts: { pipedrive: { deals: n, persons: 100, organizations: 50, activities: 10 } } });
  try {
    const settings = sourceSettings('pipedrive', standIn.env())!;
    const spec = entitySpec('pipedrive', 'deals')!;
    let best: ExtractBenchResult | undefined;
    for (let s = 0; s < samples; s++) {
      // Baseline: the same requests, answers parsed, records counted, nothing written.
      const client = new SourceHttpClient(settings, { fetch, now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random }, { maxWaitMs: 60_000 });
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
      const report = await extractSource(
        { lake: options.lake, pool: options.pool, log: silentLogger, workRoot: options.workDir },
        settings,
        { overlapMinutes: 10, partMaxBytes: options.partMaxBytes ?? 64 * 1024 * 1024, maxWaitSeconds: 60 },
        { entities: ['deals'], full: true },
      );
      const ms = performance.now() - t;
      const deals = report.entities[0]!;
      if (deals.status !== 'succeeded') throw new Error(`the extraction failed: ${deals.error}`);
      const toBronze = { ...side(deals.records, ms), parts: deals.parts.length, bytes: deals.bytes };
      const result: ExtractBenchResult = { records, pages, fetchOnly, toBronze, ratio: toBronze.recordsPerSecond / fetchOnly.recordsPerSecond };
      log(`sample ${s + 1}: fetch only ${fetchOnly.recordsPerSecond} records/s, to bronze ${toBronze.recordsPerSecond} records/s`);
      if (!best) best = result;
      else
        best = {
          ...result,
          fetchOnly: result.fetchOnly.ms < best.fetchOnly.ms ? result.fetchOnly : best.fetchOnly,
          toBronze: result.toBronze.ms < best.toBronze.ms ? result.toBronze : best.toBronze,
          ratio: 0,
        };
    }
    best!.ratio = best!.toBronze.recordsPerSecond / best!.fetchOnly.recordsPerSecond;
    return best!;
  } finally {
    await standIn.close();
  }
}

export function describeExtractBench(r: ExtractBenchResult): string {
  return [
    `API page → bronze: ${r.records.toLocaleString('en')} Pipedrive deals in ${r.pages} pages of 500 from the stand-in API (best of the samples):`,
    table([
      { step: 'fetch + parse the pages only (baseline)', 'records/s': r.fetchOnly.recordsPerSecond, ms: r.fetchOnly.ms },
      { step: `extract to bronze (${r.toBronze.parts} part(s), ${(r.toBronze.bytes / 1e6).toFixed(1)} MB of JSON lines, gzip)`, 'records/s': r.toBronze.recordsPerSecond, ms: r.toBronze.ms },
    ]),
    `ratio to the baseline: ${r.ratio.toFixed(2)}`,
  ].join('\n');
}

/** One bench run on a server and a lake (a scratch database is created on the server). */
export async function runBench(o: { databaseUrl: string; lakeConnectionString: string; workDir: string; records?: number; log?: (line: string) => void }): Promise<ExtractBenchResult> {
  const { name, url } = await createScratchDatabase(o.databaseUrl, 'bench_extract');
  const platform = await createPlatform({ LakeStorage: o.lakeConnectionString, DATABASE_URL: url }, { log: silentLogger, workRoot: o.workDir });
  try {
    return await benchExtract({ lake: platform.lake, pool: platform.pool, workDir: o.workDir, records: o.records, log: o.log });
  } finally {
    await platform.close();
    await dropScratchDatabase(o.databaseUrl, name);
  }
}
