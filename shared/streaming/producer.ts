import { type EventData, EventHubProducerClient } from '@azure/event-hubs';
import { DefaultAzureCredential } from '@azure/identity';
import type { EventHubSettings } from '../config';
import { partitionForKey } from './partitionKey';
import type { CustomerRecord } from './records';

/** The part of an EventDataBatch the producer uses (the SDK's batch, or a test fake). */
export interface BatchLike {
  tryAdd(event: EventData): boolean;
  readonly count: number;
  readonly sizeInBytes: number;
}

/** The part of EventHubProducerClient the producer uses (injectable for tests). */
export interface ProducerClientLike {
  getPartitionIds(): Promise<string[]>;
  createBatch(options: { partitionId: string }): Promise<BatchLike>;
  sendBatch(batch: BatchLike): Promise<void>;
  close(): Promise<void>;
}

/** The real client: connection string locally, DefaultAzureCredential + namespace in Azure. */
export function createProducerClient(settings: EventHubSettings): ProducerClientLike {
  let client: EventHubProducerClient;
  if (settings.kind === 'connectionString') {
    // A connection string with EntityPath names the hub itself.
    client = /(^|;)\s*EntityPath=/i.test(settings.connectionString)
      ? new EventHubProducerClient(settings.connectionString)
      : new EventHubProducerClient(settings.connectionString, settings.hubName);
  } else {
    const credential = new DefaultAzureCredential(settings.clientId ? { managedIdentityClientId: settings.clientId } : {});
    client = new EventHubProducerClient(settings.fullyQualifiedNamespace, settings.hubName, credential);
  }
  return client as unknown as ProducerClientLike;
}

const TRANSIENT = new Set([
  'ServiceUnavailableError',
  'ServerBusyError',
  'OperationTimeoutError',
  'ConnectionLostError',
  'ConnectionForcedError',
  'InternalServerError',
  'SystemError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Worth retrying: the SDK marks its transient errors `retryable`; network errors by code. */
export function isTransientError(e: unknown): boolean {
  if (!e || typeof e !== 'object') return false;
  const err = e as { retryable?: unknown; code?: unknown; name?: unknown };
  if (err.retryable === true) return true;
  if (err.retryable === false) return false;
  return (typeof err.code === 'string' && TRANSIENT.has(err.code)) || (typeof err.name === 'string' && TRANSIENT.has(err.name));
}

export class AbortError extends Error {
  override name = 'AbortError';
}

/** Sleeps `ms`, waking early (without error) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** First back-off (default 250 ms), doubled each time, with ±20% jitter, capped at maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  onRetry?: (attempt: number, error: unknown, delayMs: number) => void;
}

/** Runs `fn`, retrying transient failures with exponential back-off. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxRetries = options.maxRetries ?? 5;
  const base = options.baseDelayMs ?? 250;
  const cap = options.maxDelayMs ?? 8000;
  const wait = options.sleep ?? ((ms: number) => sleep(ms));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= maxRetries || !isTransientError(e)) throw e;
      const delay = Math.min(cap, base * 2 ** attempt) * (0.8 + Math.random() * 0.4);
      options.onRetry?.(attempt + 1, e, delay);
      await wait(delay);
    }
  }
}

export interface ProduceOptions {
  /** Records per second (0 or undefined: as fast as the hub takes them). */
  rate?: number;
  /** A partly filled batch is sent once its first event has waited this long (default 500 ms). */
  maxWaitMs?: number;
  /** Ctrl-C: stop taking records, send what is batched, close the client. */
  signal?: AbortSignal;
  retry?: RetryOptions;
  /** Progress callback after every batch sent. */
  onBatch?: (info: { partitionId: string; events: number; sentSoFar: number }) => void;
  /** Clock for the rate limiter (tests). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface ProduceResult {
  sent: number;
  batches: number;
  retries: number;
  byPartition: Record<string, number>;
  /** True when the signal stopped the stream before every record was sent. */
  aborted: boolean;
}

/** The Event Hubs event of a record: JSON body, customer_id as a property, a stable message id. */
export function recordEvent(record: CustomerRecord): EventData {
  return {
    body: record,
    contentType: 'application/json',
    messageId: `${record.customer_id}@${record.updated_at}`,
    properties: { customer_id: record.customer_id },
  };
}

/**
 * Sends records to Event Hubs in EventDataBatches, one open batch per partition; each record's
 * partition is the one its partition key (customer_id) hashes to, so every version of a customer
 * goes to the same partition, in send order. A batch is sent when the next event does not fit,
 * when it has waited maxWaitMs, and at the end; sends are retried on transient errors (a retried
 * send may deliver a batch twice: downstream the upsert by customer_id/updated_at absorbs it).
 * On abort, what is batched is sent and the client closed. The client is always closed.
 */
export async function produceToEventHubs(client: ProducerClientLike, records: Iterable<CustomerRecord>, options: ProduceOptions = {}): Promise<ProduceResult> {
  const now = options.now ?? Date.now;
  const nap = options.sleep ?? sleep;
  const maxWait = options.maxWaitMs ?? 500;
  const result: ProduceResult = { sent: 0, batches: 0, retries: 0, byPartition: {}, aborted: false };
  const open = new Map<string, { batch: BatchLike; since: number }>();
  const retry: RetryOptions = {
    ...options.retry,
    onRetry: (attempt, error, delay) => {
      result.retries++;
      options.retry?.onRetry?.(attempt, error, delay);
    },
  };

  const send = async (partitionId: string) => {
    const entry = open.get(partitionId);
    open.delete(partitionId);
    if (!entry || entry.batch.count === 0) return;
    await withRetry(() => client.sendBatch(entry.batch), retry);
    result.sent += entry.batch.count;
    result.batches++;
    result.byPartition[partitionId] = (result.byPartition[partitionId] ?? 0) + entry.batch.count;
    options.onBatch?.({ partitionId, events: entry.batch.count, sentSoFar: result.sent });
  };
  const newBatch = async (partitionId: string) => {
    const batch = await withRetry(() => client.createBatch({ partitionId }), retry);
    const entry = { batch, since: now() };
    open.set(partitionId, entry);
    return entry;
  };

  try {
    const partitionIds = await withRetry(() => client.getPartitionIds(), retry);
    if (partitionIds.length === 0) throw new Error('the event hub reports no partitions');
    const started = now();
    let i = 0;
    for (const record of records) {
      if (options.signal?.aborted) {
        result.aborted = true;
        break;
      }
      if (options.rate && options.rate > 0) {
        const due = started + (i * 1000) / options.rate;
        // Send what waited long enough before sleeping until the next record is due.
        for (const [pid, e] of [...open]) if (now() - e.since >= maxWait) await send(pid);
        await nap(due - now(), options.signal);
        if (options.signal?.aborted) {
          result.aborted = true;
          break;
        }
      }
      i++;
      const partitionId = partitionForKey(record.customer_id, partitionIds);
      const event = recordEvent(record);
      let entry = open.get(partitionId) ?? (await newBatch(partitionId));
      if (!entry.batch.tryAdd(event)) {
        await send(partitionId);
        entry = await newBatch(partitionId);
        if (!entry.batch.tryAdd(event)) throw new Error(`customer ${record.customer_id} (${record.updated_at}) does not fit in an empty batch`);
      }
      for (const [pid, e] of [...open]) if (now() - e.since >= maxWait && e.batch.count > 0) await send(pid);
    }
    for (const pid of [...open.keys()]) await send(pid);
    return result;
  } finally {
    await client.close();
  }
}
