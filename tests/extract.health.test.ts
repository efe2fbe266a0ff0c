import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSettings } from '../shared/config';
import { silentLogger } from '../shared/log';
import { ensureOpsSchema } from '../shared/ops/schema';
import type { Platform } from '../shared/platform';
import { extractSource } from '../shared/sources/extract';
import { checkExtractFreshness, EXTRACT_FRESHNESS_DEFAULT_MINUTES } from '../shared/sources/health';
import { type StandIn, startStandIn } from '../shared/sources/standIn';
import { freshPlatform } from './support/platform';

/** Freshness of each (source, entity) watermark: the watermark part of the sources' health checks. */
describe('extract freshness health check', () => {
  let platform: Platform;
  let standIn: StandIn;
  let work: string;
  let t = Date.UTC(2025, 5, 2, 12, 0, 0);

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    work = mkdtempSync(path.join(os.tmpdir(), 'extract-health-'));
    standIn = await startStandIn({ seed: 2, now: () => t, counts: { pipedrive: { deals: 50, persons: 20, activities: 20, organizations: 10 } } });
  });
  afterAll(async () => {
    await standIn.close();
    await platform.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('no configured source, no result; a configured entity never extracted fails; a recent complete run passes, an old one fails', async () => {
    expect(await checkExtractFreshness(platform.pool, {}, t)).toEqual([]);
    const env = standIn.env();
    const never = await checkExtractFreshness(platform.pool, env, t);
    expect(never).toHaveLength(13);
    expect(never.every((r) => r.status === 'fail' && /never extracted completely: run medallion extract/.test(r.message))).toBe(true);

    const report = await extractSource(
      { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: () => t, sleep: async (ms) => void (t += ms) },
      sourceSettings('pipedrive', env)!,
      { overlapMinutes: 10, partMaxBytes: 1 << 20, maxWaitSeconds: 60 },
    );
    expect(report.status).toBe('succeeded');
    const fresh = (await checkExtractFreshness(platform.pool, env, t + 5 * 60_000)).filter((r) => r.dataset === 'pipedrive');
    expect(fresh.map((r) => [r.target, r.status])).toEqual(['users', 'pipelines', 'stages', 'organizations', 'persons', 'deals', 'activities'].map((e) => [`acme/${e}`, 'pass']));
    expect(fresh.find((r) => r.target === 'acme/deals')!.message).toMatch(/last complete extraction 5 min ago, watermark \d{4}-/);

    const later = t + 3 * 3_600_000;
    const stale = (await checkExtractFreshness(platform.pool, env, later)).filter((r) => r.dataset === 'pipedrive');
    expect(stale.every((r) => r.status === 'fail' && r.threshold === EXTRACT_FRESHNESS_DEFAULT_MINUTES)).toBe(true);
    expect(stale[0]!.message).toMatch(/more than the 2\.0 h allowed/);
    // A limit per (source, entity) in ops.dataset_expectations.
    await ensureOpsSchema(platform.pool);
    await platform.pool.query(`INSERT INTO ops.dataset_expectations (dataset, max_age_minutes) VALUES ('pipedrive.deals', 600)`);
    const relaxed = await checkExtractFreshness(platform.pool, env, later);
    expect(relaxed.find((r) => r.target === 'acme/deals')).toMatchObject({ status: 'pass', threshold: 600, value: 180 });
    // A failed run does not count as fresh.
    standIn.fail({ status: 500, times: 20, match: (r) => r.entity === 'persons' });
    t = later;
    const failing = await extractSource(
      { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: () => t, sleep: async (ms) => void (t += ms) },
      sourceSettings('pipedrive', env)!,
      { overlapMinutes: 10, partMaxBytes: 1 << 20, maxWaitSeconds: 60 },
      { entities: ['persons', 'deals'] },
    );
    expect(failing.entities.map((e) => e.status)).toEqual(['failed', 'succeeded']);
    const after = await checkExtractFreshness(platform.pool, env, t);
    expect(after.find((r) => r.target === 'acme/persons')!.status).toBe('fail');
    expect(after.find((r) => r.target === 'acme/deals')!.status).toBe('pass');
  });
});
