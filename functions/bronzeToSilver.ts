import { app, type InvocationContext } from '@azure/functions';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { platformFor } from './support/platform';
import { bronzePathOf, registerBlobReferenceFactory } from './support/blobReference';

registerBlobReferenceFactory();

/**
 * Bronze → silver for every file that lands in the `bronze` container. Event Grid delivers the
 * BlobCreated event (polling blob triggers do not work on ADLS Gen2 or Flex Consumption); the SDK
 * binding passes a reference, never the bytes; the core streams the file.
 * A file-level problem (bad header, corrupt gzip...) is quarantined and not retried; a transient
 * failure (database down...) throws, so the host retries and finally poisons the message.
 */
export async function bronzeToSilver(blob: unknown, context: InvocationContext): Promise<void> {
  const path = bronzePathOf(blob, context.triggerMetadata as Record<string, unknown> | undefined);
  const platform = await platformFor(context);
  const report = await ingestBronzeFile(platform, path);
  context.info(`bronze/${path}: ${report.outcome}${report.message ? ` — ${report.message}` : ''}`);
}

app.storageBlob('bronzeToSilver', {
  path: 'bronze/{name}',
  connection: 'LakeStorage',
  source: 'EventGrid',
  sdkBinding: true,
  handler: bronzeToSilver,
});
