import { readFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { freshPlatform, HAVE_DATASETS, SAMPLE_EVENTS } from './support/platform';

describe.runIf(HAVE_DATASETS)('real REES46 sample through bronze → silver', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  it('lands every row exactly once', async () => {
    await platform.lake.write('bronze', 'ecommerce_events/2019-Oct_first17k.csv', createReadStream(SAMPLE_EVENTS));
    const report = await ingestBronzeFile(platform, 'ecommerce_events/2019-Oct_first17k.csv');
    expect(report.outcome).toBe('succeeded');
    console.log(report.ledger);
  });
});
