/**
 * The customers stream case of `npm run bench`: N generated customer records (a share of them
 * updates, some out of order, some late) cut into batch files exactly as the Event Hubs consumer
 * writes them (gzip JSON lines, one file per partition batch) and each file taken through
 * bronze → silver → gold (ingestBronzeFile, gold hooks included) before the next is cut, as
 * `medallion produce customers --to bronze` does. Reports records/s end to end and, per batch,
 * the latency from its first record being taken to the batch being in silver and gold (committed,
 * Parquet exported). Locally there is no Event Grid hop; in Azure add its delivery delay.
 *
 * `runBench` is what scripts/bench.ts calls; `benchStream` takes any platform factory (a test runs
 * it with a small N as a smoke test). Standalone: `node dist/scripts/benchStream.js --records N`
 * (starts its own local stack).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { numberArg } from './benchArgs';
import { performance } from 'node:perf_hooks';
import { table } from '../shared/cli/format';
import { startLocalStack } from '../shared/local/stack';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { generateCustomerStream } from '../shared/streaming/generator';
import { produceToBronze } from '../shared/streaming/toBronze';

export interface StreamBenchOptions {
  /** A platform on an empty database (its hooks are the gold hooks). */
  platform: () => Promise<Platform>;
  records?: number;
  /** Records per batch file (the consumer's batch size). */
  batchSize?: number;
  /** Share of records that are updates of earlier customers. */
  updates?: number;
  partitions?: number;
  /** Records per second (default: as fast as the pipeline takes them). */
  rate?: number;
  seed?: number;
  log?: (line: string) => void;
}

export interface StreamBenchBatch {
  batch: number;
  file: string;
  records: number;
  silver: number;
  superseded: number;
  quarantined: number;
  /** First record taken → batch committed in silver + gold and gold exported. */
  latencyMs: number;
  /** The pipeline alone (ingestBronzeFile). */
  ingestMs: number;
  /** Of which: incremental gold inside the silver transaction, and the Parquet export after it. */
  goldInTxMs: number;
  goldExportMs: number;
}

export interface StreamBenchResult {
  records: number;
  batches: StreamBenchBatch[];
  totalMs: number;
  recordsPerSecond: number;
  latencyMs: { p50: number; p95: number; max: number };
  customers: number;
  goldCustomers: number;
  /** silver and gold hold one row per distinct customer of the stream. */
  consistent: boolean;
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
}

export async function benchStream(options: StreamBenchOptions): Promise<StreamBenchResult> {
  const n = options.records ?? 20_000;
  const log = options.log ?? (() => undefined);
  const { records } = generateCustomerStream({ count: n, updates: options.updates ?? 0.3, seed: options.seed ?? 2002, stepMs: 1000 });
  const customers = new Set(records.map((r) => r.customer_id)).size;
  const base = await options.platform();
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
  try {
    const batches: StreamBenchBatch[] = [];
    const t0 = performance.now();
    const res = await produceToBronze(platform.lake, records, {
      partitions: options.partitions ?? 2,
      batchSize: options.batchSize ?? 1000,
      rate: options.rate,
      ingest: async (p) => {
        inTx = 0;
        exp = 0;
        return ingestBronzeFile(platform, p);
      },
      onFile: (f) => {
        const l = f.report?.ledger;
        if (f.report?.outcome !== 'succeeded') throw new Error(`bench batch ${f.path}: ${f.report?.outcome} ${f.report?.message ?? ''}`);
        const b: StreamBenchBatch = {
          batch: batches.length + 1,
          file: f.path.split('/').at(-1)!,
          records: f.records,
          silver: Number(l?.rows_silver ?? 0),
          superseded: Number(l?.duplicates_in_file ?? 0) + Number(l?.duplicates_cross_file ?? 0),
          quarantined: Number(l?.rows_quarantined ?? 0),
          latencyMs: f.latencyMs,
          ingestMs: f.ingestMs ?? 0,
          goldInTxMs: Math.round(inTx),
          goldExportMs: Math.round(exp),
        };
        batches.push(b);
        log(`  batch ${b.batch}: ${b.records} records → silver ${b.silver}, superseded ${b.superseded}; latency ${b.latencyMs} ms`);
      },
    });
    const totalMs = Math.round(performance.now() - t0);
    const counts = await platform.pool.query<{ s: string; g: string }>(`SELECT (SELECT count(*) FROM silver.customers) AS s, (SELECT count(*) FROM gold.customers) AS g`);
    const silverCustomers = Number(counts.rows[0]!.s);
    const goldCustomers = Number(counts.rows[0]!.g);
    const lat = batches.map((b) => b.latencyMs);
    return {
      records: res.sent,
      batches,
      totalMs,
      recordsPerSecond: Math.round((res.sent / Math.max(1, totalMs)) * 1000),
      latencyMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), max: Math.max(0, ...lat) },
      customers,
      goldCustomers,
      consistent: silverCustomers === customers && goldCustomers === customers,
    };
  } finally {
    await base.close();
  }
}

export function describeStreamBench(r: StreamBenchResult): string {
  return [
    table(
      r.batches.map((b) => ({
        batch: b.batch,
        file: b.file,
        records: b.records,
        silver: b.silver,
        superseded: b.superseded,
        'latency ms': b.latencyMs,
        'ingest ms': b.ingestMs,
        'gold in tx ms': b.goldInTxMs,
        'gold export ms': b.goldExportMs,
      })),
    ),
    '',
    `  ${r.records.toLocaleString('en')} records in ${r.batches.length} batches: ${r.recordsPerSecond.toLocaleString('en')} records/s end to end (${r.totalMs} ms)`,
    `  batch latency (first record taken → in silver + gold): p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms, max ${r.latencyMs.max} ms`,
    `  ${r.customers.toLocaleString('en')} distinct customers; silver and gold hold one row each: ${r.consistent ? 'PASS' : 'FAIL'}`,
  ].join('\n');
}


/** Entry point for scripts/bench.ts: its own database on the bench's local stack. */
export async function runBench(o: { databaseUrl: string; lakeConnectionString: string; workDir: string }): Promise<StreamBenchResult> {
  const records = numberArg('stream-records', 20_000);
  const batchSize = numberArg('stream-batch', 1000);
  const { name: database, url } = await createScratchDatabase(o.databaseUrl, 'stream_bench');
  const workRoot = path.join(o.workDir, 'stream-work');
  console.log(`\ncustomers stream: ${records.toLocaleString('en')} records in batches of ${batchSize} → bronze → silver → gold (database ${database})…`);
  const result = await benchStream({
    platform: () => createPlatform({ ...process.env, LakeStorage: o.lakeConnectionString, DATABASE_URL: url }, { log: silentLogger, workRoot }),
    records,
    batchSize,
    log: (l) => console.log(l),
  });
  console.log(describeStreamBench(result));
  return result;
}

/** Standalone: its own local stack in a temp folder. */
async function main(): Promise<void> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'medallion-stream-bench-'));
  const stack = await startLocalStack({ home, blobPort: 0, postgresPort: 0 });
  try {
    await runBench({ databaseUrl: stack.databaseUrl, lakeConnectionString: stack.lakeConnectionString, workDir: home });
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
