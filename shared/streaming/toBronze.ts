import type { Lake } from '../lake/lake';
import type { FileReport } from '../pipeline/ingestFile';
import { CUSTOMERS_BRONZE_PREFIX, type StreamEvent, writeBatchToBronze } from './bronzeBatch';
import { partitionForKey } from './partitionKey';
import { sleep } from './producer';
import type { CustomerRecord } from './records';

/**
 * `medallion produce customers --to bronze`: the stream without Event Hubs. Records are spread
 * over local partitions by the same partition-key hash as the hub, numbered with per-partition
 * sequence numbers that continue after the files already in bronze, cut into batches and written
 * with the consumer's writer (same file names and format), then — locally there is no blob
 * trigger — each file is handed to `ingest` (bronze → silver → gold) before the next is cut.
 */
export interface BronzeStreamOptions {
  /** Local partitions (default 2, like the deployed hub); named local0, local1... so they never collide with a real hub's. */
  partitions?: number;
  /** Records per batch file (default 500). */
  batchSize?: number;
  /** Records per second (0/undefined: as fast as possible). */
  rate?: number;
  /** With a rate: a partly filled batch is written once its first record waited this long (default 1000 ms). */
  maxWaitMs?: number;
  signal?: AbortSignal;
  /** Enqueued-time clock (tests). */
  clock?: () => Date;
  /** Runs a written file through the pipeline (the CLI passes ingestBronzeFile). */
  ingest?: (path: string) => Promise<FileReport>;
  onFile?: (file: BronzeStreamFile) => void;
}

export interface BronzeStreamFile {
  path: string;
  partitionId: string;
  records: number;
  firstSequenceNumber: number;
  lastSequenceNumber: number;
  /** From the batch's first record being taken to the file having landed (silver + gold committed when `ingest` is given). */
  latencyMs: number;
  /** Time spent in `ingest` alone. */
  ingestMs?: number;
  report?: FileReport;
}

export interface BronzeStreamResult {
  sent: number;
  files: BronzeStreamFile[];
  aborted: boolean;
}

const BATCH_NAME = /(?:^|\/)p([A-Za-z0-9._-]+)-(\d{20})-(\d{20})\.jsonl\.gz$/;

/** Next sequence number per partition: one after the highest already in bronze under `prefix`. */
export async function nextSequenceNumbers(lake: Lake, partitionIds: string[], prefix = CUSTOMERS_BRONZE_PREFIX): Promise<Map<string, number>> {
  const next = new Map(partitionIds.map((p) => [p, 0]));
  for await (const f of lake.list('bronze', prefix)) {
    const m = BATCH_NAME.exec(f.path);
    if (!m || !next.has(m[1]!)) continue;
    const last = Number(m[3]);
    if (last + 1 > next.get(m[1]!)!) next.set(m[1]!, last + 1);
  }
  return next;
}

export async function produceToBronze(lake: Lake, records: Iterable<CustomerRecord>, options: BronzeStreamOptions = {}): Promise<BronzeStreamResult> {
  const count = options.partitions ?? 2;
  if (!Number.isInteger(count) || count < 1) throw new Error(`partitions must be a positive integer, got ${count}`);
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 500));
  const maxWait = options.maxWaitMs ?? 1000;
  const clock = options.clock ?? (() => new Date());
  const ids = Array.from({ length: count }, (_, i) => `local${i}`);
  const next = await nextSequenceNumbers(lake, ids);
  const open = new Map<string, { events: StreamEvent[]; since: number }>();
  const result: BronzeStreamResult = { sent: 0, files: [], aborted: false };

  const flush = async (pid: string) => {
    const batch = open.get(pid);
    open.delete(pid);
    if (!batch || batch.events.length === 0) return;
    const written = await writeBatchToBronze(lake, { partitionId: pid, events: batch.events });
    let report: FileReport | undefined;
    let ingestMs: number | undefined;
    if (options.ingest) {
      const t = Date.now();
      report = await options.ingest(written.path);
      ingestMs = Date.now() - t;
    }
    const file: BronzeStreamFile = {
      path: written.path,
      partitionId: pid,
      records: batch.events.length,
      firstSequenceNumber: Number(batch.events[0]!.sequenceNumber),
      lastSequenceNumber: Number(batch.events[batch.events.length - 1]!.sequenceNumber),
      latencyMs: Date.now() - batch.since,
      ingestMs,
      report,
    };
    result.files.push(file);
    result.sent += file.records;
    options.onFile?.(file);
  };

  const started = Date.now();
  let i = 0;
  for (const record of records) {
    if (options.signal?.aborted) {
      result.aborted = true;
      break;
    }
    if (options.rate && options.rate > 0) {
      for (const [pid, b] of [...open]) if (Date.now() - b.since >= maxWait) await flush(pid);
      await sleep(started + (i * 1000) / options.rate - Date.now(), options.signal);
      if (options.signal?.aborted) {
        result.aborted = true;
        break;
      }
    }
    i++;
    const pid = partitionForKey(record.customer_id, ids);
    let batch = open.get(pid);
    if (!batch) {
      batch = { events: [], since: Date.now() };
      open.set(pid, batch);
    }
    const seq = next.get(pid)!;
    next.set(pid, seq + 1);
    batch.events.push({ body: record, sequenceNumber: seq, enqueuedTimeUtc: clock() });
    if (batch.events.length >= batchSize) await flush(pid);
  }
  // Ctrl-C or the end: what is batched still lands.
  for (const pid of [...open.keys()]) await flush(pid);
  return result;
}
