/**
 * Gold refresh cost vs history: ten generated REES46 files (different seeds and weeks; users
 * partly shared between neighbouring files, products shared by all; no event in two files) are
 * ingested one after another into the same platform. For each file it reports the gold cost of
 * that file — the afterSilverLoad hook (incremental refresh inside the silver transaction) plus
 * the afterCommit hook (Parquet export of the four tables) — and at the end the full rebuild of
 * the whole history. Target: the 10th file's gold cost ≤ 1.2 × the 1st's.
 *
 * `runBench` is what scripts/bench.ts calls; `benchGold` takes any platform factory (tests run a
 * small N as a smoke test).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
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
  log?: (line: string) => void;
}

export interface GoldBenchFile {
  file: number;
  rows: number;
  silverRows: number;
  /** Silver rows in PostgreSQL after this file (the history the refresh must not depend on). */
  silverTotal: number;
  /** afterSilverLoad: incremental gold refresh inside the silver transaction. */
  inTxMs: number;
  /** afterCommit: Parquet export of the gold tables. */
  exportMs: number;
  /** inTxMs + exportMs: the gold refresh time of this file. */
  goldMs: number;
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

export async function benchGold(options: GoldBenchOptions): Promise<GoldBenchResult> {
  const n = options.files ?? 10;
  const rows = options.rowsPerFile ?? 200_000;
  const log = options.log ?? (() => undefined);
  const ingest = options.ingest ?? ingestBronzeFile;
  await mkdir(options.workDir, { recursive: true });
  const base = await options.platform();
  const contract = base.contracts.get('ecommerce_events')!;

  // Time the two gold hooks around the platform's own.
  let inTx = 0;
  let exp = 0;
  const hooks = base.hooks;
  const platform: Platform = {
    ...base,
    hooks: {
      afterSilverLoad: async (client, args) => {
        const t = performance.now();
        await hooks.afterSilverLoad?.(client, args);
        inTx = performance.now() - t;
      },
      afterCommit: async (args) => {
        const t = performance.now();
        await hooks.afterCommit?.(args);
        exp = performance.now() - t;
      },
    },
  };

  const results: GoldBenchFile[] = [];
  try {
    // Create the gold tables on the empty database first, so file 1 is a plain incremental refresh.
    await rebuildGold(platform.pool, contract);
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
      inTx = 0;
      exp = 0;
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
        inTxMs: Math.round(inTx),
        exportMs: Math.round(exp),
        goldMs: Math.round(inTx + exp),
        ingestMs: Math.round(ingestMs),
        customers: Number(counts.rows[0]!.c),
        products: Number(counts.rows[0]!.p),
      };
      results.push(row);
      log(`  file ${row.file}/${n}: gold ${row.goldMs} ms (in transaction ${row.inTxMs} + export ${row.exportMs}); silver now ${row.silverTotal.toLocaleString('en')} rows`);
    }
    let t = performance.now();
    await rebuildGold(platform.pool, contract);
    const fullRebuildMs = Math.round(performance.now() - t);
    t = performance.now();
    await exportGold(platform, contract, { force: true });
    const fullRebuildExportMs = Math.round(performance.now() - t);
    const first = results[0]!.goldMs;
    const last = results.at(-1)!.goldMs;
    const lastToFirst = last / Math.max(1, first);
    return { files: results, lastToFirst, pass: lastToFirst <= 1.2, fullRebuildMs, fullRebuildExportMs, silverRows: results.at(-1)!.silverTotal };
  } finally {
    await base.close();
  }
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]!.replace(/_/g, '')) : fallback;
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
        'gold in tx ms': f.inTxMs,
        'export ms': f.exportMs,
        'gold ms': f.goldMs,
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
  const files = arg('gold-files', 10);
  const rowsPerFile = arg('gold-rows', 200_000);
  const database = `gold_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: o.databaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(o.databaseUrl);
  url.pathname = `/${database}`;
  const workRoot = path.join(o.workDir, 'gold-work');
  console.log(`\ngold refresh per file: ${files} files × ${rowsPerFile.toLocaleString('en')} rows into one platform (database ${database})…`);
  try {
    const result = await benchGold({
      platform: () => createPlatform({ ...process.env, LakeStorage: o.lakeConnectionString, DATABASE_URL: url.toString() }, { log: silentLogger, workRoot }),
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
