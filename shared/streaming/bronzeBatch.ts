import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { Lake, LakeFile } from '../lake/lake';
import { fileNameToken, safeLakePath } from '../lake/paths';

/** One event of a batch, as the Event Hubs trigger (or the local producer) hands it over. */
export interface StreamEvent {
  body: unknown;
  sequenceNumber: number | string | bigint;
  enqueuedTimeUtc: Date | string;
}

/** A batch of events of one partition, in sequence-number order. */
export interface StreamBatch {
  partitionId: string;
  events: StreamEvent[];
}

export const CUSTOMERS_BRONZE_PREFIX = 'customers/';

/** Digits of a zero-padded sequence number: int64 fits in 19, names sort in sequence order. */
const SEQ_DIGITS = 20;

export function seqText(v: number | string | bigint): string {
  const s = typeof v === 'bigint' ? v.toString() : typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : '') : v.trim();
  if (!/^\d{1,19}$/.test(s)) throw new Error(`not an Event Hubs sequence number: ${String(v)}`);
  return s.padStart(SEQ_DIGITS, '0');
}

/** An enqueued time; ISO text without a zone is UTC (the host's DateTime text may carry none). */
export function timeOf(v: Date | string): Date {
  const text = typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v.trim()) ? `${v.trim()}Z` : v;
  const d = text instanceof Date ? text : new Date(text);
  if (Number.isNaN(d.getTime())) throw new Error(`not an enqueued time: ${String(v)}`);
  return d;
}

/**
 * The bronze path of a batch, a pure function of what the hub assigned: the enqueued time of the
 * first event (lowest sequence number; ingestion date and hour, UTC), the partition and the first and last sequence
 * numbers. A redelivered batch gets the same name and overwrites its earlier copy.
 *   customers/ingest_date=2024-05-03/hour=07/p1-00000000000000000100-00000000000000000199.jsonl.gz
 */
export function batchPath(batch: StreamBatch, prefix = CUSTOMERS_BRONZE_PREFIX): string {
  if (batch.events.length === 0) throw new Error('an empty batch has no bronze file');
  const seqs = batch.events.map((e) => seqText(e.sequenceNumber));
  const first = seqs.reduce((a, b) => (b < a ? b : a));
  const last = seqs.reduce((a, b) => (b > a ? b : a));
  const enqueued = timeOf(batch.events[seqs.indexOf(first)]!.enqueuedTimeUtc).toISOString();
  const partition = fileNameToken(batch.partitionId);
  if (!partition) throw new Error(`not a partition id: '${batch.partitionId}'`);
  return safeLakePath(`${prefix}ingest_date=${enqueued.slice(0, 10)}/hour=${enqueued.slice(11, 13)}/p${partition}-${first}-${last}.jsonl.gz`);
}

/**
 * One JSON line of an event body. Objects (the Functions host parses JSON bodies) are written as
 * compact JSON; text and bytes are parsed when they are JSON; a body that is not JSON is written
 * as its raw text on one line (line breaks escaped) so that it lands in quarantine as a malformed
 * row with its text, instead of vanishing.
 */
export function bodyLine(body: unknown): string {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return bodyLine(Buffer.from(body).toString('utf8'));
  if (typeof body === 'string') {
    const t = body.replace(/^\uFEFF/, '').trim();
    try {
      return JSON.stringify(JSON.parse(t));
    } catch {
      return t.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
    }
  }
  if (body === undefined) return 'null';
  return JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** The gzip JSON-lines bytes of a batch (deterministic: the same events give the same bytes). */
export function encodeBatch(batch: StreamBatch): Buffer {
  const text = batch.events.map((e) => bodyLine(e.body)).join('\n') + '\n';
  return gzipSync(Buffer.from(text, 'utf8'), { level: 6 });
}

export interface WrittenBatch {
  path: string;
  records: number;
  bytes: number;
  file: LakeFile;
}

/** Writes one batch as one gzip JSON-lines file in bronze (replacing a redelivered copy). */
export async function writeBatchToBronze(lake: Lake, batch: StreamBatch, prefix = CUSTOMERS_BRONZE_PREFIX): Promise<WrittenBatch> {
  const path = batchPath(batch, prefix);
  const bytes = encodeBatch(batch);
  const seqs = batch.events.map((e) => seqText(e.sequenceNumber));
  const file = await lake.write('bronze', path, Readable.from([bytes]), {
    contentType: 'application/x-ndjson',
    metadata: {
      partition: fileNameToken(batch.partitionId),
      first_sequence_number: String(BigInt(seqs.reduce((a, b) => (b < a ? b : a)))),
      last_sequence_number: String(BigInt(seqs.reduce((a, b) => (b > a ? b : a)))),
      records: String(batch.events.length),
    },
  });
  return { path, records: batch.events.length, bytes: bytes.length, file };
}

/**
 * The batch an Event Hubs trigger (cardinality 'many') delivered: events from the messages and
 * the trigger metadata's per-event arrays (the @azure/functions library camel-cases the host's
 * PartitionContext, SequenceNumberArray, EnqueuedTimeUtcArray).
 */
export function batchFromTrigger(messages: unknown, triggerMetadata: Record<string, unknown> | undefined): StreamBatch {
  const list = Array.isArray(messages) ? messages : [messages];
  const meta = triggerMetadata ?? {};
  const partitionContext = (meta.partitionContext ?? {}) as Record<string, unknown>;
  const partitionId = partitionContext.partitionId;
  if (typeof partitionId !== 'string' && typeof partitionId !== 'number') {
    throw new Error('the trigger metadata has no partitionContext.partitionId: is the function bound with cardinality "many"?');
  }
  const seqs = meta.sequenceNumberArray;
  const times = meta.enqueuedTimeUtcArray;
  if (!Array.isArray(seqs) || !Array.isArray(times) || seqs.length !== list.length || times.length !== list.length) {
    throw new Error(
      `the trigger metadata must carry sequenceNumberArray and enqueuedTimeUtcArray with one entry per event ` +
        `(${list.length} events, ${Array.isArray(seqs) ? seqs.length : 'no'} sequence numbers, ${Array.isArray(times) ? times.length : 'no'} enqueued times)`,
    );
  }
  const events: StreamEvent[] = list.map((body, i) => ({
    body,
    sequenceNumber: seqs[i] as number | string,
    enqueuedTimeUtc: times[i] as string | Date,
  }));
  return { partitionId: String(partitionId), events };
}
