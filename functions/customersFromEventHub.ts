import { app, type InvocationContext } from '@azure/functions';
import { batchFromTrigger, writeBatchToBronze } from '../shared/streaming/bronzeBatch';
import { lakeFor } from './support/platform';

/**
 * Event Hubs → bronze for the customers stream. Each delivered batch (one partition) becomes ONE
 * gzip JSON-lines file under bronze/customers/ingest_date=…/hour=…/, named from the partition and
 * the batch's first/last sequence numbers: a redelivered batch overwrites its own file instead of
 * adding a copy. Nothing else happens here: the file's BlobCreated event runs bronzeToSilver
 * (bronze → silver → gold) like any other bronze file.
 * A failure throws, so the retry policy below runs the batch again (the checkpoint does not move
 * past a batch that is not in bronze).
 */
export async function customersFromEventHub(messages: unknown[], context: InvocationContext): Promise<void> {
  const batch = batchFromTrigger(messages, context.triggerMetadata as Record<string, unknown> | undefined);
  if (batch.events.length === 0) return;
  // Only the lake is needed here: the database being down must not stop events reaching bronze.
  const written = await writeBatchToBronze(lakeFor(), batch);
  context.info(`bronze/${written.path}: ${written.records} event(s) from partition ${batch.partitionId}, ${written.bytes} bytes`);
}

app.eventHub('customersFromEventHub', {
  connection: 'EventHubConnection',
  eventHubName: '%EVENTHUB_NAME%',
  consumerGroup: '%EVENTHUB_CONSUMER_GROUP%',
  cardinality: 'many',
  // Keep retrying a batch that could not be written (lake unavailable...): the Event Hubs trigger
  // checkpoints past a failed batch otherwise, and its events would never reach bronze.
  retry: { strategy: 'exponentialBackoff', maxRetryCount: -1, minimumInterval: { seconds: 5 }, maximumInterval: { minutes: 5 } },
  handler: customersFromEventHub,
});
