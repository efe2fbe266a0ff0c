import { app, type InvocationContext } from '@azure/functions';
import { identifyBatch, quarantineBatch, type PoisonReason } from '../shared/ops/poisonBatch';
import { batchFromTrigger, batchPath, type StreamBatch, writeBatchToBronze } from '../shared/streaming/bronzeBatch';
import { lakeFor } from './support/platform';

/** Attempts of one batch: the first run + this many retries (the retry policy below). */
export const EVENT_HUB_MAX_RETRIES = 5;

/**
 * Event Hubs → bronze for the customers stream. Each delivered batch (one partition) becomes ONE
 * gzip JSON-lines file under bronze/customers/ingest_date=…/hour=…/, named from the partition and
 * the batch's first/last sequence numbers: a redelivered batch overwrites its own file instead of
 * adding a copy. Nothing else happens here: the file's BlobCreated event runs bronzeToSilver
 * (bronze → silver → gold) like any other bronze file.
 *
 * Failures and poison batches: a batch that cannot be written throws, so the retry policy below
 * runs it again (the checkpoint does not move while the policy retries). On the LAST attempt
 * (context.retryContext.retryCount = maxRetryCount) a batch that still cannot reach bronze is
 * written to quarantine/_batches/<partition>/<first seq>-<last seq>.jsonl.gz with an .error.json
 * manifest (shared/ops/poisonBatch.ts), and the function returns normally: the checkpoint moves
 * on, so one poison batch no longer stalls its partition. A malformed batch (trigger metadata
 * that names no partition or sequence numbers) can never be written to bronze, so it goes to
 * quarantine at once when the host runs the function under its retry policy; called without a
 * retry context (tests, a local caller) it throws as before.
 */
export async function customersFromEventHub(messages: unknown[], context: InvocationContext): Promise<void> {
  const retry = context.retryContext;
  const attempt = (retry?.retryCount ?? 0) + 1;
  const maxAttempts = retry && retry.maxRetryCount >= 0 ? retry.maxRetryCount + 1 : null;
  const lastAttempt = maxAttempts !== null && attempt >= maxAttempts;

  const poison = async (error: unknown, reason: PoisonReason): Promise<void> => {
    const list = Array.isArray(messages) ? messages : [messages];
    const meta = context.triggerMetadata as Record<string, unknown> | undefined;
    const record = { reason, attempts: attempt, max_attempts: maxAttempts, error: error instanceof Error ? error.message : String(error) };
    try {
      const q = await quarantineBatch(lakeFor(), { messages: list, triggerMetadata: meta, error, reason, attempt, maxAttempts, invocationId: context.invocationId });
      context.error(
        `medallion.stream_quarantine ${JSON.stringify({
          ...record,
          partition: q.partition,
          first_sequence_number: q.firstSequenceNumber,
          last_sequence_number: q.lastSequenceNumber,
          events: q.events,
          path: `quarantine/${q.path}`,
        })}`,
      );
    } catch (e) {
      // Neither bronze nor quarantine took the batch: throw (the host moves on after the last
      // attempt; the log names the batch so it can be read again from the hub within retention).
      const id = identifyBatch(meta ?? {});
      const batch = {
        partition: id.rawPartition || null,
        first_sequence_number: id.first ? String(BigInt(id.first)) : null,
        last_sequence_number: id.last ? String(BigInt(id.last)) : null,
        events: list.length,
      };
      context.error(`medallion.stream_quarantine_failed ${JSON.stringify({ ...record, ...batch, quarantine_error: e instanceof Error ? e.message : String(e) })}`);
      throw error;
    }
  };

  let batch: StreamBatch;
  try {
    batch = batchFromTrigger(messages, context.triggerMetadata as Record<string, unknown> | undefined);
    if (batch.events.length > 0) batchPath(batch);
  } catch (e) {
    if (!retry) throw e;
    return poison(e, 'malformed_batch');
  }
  if (batch.events.length === 0) return;
  try {
    // Only the lake is needed here: the database being down must not stop events reaching bronze.
    const written = await writeBatchToBronze(lakeFor(), batch);
    context.info(`bronze/${written.path}: ${written.records} event(s) from partition ${batch.partitionId}, ${written.bytes} bytes`);
  } catch (e) {
    if (!lastAttempt) {
      context.warn(
        `medallion.stream_retry ${JSON.stringify({ partition: batch.partitionId, events: batch.events.length, attempts: attempt, max_attempts: maxAttempts, error: e instanceof Error ? e.message : String(e) })}`,
      );
      throw e;
    }
    await poison(e, 'failed_after_retries');
  }
}

app.eventHub('customersFromEventHub', {
  connection: 'EventHubConnection',
  eventHubName: '%EVENTHUB_NAME%',
  consumerGroup: '%EVENTHUB_CONSUMER_GROUP%',
  cardinality: 'many',
  // Bounded retries (https://learn.microsoft.com/azure/azure-functions/functions-bindings-error-pages,
  // "Retries": Event Hubs uses the function-level retry policy; the checkpoint is not written while
  // the policy retries, and moves on once an execution returns, or its retries are exhausted).
  // 1 + 5 attempts over about 2.5 minutes (5, 10, 20, 40, 80 s): a lake outage shorter than that
  // loses nothing; the last attempt writes a batch it still cannot land to quarantine/_batches and
  // returns, so the partition is not stalled by one poison batch (maxRetryCount -1 retried forever).
  retry: { strategy: 'exponentialBackoff', maxRetryCount: EVENT_HUB_MAX_RETRIES, minimumInterval: { seconds: 5 }, maximumInterval: { minutes: 5 } },
  handler: customersFromEventHub,
});
