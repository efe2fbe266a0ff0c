import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { benchExtract, describeExtractBench } from '../scripts/benchExtract';
import { freshPlatform } from './support/platform';

/**
 * The extraction bench (scripts/benchExtract.ts) with a small N: API page → bronze, then API page →
 * staging → core in a full and an incremental round, each with its COPY baseline. Checked: the
 * counts at every step (no timing is asserted).
 */
describe('bench: extraction from the stand-in API to bronze and to core (smoke run, small N)', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'extract-bench-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reports both rounds with what landed in staging and core, and core equals the stand-in afterwards', async () => {
    const { platform } = await freshPlatform();
    try {
      // Parts of 256 KiB: the full round writes several (1,200 deals are ~0.6 MB of JSON lines).
      const r = await benchExtract({ platform, workDir: work, records: 1200, samples: 1, partMaxBytes: 256 * 1024 });
      const printed = describeExtractBench(r);
      console.log(printed);
      expect(r.records).toBe(1200);
      expect(r.pages).toBe(3);
      expect(r.toBronze.records).toBe(1200);
      const [full, inc] = r.toCore;
      expect(full).toMatchObject({ round: 'full', records: 1200, staged: 1200, notStaged: 0, stagingRows: 1200, coreRows: 1200 });
      expect(full!.windowStart).toBeUndefined();
      expect(full!.parts).toBeGreaterThan(1);
      expect(full!.copyBaseline.records).toBe(1200);
      // 5% of the live deals (the stand-in generates ~2% of them deleted).
      expect(r.updated).toBeGreaterThanOrEqual(55);
      expect(r.updated).toBeLessThanOrEqual(60);
      // The incremental round reads the updated deals, and whatever the overlap reads again.
      expect(inc!.round).toBe('incremental');
      expect(inc!.windowStart).toBeDefined();
      expect(inc!.records).toBeGreaterThanOrEqual(r.updated);
      expect(inc!.records).toBeLessThan(1200);
      expect(inc).toMatchObject({ staged: inc!.records, notStaged: 0, stagingRows: 1200 + inc!.records, coreRows: 1200 });
      expect(inc!.copyBaseline.records).toBe(inc!.records);
      expect(r.coreMismatches).toBe(0);
      expect(printed).toContain('API page → core, full round (1,200 records)');
      expect(printed).toContain('API page → core, incremental round');
      expect(printed).toContain("equals the stand-in's 1,200 deals (status, value, update time): PASS");
    } finally {
      await platform.close();
    }
  });
});
