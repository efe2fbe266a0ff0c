import { describe, expect, it } from 'vitest';
import { benchStream, describeStreamBench } from '../scripts/benchStream';
import { freshPlatform } from './support/platform';

describe('bench: customers stream case (smoke run, small N)', () => {
  it('takes N records through bronze → silver → gold and reports records/s and per-batch latency', async () => {
    const r = await benchStream({ platform: async () => (await freshPlatform()).platform, records: 400, batchSize: 150 });
    console.log(describeStreamBench(r));
    expect(r.records).toBe(400);
    expect(r.batches.reduce((s, b) => s + b.records, 0)).toBe(400);
    expect(r.batches.reduce((s, b) => s + b.silver + b.superseded + b.quarantined, 0)).toBe(400);
    expect(r.consistent).toBe(true);
    expect(r.recordsPerSecond).toBeGreaterThan(0);
    expect(r.latencyMs.max).toBeGreaterThan(0);
  });
});
