import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { Lake } from '../lake/lake';
import { fileNameToken, safeLakePath } from '../lake/paths';
import { bodyLine, seqText, timeOf } from '../streaming/bronzeBatch';

/**
 * Poison batches of the Event Hubs trigger. The trigger retries a failed batch a bounded number
 * of times (its retry policy); a batch that still fails on the last attempt, or one that can never
 * be written (malformed trigger data), is written here instead of bronze, and the function returns
 * normally so the partition's checkpoint moves past it:
 *   quarantine/_batches/<partition>/<first seq>-<last seq>.jsonl.gz      the event bodies, one JSON line each (as bronze would have them)
 *   quarantine/_batches/<partition>/<first seq>-<last seq>.error.json    error, attempts, partition, sequence range, enqueued times
 * Sequence numbers are zero-padded to 20 digits like the bronze names (names sort in order). A
 * batch whose sequence numbers cannot be read is named unknown-<invocation id>.
 * To land a quarantined batch after the fix: copy the .jsonl.gz to bronze under customers/ (any
 * ingest_date=…/hour=… folder), the blob trigger takes it from there.
 */
export type PoisonReason = 'failed_after_retries' | 'malformed_batch';

export interface PoisonInput {
  messages: unknown[];
  triggerMetadata: Record<string, unknown> | undefined;
  error: unknown;
  reason: PoisonReason;
  /** This attempt, counting from 1 (retryCount + 1). */
  attempt: number;
  /** Attempts the retry policy allows (maxRetryCount + 1); null when unbounded or unknown. */
  maxAttempts: number | null;
  invocationId?: string;
}

export interface QuarantinedBatch {
  path: string;
  manifestPath: string;
  partition: string;
  firstSequenceNumber: string | null;
  lastSequenceNumber: string | null;
  events: number;
  manifest: Record<string, unknown>;
}

export const POISON_PREFIX = '_batches/';

function tryOr<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** What the trigger metadata says about a batch (whatever of it can be read): partition, sequence range, enqueued times. */
export function identifyBatch(meta: Record<string, unknown>): {
  rawPartition: string;
  seqArray: unknown[];
  timeArray: unknown[];
  first: string | null;
  last: string | null;
  times: string[];
} {
  const pc = (meta.partitionContext ?? {}) as Record<string, unknown>;
  const rawPartition = typeof pc.partitionId === 'string' || typeof pc.partitionId === 'number' ? String(pc.partitionId) : '';
  const seqArray = Array.isArray(meta.sequenceNumberArray) ? (meta.sequenceNumberArray as unknown[]) : [];
  const timeArray = Array.isArray(meta.enqueuedTimeUtcArray) ? (meta.enqueuedTimeUtcArray as unknown[]) : [];
  const seqs = seqArray.map((s) => tryOr(() => seqText(s as number | string | bigint))).filter((s): s is string => s !== undefined);
  const times = timeArray.map((t) => tryOr(() => timeOf(t as string | Date))).filter((t): t is Date => t !== undefined).map((t) => t.toISOString());
  const first = seqs.length ? seqs.reduce((a, b) => (b < a ? b : a)) : null;
  const last = seqs.length ? seqs.reduce((a, b) => (b > a ? b : a)) : null;
  return { rawPartition, seqArray, timeArray, first, last, times };
}

/** Writes a batch that cannot reach bronze to quarantine/_batches/ with its error manifest. */
export async function quarantineBatch(lake: Lake, input: PoisonInput, now = new Date()): Promise<QuarantinedBatch> {
  const meta = input.triggerMetadata ?? {};
  const messages = Array.isArray(input.messages) ? input.messages : [input.messages];
  const id = identifyBatch(meta);
  const { rawPartition, seqArray, timeArray } = id;
  const partition = fileNameToken(rawPartition) || '_unknown';
  const first = id.first;
  const last = id.last;
  const times = id.times;
  const stem = first && last ? `${first}-${last}` : `unknown-${fileNameToken(input.invocationId ?? '') || now.getTime()}`;
  const base = safeLakePath(`${POISON_PREFIX}${partition}/${stem}`);
  const text = messages.map((m) => bodyLine(m)).join('\n') + (messages.length ? '\n' : '');
  const bytes = gzipSync(Buffer.from(text, 'utf8'), { level: 6 });
  const error = input.error instanceof Error ? input.error.message : String(input.error);
  const malformed = input.reason === 'malformed_batch';
  const manifest: Record<string, unknown> = {
    reason: input.reason,
    error,
    attempts: input.attempt,
    max_attempts: input.maxAttempts,
    partition: rawPartition || null,
    first_sequence_number: first ? String(BigInt(first)) : null,
    last_sequence_number: last ? String(BigInt(last)) : null,
    events: messages.length,
    enqueued_first: times.length ? times.reduce((a, b) => (b < a ? b : a)) : null,
    enqueued_last: times.length ? times.reduce((a, b) => (b > a ? b : a)) : null,
    invocation_id: input.invocationId ?? null,
    quarantined_at: now.toISOString(),
    file: `quarantine/${base}.jsonl.gz`,
    // What the trigger handed over, to tell what was wrong with it (bounded).
    ...(malformed
      ? { sequence_numbers: seqArray.slice(0, 1000).map(String), enqueued_times: timeArray.slice(0, 1000).map(String), metadata_keys: Object.keys(meta).sort() }
      : {}),
  };
  const path = `${base}.jsonl.gz`;
  const manifestPath = `${base}.error.json`;
  await lake.write('quarantine', path, Readable.from([bytes]), { contentType: 'application/x-ndjson' });
  await lake.write('quarantine', manifestPath, Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]), { contentType: 'application/json' });
  return { path, manifestPath, partition: rawPartition, firstSequenceNumber: manifest.first_sequence_number as string | null, lastSequenceNumber: manifest.last_sequence_number as string | null, events: messages.length, manifest };
}
