/**
 * Gold refresh cost vs history: ten generated REES46 files (different seeds and weeks; users
 * partly shared between neighbouring files, products shared by all; no event in two files) are
 * ingested one after another into the same platform. For each file it reports the gold cost of
 * that file — the afterSilverLoad hook (incremental refresh inside the silver transaction) plus
 * the afterCommit hook (Parquet export of the four tables) — and at the end the full rebuild of
 * the whole history. Target: the 10th file's gold cost ≤ 1.2 × the 1st's. Before each file (not
 * timed) the touched tables are vacuumed/analyzed and a checkpoint is taken (see `settle`), and
 * each file's gold cost is the median of `samples` runs of the same work (see GoldBenchOptions).
 *
 * `runBench` is what scripts/bench.ts calls; `benchGold` takes any platform factory (tests run a
 * small N as a smoke test).
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { numberArg } from './benchArgs';
import { performance } from 'node:perf_hooks';
import { table } from '../shared/cli/format';
import { exportGold } from '../shared/gold/export';
import { rebuildGold } from '../shared/gold/refresh';
import { silentLogger } from '../shared/log';
import { type FileReport, ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';

export interface GoldBenchOptions {
  /** A platform on an empty database (its hooks are the gold hooks). */
  platform: () => Promise<Platform>;
  /** Scratch folder for the generated files. */
  workDir: string;
  files?: number;
  rowsPerFile?: number;
  /** The ingest entry point (default: ingestBronzeFile). */
  ingest?: (p: Platform, bronzePath: string) => Promise<FileReport>;
  /**
   * Measurements per file (default 3; the median is reported): the in-transaction refresh runs
   * `samples - 1` times inside a savepoint that is rolled back — same state, same code — and
   * then for real; the export runs once from the hook and `samples - 1` more times (forced).
   */
  samples?: number;
  log?: (line: string) => void;
}

export interface GoldBenchFile {
  file: number;
  rows: number;
  silverRows: number;
  /** Silver rows in PostgreSQL after this file (the history the refresh must not depend on). */
  silverTotal: number;
  /** afterSilverLoad: incremental gold refresh inside the silver transaction (median of the samples). */
  inTxMs: number;
  /** afterCommit: Parquet export of the gold tables (median of the samples). */
  exportMs: number;
  /** inTxMs + exportMs: the gold refresh time of this file. */
  goldMs: number;
  inTxSamplesMs: number[];
  exportSamplesMs: number[];
  /** Whole ingest of the file (bronze → silver → gold), for scale. */
  ingestMs: number;
  customers: number;
  products: number;
}

export interface GoldBenchResult {
  files: GoldBenchFile[];
  /** goldMs of the last file / goldMs of the first. */
  lastToFirst: number;
  pass: boolean;
  fullRebuildMs: number;
  fullRebuildExportMs: number;
  silverRows: number;
}

const DAY = 86_400_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 0;
}

/**
 * Before each file (not timed): vacuum + analyze the tables the refresh touches and checkpoint,
 * so every file starts from the same state and no autovacuum or checkpoint of the previous load
 * lands inside the next measurement (on 2 cores that noise is larger than the effect measured).
 */
async function settle(p: Platform): Promise<void> {
  const tables = await p.pool.query<{ t: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND (n.nspname IN ('gold', 'gold_state') OR (n.nspname = 'silver' AND c.relname = 'ecommerce_events'))`,
  );
  for (const { t } of tables.rows) await p.pool.query(`VACUUM (ANALYZE) ${t}`);
  await p.pool.query('CHECKPOINT').catch(() => undefined); // needs superuser / pg_checkpoint: best effort
}

export async function benchGold(options: GoldBenchOptions): Promise<GoldBenchResult> {
  const n = options.files ?? 10;
  const rows = options.rowsPerFile ?? 200_000;
  const log = options.log ?? (() => undefined);
  const ingest = options.ingest ?? ingestBronzeFile;
  await mkdir(options.workDir, { recursive: true });
  const base = await options.platform();
  const contract = base.contracts.get('ecommerce_events')!;

  // Time the two gold hooks around the platform's own (a shared 2-core machine is noisy: take
  // the median of a few runs of the same work on the same state).
  const samples = Math.max(1, options.samples ?? 3);
  let inTx: number[] = [];
  let exp: number[] = [];
  const hooks = base.hooks;
  const platform: Platform = {
    ...base,
    hooks: {
      afterSilverLoad: async (client, args) => {
        for (let k = 1; k < samples; k++) {
          await client.query('SAVEPOINT gold_bench');
          const t = performance.now();
          await hooks.afterSilverLoad?.(client, args);
          inTx.push(performance.now() - t);
          await client.query('ROLLBACK TO SAVEPOINT gold_bench');
        }
        const t = performance.now();
        await hooks.afterSilverLoad?.(client, args);
        inTx.push(performance.now() - t);
      },
      afterCommit: async (args) => {
        let t = performance.now();
        await hooks.afterCommit?.(args);
        exp.push(performance.now() - t);
        for (let k = 1; k < samples; k++) {
          t = performance.now();
          await exportGold(base, base.contracts, args.contract.name, { force: true });
          exp.push(performance.now() - t);
        }
      },
    },
  };

  const results: GoldBenchFile[] = [];
  try {
    // Create the gold tables on the empty database first, so file 1 is a plain incremental refresh.
    await rebuildGold(platform.pool, base.contracts);
    const users = Math.max(50, Math.floor(rows / 15));
    for (let i = 0; i < n; i++) {
      const local = path.join(options.workDir, `gold-bench-${rows}-${i + 1}.csv`);
      const exists = await stat(local).catch(() => undefined);
      if (!exists) {
        await writeEcommerceSample(local, {
          rows,
          seed: 4600 + i,
          start: new Date(Date.UTC(2019, 9, 1) + i * 7 * DAY),
          days: 7,
          users,
          // Neighbouring files share half of their user range.
          userIdBase: 512_000_000 + i * Math.floor(users / 2),
        });
      }
      const bronze = `ecommerce_events/bench-gold/week-${String(i + 1).padStart(2, '0')}.csv`;
      await platform.lake.write('bronze', bronze, createReadStream(local));
      await settle(platform);
      inTx = [];
      exp = [];
      const t = performance.now();
      const report = await ingest(platform, bronze);
      const ingestMs = performance.now() - t;
      if (report.outcome !== 'succeeded') throw new Error(`bench file ${bronze}: ${report.outcome} ${report.message ?? ''}`);
      const counts = await platform.pool.query<{ s: string; c: string; p: string }>(
        `SELECT (SELECT count(*) FROM silver.ecommerce_events) AS s, (SELECT count(*) FROM gold.customer_metrics) AS c, (SELECT count(*) FROM gold.product_performance) AS p`,
      );
      const row: GoldBenchFile = {
        file: i + 1,
        rows,
        silverRows: report.ledger?.rows_silver ?? 0,
        silverTotal: Number(counts.rows[0]!.s),
        inTxMs: Math.round(median(inTx)),
        exportMs: Math.round(median(exp)),
        goldMs: Math.round(median(inTx) + median(exp)),
        inTxSamplesMs: inTx.map(Math.round),
        exportSamplesMs: exp.map(Math.round),
        ingestMs: Math.round(ingestMs),
        customers: Number(counts.rows[0]!.c),
        products: Number(counts.rows[0]!.p),
      };
      results.push(row);
      log(`  file ${row.file}/${n}: gold ${row.goldMs} ms (median in transaction ${row.inTxMs} [${row.inTxSamplesMs.join(", ")}] + export ${row.exportMs} [${row.exportSamplesMs.join(", ")}]); silver now ${row.silverTotal.toLocaleString("en")} rows`);
    }
    await settle(platform);
    let t = performance.now();
    await rebuildGold(platform.pool, base.contracts);
    const fullRebuildMs = Math.round(performance.now() - t);
    t = performance.now();
    await exportGold(platform, base.contracts, contract.name, { force: true });
    const fullRebuildExportMs = Math.round(performance.now() - t);
    const first = results[0]!.goldMs;
    const last = results.at(-1)!.goldMs;
    const lastToFirst = last / Math.max(1, first);
    return { files: results, lastToFirst, pass: lastToFirst <= 1.2, fullRebuildMs, fullRebuildExportMs, silverRows: results.at(-1)!.silverTotal };
  } finally {
    await base.close();
  }
}


/** Prints the per-file table and the targets. */
export function describeGoldBench(r: GoldBenchResult): string {
  return [
    table(
      r.files.map((f) => ({
        file: f.file,
        'silver rows (file)': f.silverRows,
        'silver rows (total)': f.silverTotal,
        customers: f.customers,
        products: f.products,
        'gold in tx ms (median)': f.inTxMs,
        'export ms (median)': f.exportMs,
        'gold ms': f.goldMs,
        'samples in tx / export': `${f.inTxSamplesMs.join(' ')} / ${f.exportSamplesMs.join(' ')}`,
        'ingest ms': f.ingestMs,
      })),
    ),
    '',
    `  gold refresh, file ${r.files.length} vs file 1: ${r.files.at(-1)!.goldMs} / ${r.files[0]!.goldMs} ms = ×${r.lastToFirst.toFixed(2)} (≤ 1.2)  ${r.pass ? 'PASS' : 'FAIL'}`,
    `  full rebuild of the whole history (${r.silverRows.toLocaleString('en')} silver rows): ${r.fullRebuildMs} ms + export ${r.fullRebuildExportMs} ms`,
  ].join('\n');
}

/** Entry point for scripts/bench.ts: its own database on the bench's local stack. */
export async function runBench(o: { databaseUrl: string; lakeConnectionString: string; workDir: string }): Promise<GoldBenchResult> {
  const files = numberArg('gold-files', 10);
  const rowsPerFile = numberArg('gold-rows', 200_000);
  const { name: database, url } = await createScratchDatabase(o.databaseUrl, 'gold_bench');
  const workRoot = path.join(o.workDir, 'gold-work');
  console.log(`\ngold refresh per file: ${files} files × ${rowsPerFile.toLocaleString('en')} rows into one platform (database ${database})…`);
  try {
    const result = await benchGold({
      platform: () => createPlatform({ ...process.env, LakeStorage: o.lakeConnectionString, DATABASE_URL: url }, { log: silentLogger, workRoot }),
      workDir: o.workDir,
      files,
      rowsPerFile,
      log: (l) => console.log(l),
    });
    console.log(`\ngold refresh cost per file (incremental in the silver transaction + Parquet export after commit):`);
    console.log(describeGoldBench(result));
    return result;
  } finally {
    await rm(workRoot, { recursive: true, force: true });
  }
}
