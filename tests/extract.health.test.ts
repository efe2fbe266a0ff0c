import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceSettings } from '../shared/config';
import { readSmall } from '../shared/lake/lake';
import { silentLogger } from '../shared/log';
import { ensureOpsSchema } from '../shared/ops/schema';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { extractSource, type SourceReport } from '../shared/sources/extract';
import { checkExtractCountVariance, checkExtractFreshness, EXTRACT_FRESHNESS_DEFAULT_MINUTES, type ExtractHealthResult } from '../shared/sources/health';
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
    expect(never).toHaveLength(16);
    expect(never.every((r) => r.status === 'fail' && /never extracted completely: run medallion extract/.test(r.message))).toBe(true);

    const report = await extractSource(
      { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: () => t, sleep: async (ms) => void (t += ms) },
      sourceSettings('pipedrive', env)!,
      { overlapMinutes: 10, partMaxBytes: 1 << 20, maxWaitSeconds: 60 },
    );
    expect(report.status).toBe('succeeded');
    const fresh = (await checkExtractFreshness(platform.pool, env, t + 5 * 60_000)).filter((r) => r.dataset === 'pipedrive');
    expect(fresh.map((r) => [r.target, r.status])).toEqual(
      ['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities'].map((e) => [`acme/${e}`, 'pass']),
    );
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

/**
 * Count variance (issue 11 point 5, seed 004 "record counts > 10% variance"): the records a run
 * wrote to bronze against the rows staged from its files, plus their quarantined lines. Every
 * expected figure is this file's own: lines counted in the bronze files (list, gunzip, split),
 * rows counted in the staging and quarantine tables by run_id / file.
 */
describe('extract count variance health check', () => {
  let platform: Platform;
  let standIn: StandIn;
  let work: string;
  let t = Date.UTC(2025, 5, 3, 9, 0, 0);
  const ingested = new Set<string>();

  const extract = async (entities?: string[]): Promise<SourceReport> => {
    const report = await extractSource(
      { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: () => t, sleep: async (ms) => void (t += ms) },
      sourceSettings('pipedrive', standIn.env())!,
      { overlapMinutes: 10, partMaxBytes: 32 * 1024, maxWaitSeconds: 60 },
      { entities },
    );
    expect(report.status, JSON.stringify(report.entities.filter((e) => e.status !== 'succeeded'))).toBe('succeeded');
    return report;
  };
  /** Lines of each bronze file of the source (the independent reader). */
  const bronzeLines = async (): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    for await (const f of platform.lake.list('bronze', 'pipedrive/')) {
      const text = gunzipSync(await readSmall(await platform.lake.read('bronze', f.path), 64 * 1024 * 1024)).toString('utf8');
      out.set(f.path, text.split('\n').filter((l) => l !== '').length);
    }
    return out;
  };
  const ingestAll = async (except: string[] = []): Promise<void> => {
    for (const p of [...(await bronzeLines()).keys()].sort()) {
      if (ingested.has(p) || except.includes(p)) continue;
      const r = await ingestBronzeFile(platform, p);
      expect(r.outcome, `${p}: ${r.message}`).toBe('succeeded');
      ingested.add(p);
    }
  };
  const check = async (at: number, env: Record<string, string> = {}): Promise<Map<string, ExtractHealthResult>> => {
    const results = await checkExtractCountVariance(platform.pool, { ...standIn.env(), ...env }, at);
    // Zendesk is configured too (the stand-in's settings) but never extracted here: nothing to compare.
    for (const r of results.filter((x) => x.dataset === 'zendesk')) expect(r).toMatchObject({ status: 'pass', value: null, message: expect.stringMatching(/nothing to compare/) });
    return new Map(results.filter((r) => r.dataset === 'pipedrive').map((r) => [r.target!.replace('acme/', ''), r]));
  };
  const runFolder = (runId: string) => `/run_id=${runId}/`;
  const stagedOf = async (entity: string, runId: string): Promise<number> =>
    (await platform.pool.query(`SELECT count(*)::int AS n FROM stg_pipedrive.${entity}_raw WHERE run_id = $1`, [runId])).rows[0].n;
  const quarantinedOf = async (entity: string, runId: string): Promise<number> =>
    (await platform.pool.query(`SELECT count(*)::int AS n FROM stg_pipedrive.${entity}_raw_quarantine WHERE source_file LIKE $1`, [`%${runFolder(runId)}%`])).rows[0].n;

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    work = mkdtempSync(path.join(os.tmpdir(), 'extract-count-'));
    standIn = await startStandIn({ seed: 8, now: () => t, counts: { pipedrive: { deals: 240, persons: 30, activities: 20, organizations: 15 } } });
  });
  afterAll(async () => {
    await standIn.close();
    await platform.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('pending within the grace period; a run whose files never landed fails with the missing share; complete runs pass with variance 0; lines missing from staging fail; quarantined lines count as landed', async () => {
    expect(await checkExtractCountVariance(platform.pool, {}, t)).toEqual([]);
    const first = await extract();
    const deals = first.entities.find((e) => e.entity === 'deals')!;
    expect(deals.parts.length, 'several deal files').toBeGreaterThanOrEqual(3);

    // Just written, nothing ingested yet: pending, not failed.
    const pending = await check(t + 60_000);
    expect([...pending.keys()]).toEqual(['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities']);
    for (const [entity, r] of pending) {
      const run = first.entities.find((e) => e.entity === entity)!;
      expect(r, entity).toMatchObject({ check: 'extract_count_variance', status: 'pass', value: null, threshold: 10 });
      expect(r.message, entity).toMatch(new RegExp(`^pending: ${run.parts.length} of ${run.parts.length} file\\(s\\) of run ${run.runId} \\(succeeded, finished 1 min ago\\) not ingested yet`));
    }

    // Every file but one of the deals lands; 20 minutes on, deals are still pending, the rest pass with variance 0.
    const missing = deals.parts[1]!;
    await ingestAll([missing]);
    const lines = await bronzeLines();
    // (Entities of one extraction may share a run id: the run folder is under the entity's folder.)
    const linesOfRun = (entity: string, runId: string) => [...lines].filter(([p]) => p.includes(`/entity=${entity}/`) && p.includes(runFolder(runId))).reduce((n, [, c]) => n + c, 0);
    const partial = await check(t + 20 * 60_000);
    expect(partial.get('deals')!.message).toMatch(new RegExp(`^pending: 1 of ${deals.parts.length} file\\(s\\)`));
    for (const e of first.entities.filter((x) => x.entity !== 'deals')) {
      const r = partial.get(e.entity)!;
      const written = linesOfRun(e.entity, e.runId!);
      expect(await stagedOf(e.entity, e.runId!), e.entity).toBe(written);
      expect({ status: r.status, value: r.value }, e.entity).toEqual({ status: 'pass', value: 0 });
      expect(r.message, e.entity).toContain(`${written.toLocaleString('en')} records written to bronze in ${e.parts.length} file(s), ${written.toLocaleString('en')} staged in stg_pipedrive.${e.entity}_raw + 0 quarantined, variance 0 %`);
    }

    // Past the grace period the file that never landed is missing: its share of the run's records.
    const written = linesOfRun('deals', deals.runId!);
    expect(written).toBe(deals.records);
    const staged = await stagedOf('deals', deals.runId!);
    expect(staged).toBe(written - lines.get(missing)!);
    const expected = Math.round(((written - staged) / written) * 100 * 100) / 100;
    expect(expected, 'the missing file is more than 10 % of the run').toBeGreaterThan(10);
    const late = await check(t + 45 * 60_000);
    expect(late.get('deals')).toMatchObject({ status: 'fail', value: expected, threshold: 10 });
    expect(late.get('deals')!.message).toContain(`${written.toLocaleString('en')} records written to bronze in ${deals.parts.length} file(s), ${staged.toLocaleString('en')} staged in stg_pipedrive.deals_raw + 0 quarantined, variance ${expected} %, more than the 10 % allowed`);
    expect(late.get('deals')!.message).toContain(`1 of its ${deals.parts.length} file(s) never landed (e.g. bronze/${missing})`);
    // The limit is a setting.
    const relaxed = await check(t + 45 * 60_000, { EXTRACT_COUNT_VARIANCE_PERCENT: String(Math.ceil(expected) + 1) });
    expect(relaxed.get('deals')).toMatchObject({ status: 'pass', value: expected, threshold: Math.ceil(expected) + 1 });
    await expect(checkExtractCountVariance(platform.pool, { ...standIn.env(), EXTRACT_COUNT_VARIANCE_PERCENT: 'ten' }, t)).rejects.toThrow(
      /^EXTRACT_COUNT_VARIANCE_PERCENT must be a percentage between 0 and 100 \(e\.g\. 10\), got 'ten'$/,
    );

    // The file lands: variance 0.
    await ingestAll();
    const complete = await check(t + 45 * 60_000);
    expect(await stagedOf('deals', deals.runId!)).toBe(written);
    expect(complete.get('deals')).toMatchObject({ status: 'pass', value: 0 });

    // Rows lost from staging (here: deleted by hand) are missing lines: a share beyond 10 % fails.
    const lost = Math.ceil(written * 0.15);
    await platform.pool.query(
      `DELETE FROM stg_pipedrive.deals_raw WHERE (scope, blob_path, line_no) IN (SELECT scope, blob_path, line_no FROM stg_pipedrive.deals_raw WHERE run_id = $1 ORDER BY blob_path, line_no LIMIT $2)`,
      [deals.runId, lost],
    );
    const left = await stagedOf('deals', deals.runId!);
    expect(left).toBe(written - lost);
    const lossy = await check(t + 45 * 60_000);
    expect(lossy.get('deals')).toMatchObject({ status: 'fail', value: Math.round((lost / written) * 100 * 100) / 100 });
    expect(lossy.get('deals')!.message).toMatch(/lines of its files are missing from stg_pipedrive\.deals_raw; compare ops\.extract_runs\.parts of the run with ops\.file_runs and the table$/);

    // The next runs: deals changed, one of them with a title jsonb cannot hold (a \u0000 escape):
    // quarantined, yet landed.
    t += 60 * 60_000;
    const poisoned = standIn.store.records('pipedrive', 'deals').find((r) => !r.deleted)!.id;
    standIn.store.update('pipedrive', 'deals', poisoned, { title: 'Broken \u0000 title' });
    for (let i = 0; i < 30; i++) standIn.store.update('pipedrive', 'deals');
    t += 60_000;
    const second = await extract();
    await ingestAll();
    const after = await check(t + 5 * 60_000);
    const deals2 = second.entities.find((e) => e.entity === 'deals')!;
    const written2 = [...(await bronzeLines())].filter(([p]) => p.includes('/entity=deals/') && p.includes(runFolder(deals2.runId!))).reduce((n, [, c]) => n + c, 0);
    const staged2 = await stagedOf('deals', deals2.runId!);
    const quarantined2 = await quarantinedOf('deals', deals2.runId!);
    expect(quarantined2).toBe(1);
    expect(staged2 + quarantined2).toBe(written2);
    expect(after.get('deals')).toMatchObject({ status: 'pass', value: 0 });
    expect(after.get('deals')!.message).toContain(`run ${deals2.runId} (succeeded`);
    expect(after.get('deals')!.message).toContain(`${written2.toLocaleString('en')} records written to bronze in ${deals2.parts.length} file(s), ${staged2.toLocaleString('en')} staged in stg_pipedrive.deals_raw + 1 quarantined, variance 0 %`);
    // The unchanged users snapshot of the second run is a file of its own: its lines are staged.
    const users2 = second.entities.find((e) => e.entity === 'users')!;
    const redelivery = await platform.pool.query(`SELECT redelivery_of FROM ops.file_runs WHERE path = $1`, [users2.parts[0]]);
    expect(redelivery.rows[0].redelivery_of).toBeNull();
    expect(await stagedOf('users', users2.runId!)).toBe(users2.records);
    expect(after.get('users')).toMatchObject({ status: 'pass', value: 0 });
    expect(after.get('users')!.message).toContain(`run ${users2.runId} (succeeded`);
    for (const r of after.values()) expect({ target: r.target, status: r.status, value: r.value }).toEqual({ target: r.target, status: 'pass', value: 0 });

    // A file of a run that never lands keeps failing the entity after later runs succeed.
    t += 60 * 60_000;
    for (let i = 0; i < 60; i++) standIn.store.update('pipedrive', 'deals');
    t += 60_000;
    const third = await extract();
    const deals3 = third.entities.find((e) => e.entity === 'deals')!;
    const lost3 = deals3.parts[0]!;
    await ingestAll([lost3]);
    t += 60 * 60_000;
    for (let i = 0; i < 5; i++) standIn.store.update('pipedrive', 'deals');
    t += 60_000;
    const fourth = await extract();
    const deals4 = fourth.entities.find((e) => e.entity === 'deals')!;
    await ingestAll([lost3]);
    const lines3 = (await bronzeLines()).get(lost3)!;
    const expected3 = Math.round((lines3 / deals3.records) * 100 * 100) / 100;
    expect(expected3, 'the lost file is more than 10 % of its run').toBeGreaterThan(10);
    const older = await check(t + 5 * 60_000);
    expect(older.get('deals')).toMatchObject({ status: 'fail', value: expected3 });
    expect(older.get('deals')!.message).toMatch(new RegExp(`^run ${deals3.runId} \\(succeeded, finished \\d+ min ago\\): `));
    expect(older.get('deals')!.message).toContain(`1 of its ${deals3.parts.length} file(s) never landed (e.g. bronze/${lost3})`);
    expect(older.get('deals')!.message).toContain(`; the latest run ${deals4.runId}: variance 0 %`);
    // Runs that landed completely are marked and left alone; the run with the lost file is not.
    const marks = await platform.pool.query(`SELECT run_id, landed_at IS NOT NULL AS landed FROM ops.extract_runs WHERE entity = 'deals' ORDER BY run_id`);
    expect(marks.rows).toEqual([
      { run_id: deals.runId, landed: true },
      { run_id: deals2.runId, landed: true },
      { run_id: deals3.runId, landed: false },
      { run_id: deals4.runId, landed: true },
    ]);
    // The file lands (as a replay would bring it): the entity passes again.
    await ingestAll();
    const repaired = await check(t + 6 * 60_000);
    expect(repaired.get('deals')).toMatchObject({ status: 'pass', value: 0 });
    expect(repaired.get('deals')!.message).toContain(`run ${deals4.runId} (succeeded`);
  });
});
