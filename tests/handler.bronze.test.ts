import { InvocationContext } from '@azure/functions';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bronzeToSilver } from '../functions/bronzeToSilver';
import { registerBlobReferenceFactory } from '../functions/support/blobReference';
import { setPlatformForTests } from '../functions/support/platform';
import type { Platform } from '../shared/platform';
import { createRequire } from 'node:module';
import { freshPlatform } from './support/platform';

const CSV =
  'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\r\n' +
  '2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\r\n' +
  '2019-10-01 00:00:01 UTC,purchase,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\r\n' +
  '2019-10-01 00:00:02 UTC,refund,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\r\n';

describe('bronzeToSilver function (called as the Functions host would)', () => {
  let platform: Platform;
  const logs: string[] = [];

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    setPlatformForTests(platform);
    await platform.lake.write('bronze', 'ecommerce_events/drop/2019-10-01.csv', Readable.from([Buffer.from(CSV)]));
  });
  afterAll(async () => {
    setPlatformForTests(undefined);
    await platform?.close();
  });

  function context(): InvocationContext {
    return new InvocationContext({
      invocationId: 'test-invocation',
      functionName: 'bronzeToSilver',
      triggerMetadata: { blobTrigger: 'bronze/ecommerce_events/drop/2019-10-01.csv', name: 'ecommerce_events/drop/2019-10-01.csv' },
      logHandler: (_level, ...args) => logs.push(args.join(' ')),
    });
  }

  it('turns the SDK binding data into a blob reference (no bytes pass through the binding)', () => {
    registerBlobReferenceFactory();
    // The same (CommonJS) registry @azure/functions consults when the host sends binding data.
    const { ResourceFactoryResolver } = createRequire(__filename)('@azure/functions-extensions-base');
    const ref = ResourceFactoryResolver.getInstance().createClient('AzureStorageBlobs', {
      content: Buffer.from(JSON.stringify({ Connection: 'LakeStorage', ContainerName: 'bronze', BlobName: 'ecommerce_events/drop/2019-10-01.csv' })),
      contentType: 'application/json',
      source: 'AzureStorageBlobs',
      version: '1.0',
    });
    expect(ref).toEqual({ container: 'bronze', blobName: 'ecommerce_events/drop/2019-10-01.csv' });
  });

  it('lands the blob in silver and logs the accounting as a structured medallion.file record', async () => {
    await bronzeToSilver({ container: 'bronze', blobName: 'ecommerce_events/drop/2019-10-01.csv' }, context());
    const { rows } = await platform.pool.query('SELECT status, rows_read::int, rows_silver::int, rows_quarantined::int, quarantine_reasons FROM ops.file_runs');
    expect(rows).toEqual([{ status: 'succeeded', rows_read: 3, rows_silver: 2, rows_quarantined: 1, quarantine_reasons: { valid_event_type: 1 } }]);
    const record = logs.find((l) => l.startsWith('medallion.file '));
    expect(record).toBeDefined();
    expect(JSON.parse(record!.slice('medallion.file '.length))).toMatchObject({ dataset: 'ecommerce_events', status: 'succeeded', rows_read: 3, rows_silver: 2, rows_quarantined: 1 });
  });

  it('a redelivered event (Event Grid is at-least-once) changes nothing', async () => {
    await bronzeToSilver(undefined, context()); // falls back to the trigger metadata
    const { rows } = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events');
    expect(rows[0].n).toBe(2);
    expect(logs.some((l) => /skipped — this version of the file has already landed/.test(l))).toBe(true);
  });
});
