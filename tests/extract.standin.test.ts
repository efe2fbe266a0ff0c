import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ExtractSettings, type SourceName, sourceSettings } from '../shared/config';
import { readSmall } from '../shared/lake/lake';
import { silentLogger } from '../shared/log';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { type ExtractDeps, extractSource, type SourceReport } from '../shared/sources/extract';
import { seededRandom, type StandIn, startStandIn, type StandInOptions, STAND_IN_ENTITIES } from '../shared/sources/standIn';
import { freshPlatform } from './support/platform';

/**
 * Extraction into bronze against the stand-in API (shared/sources/standIn): full and incremental
 * runs with inserts, updates and deletions between and during runs, 429 storms and other faults,
 * a 401, kill -9 of the real CLI, the bronze paths, and what goes over the wire. Every check reads
 * the bronze files back with this file's own reader (list, gunzip, JSON.parse per line) and
 * compares them with the stand-in's own current state.
 */

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'medallion.js');

/** The seed's pattern, written out independently of shared/sources/bronze.ts. */
const PATH_PATTERN = /^(pipedrive|zendesk)\/scope=([a-z0-9_-]+)\/entity=([a-z_]+)\/ingestion_date=(\d{4})-(\d{2})-(\d{2})\/run_id=(\d{8}T\d{9}Z)\/part-(\d+)\.jsonl\.gz$/;

interface BronzeLine {
  path: string;
  line: number;
  text: string;
  record: Record<string, unknown>;
}

/** Every line of every bronze file of an entity: the independent reader. */
async function readBronze(p: Platform, source: SourceName, scope: string, entity: string): Promise<BronzeLine[]> {
  const out: BronzeLine[] = [];
  for await (const f of p.lake.list('bronze', `${source}/scope=${scope}/entity=${entity}/`)) {
    const text = gunzipSync(await readSmall(await p.lake.read('bronze', f.path), 256 * 1024 * 1024)).toString('utf8');
    expect(text.endsWith('\n'), f.path).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    lines.forEach((l, i) => out.push({ path: f.path, line: i + 1, text: l, record: JSON.parse(l) as Record<string, unknown> }));
  }
  return out;
}

async function bronzePaths(p: Platform): Promise<string[]> {
  const paths: string[] = [];
  for await (const f of p.lake.list('bronze', '')) paths.push(f.path);
  return paths;
}

const canonical = (v: unknown) => JSON.stringify(v);

/** Records of the stand-in's current state that no bronze line holds exactly (as JSON values). */
async function missingFromBronze(p: Platform, standIn: StandIn, source: SourceName, scope: string, entity: string): Promise<Record<string, unknown>[]> {
  const have = new Set((await readBronze(p, source, scope, entity)).map((l) => canonical(l.record)));
  return standIn.store.state(source, entity).filter((r) => !have.has(canonical(r)));
}

async function expectBronzeHoldsState(p: Platform, standIn: StandIn, source: SourceName, scope = 'acme'): Promise<void> {
  for (const entity of STAND_IN_ENTITIES[source]) {
    const missing = await missingFromBronze(p, standIn, source, scope, entity);
    expect(missing.map((r) => r.id), `${source}/${entity}: current records missing from bronze`).toEqual([]);
  }
}

async function watermarks(p: Platform, source: SourceName): Promise<Record<string, number | null>> {
  const r = await p.pool.query(`SELECT entity, watermark FROM ops.extract_watermarks WHERE source = $1 ORDER BY entity`, [source]);
  return Object.fromEntries(r.rows.map((x) => [x.entity, x.watermark === null ? null : (x.watermark as Date).getTime()]));
}

/** Watermarks never ahead of written data: every current record changed before its entity's watermark is in bronze. */
async function expectWatermarksCovered(p: Platform, standIn: StandIn, source: SourceName): Promise<void> {
  const marks = await watermarks(p, source);
  for (const [entity, w] of Object.entries(marks)) {
    if (w === null) continue;
    const have = new Set((await readBronze(p, source, 'acme', entity)).map((l) => canonical(l.record)));
    const behind = standIn.store
      .records(source, entity)
      .filter((r) => r.ts < w)
      .map((r) => JSON.parse(JSON.stringify(r.data)) as Record<string, unknown>)
      .filter((r) => !have.has(canonical(r)));
    expect(behind.map((r) => r.id), `${source}/${entity}: records older than the watermark ${new Date(w).toISOString()} missing from bronze`).toEqual([]);
  }
}

/** A virtual clock the extractor sleeps on and the stand-in reads: a 429 storm costs no real time. */
function virtualClock(start = Date.UTC(2025, 5, 2, 12, 0, 0, 250)) {
  const c = {
    t: start,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
    advance: (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

const SETTINGS: ExtractSettings = { overlapMinutes: 10, partMaxBytes: 64 * 1024, maxWaitSeconds: 600 };

describe('extraction into bronze against the stand-in API', () => {
  let platform: Platform;
  let standIn: StandIn;
  let clock: ReturnType<typeof virtualClock>;
  let work: string;

  async function setUp(options: StandInOptions = {}): Promise<void> {
    ({ platform } = await freshPlatform());
    clock = virtualClock();
    standIn = await startStandIn({ seed: 11, now: clock.now, pipedriveToken: 'pd-test-token-0001', zendeskEmail: 'ops@example.com', zendeskToken: 'zd-test-token-0002', ...options });
  }

  function deps(extra: Partial<ExtractDeps> = {}): ExtractDeps {
    return { lake: platform.lake, pool: platform.pool, log: silentLogger, workRoot: work, now: clock.now, sleep: clock.sleep, random: seededRandom(3), ...extra };
  }

  function run(source: SourceName, options: Parameters<typeof extractSource>[3] = {}, env: Record<string, string> = standIn.env(), settings = SETTINGS, extra: Partial<ExtractDeps> = {}): Promise<SourceReport> {
    return extractSource(deps(extra), sourceSettings(source, env)!, settings, options);
  }

  beforeAll(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'extract-'));
  });
  afterEach(async () => {
    await standIn?.close();
    await platform?.close();
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('first full extract: every record of both sources lands in bronze exactly as served, in the seed\'s path pattern, parts capped', async () => {
    await setUp();
    for (const source of ['pipedrive', 'zendesk'] as const) {
      const report = await run(source);
      expect(report.status, JSON.stringify(report.entities.filter((e) => e.status !== 'succeeded'))).toBe('succeeded');
      expect(report.scope).toBe('acme');
      for (const entity of STAND_IN_ENTITIES[source]) {
        const lines = await readBronze(platform, source, 'acme', entity);
        const state = standIn.store.state(source, entity);
        // The first run holds the whole state (the time-based organizations export may repeat items).
        expect(new Set(lines.map((l) => canonical(l.record))), `${source}/${entity}`).toEqual(new Set(state.map(canonical)));
        const e = report.entities.find((x) => x.entity === entity)!;
        expect(e.records).toBe(lines.length);
      }
    }
    const paths = await bronzePaths(platform);
    expect(paths.length).toBeGreaterThan(12);
    for (const p of paths) {
      const m = PATH_PATTERN.exec(p);
      expect(m, p).not.toBeNull();
      expect(m![2]).toBe('acme');
      // ingestion_date is the UTC day of run_id.
      expect(`${m![4]}${m![5]}${m![6]}`).toBe(m![7]!.slice(0, 8));
      expect((await platform.lake.stat('bronze', p))!.size).toBeGreaterThan(0);
    }
    // Parts are capped by uncompressed size (a part only passes the cap when one record alone does).
    for (const p of paths.filter((x) => x.includes('entity=deals'))) {
      const text = gunzipSync(await readSmall(await platform.lake.read('bronze', p))).toString('utf8');
      expect(Buffer.byteLength(text), p).toBeLessThanOrEqual(SETTINGS.partMaxBytes);
    }
    expect(paths.filter((x) => x.includes('entity=deals')).length).toBeGreaterThan(3);
    // Watermarks: the newest record time written, never after the run's start.
    const marks = await watermarks(platform, 'pipedrive');
    const newestDeal = Math.max(...standIn.store.records('pipedrive', 'deals').map((r) => r.ts));
    expect(marks.deals).toBe(newestDeal);
    await expectWatermarksCovered(platform, standIn, 'pipedrive');
    await expectWatermarksCovered(platform, standIn, 'zendesk');
    const runs = await platform.pool.query(`SELECT status, count(*)::int AS n FROM ops.extract_runs GROUP BY status`);
    // 10 Pipedrive entities (users, pipelines, stages, three fields lists, organizations, persons, deals, activities) and 6 Zendesk ones.
    expect(runs.rows).toEqual([{ status: 'succeeded', n: 16 }]);
  });

  it('records are written as the API wrote them: decimals, ids beyond 2^53, and one line per record even from indented answers', async () => {
    await setUp({ pretty: true });
    expect((await run('pipedrive', { entities: ['deals'] })).status).toBe('succeeded');
    expect((await run('zendesk', { entities: ['tickets'] })).status).toBe('succeeded');
    const deals = await readBronze(platform, 'pipedrive', 'acme', 'deals');
    expect(deals.length).toBe(standIn.store.records('pipedrive', 'deals').length);
    for (const l of deals) {
      expect(l.text).toMatch(/"value":\d+\.\d\d,/);
      expect(l.text).not.toMatch(/\n|": /);
    }
    const tickets = await readBronze(platform, 'zendesk', 'acme', 'tickets');
    for (const l of tickets) {
      const id = BigInt(l.record.id as number);
      expect(l.text).toContain(`"value":${9_007_199_254_740_993n + id}`);
    }
  });

  it('Pipedrive fields: the fields lists name every custom field of deals, persons and organizations; renamed, added and deleted fields reach bronze', async () => {
    await setUp();
    standIn.fail({ status: 429, retryAfterSeconds: 3, times: 1, match: (r) => r.entity === 'person_fields' });
    const first = await run('pipedrive');
    expect(first.status, JSON.stringify(first.entities.filter((e) => e.status !== 'succeeded'))).toBe('succeeded');
    // The fields lists run before the records they name; a 429 on one is waited out like any other.
    expect(first.entities.map((e) => e.entity)).toEqual(['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities']);
    expect(first.entities.find((e) => e.entity === 'person_fields')).toMatchObject({ status: 'succeeded', retries: 1, mode: 'snapshot' });
    const v1 = standIn.requests().filter((r) => /\/api\/v1\/(deal|person|organization)Fields$/.test(r.path) && r.status === 200);
    expect(v1.map((r) => r.path.split('/').at(-1))).toEqual(['dealFields', 'personFields', 'organizationFields']);
    for (const r of v1) expect(r.query).toEqual({ limit: '500' });

    type Field = { id: number; key: string; name: string; field_type: string; edit_flag: boolean; active_flag: boolean; update_time: string; options?: { id: unknown; label: string }[] };
    const newestRun = (lines: BronzeLine[]) => {
      const runOf = (p: string) => /\/run_id=([^/]+)\//.exec(p)![1]!;
      const newest = lines.map((l) => runOf(l.path)).sort().at(-1);
      return lines.filter((l) => runOf(l.path) === newest).map((l) => l.record as unknown as Field);
    };
    const fieldsOf = async (entity: string) => newestRun(await readBronze(platform, 'pipedrive', 'acme', entity));
    const LISTS = [
      ['deal_fields', 'deals', ['title', 'value', 'status']],
      ['person_fields', 'persons', ['name', 'org_id']],
      ['organization_fields', 'organizations', ['name', 'address']],
    ] as const;
    /** Every custom_fields key of every bronze record is an active custom field's key, its value of the field's type. */
    const expectNamed = async (fieldsEntity: string, recordsEntity: string, since = 0): Promise<number> => {
      const fields = await fieldsOf(fieldsEntity);
      const byKey = new Map(fields.filter((f) => f.edit_flag).map((f) => [f.key, f]));
      let enumValues = 0;
      for (const l of await readBronze(platform, 'pipedrive', 'acme', recordsEntity)) {
        if (Date.parse(String(l.record.update_time)) < since) continue;
        for (const [key, value] of Object.entries(l.record.custom_fields as Record<string, unknown>)) {
          const f = byKey.get(key);
          expect(f, `${recordsEntity} ${String(l.record.id)}: custom field ${key} is not in ${fieldsEntity}`).toBeDefined();
          if (value === null) continue;
          const ids = (f!.options ?? []).map((o) => o.id);
          if (f!.field_type === 'enum') {
            expect(ids, `${f!.name}`).toContain(value);
            enumValues++;
          } else if (f!.field_type === 'set') for (const v of value as unknown[]) expect(ids).toContain(v);
          else if (f!.field_type === 'monetary') expect(Object.keys(value as object).sort()).toEqual(['currency', 'value']);
          else if (f!.field_type === 'double') expect(typeof value).toBe('number');
          else expect(typeof value, f!.field_type).toBe('string');
        }
      }
      return enumValues;
    };
    for (const [fieldsEntity, recordsEntity, standard] of LISTS) {
      const fields = await fieldsOf(fieldsEntity);
      expect(fields.length, fieldsEntity).toBe(standIn.store.records('pipedrive', fieldsEntity).length);
      for (const f of fields) {
        expect(Number.isInteger(f.id)).toBe(true);
        expect(f.update_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
        expect(f.key, f.name).toMatch(f.edit_flag ? /^[0-9a-f]{40}$/ : /^[a-z_]+$/);
      }
      expect(fields.filter((f) => !f.edit_flag).map((f) => f.key)).toEqual(expect.arrayContaining([...standard]));
      const custom = fields.filter((f) => f.edit_flag);
      expect(new Set(custom.map((f) => f.field_type))).toEqual(new Set(['enum', 'monetary', 'double', 'varchar']));
      for (const f of custom.filter((x) => x.field_type === 'enum')) expect(f.options!.every((o) => Number.isInteger(o.id) && o.label.length > 0)).toBe(true);
      expect(await expectNamed(fieldsEntity, recordsEntity), `${recordsEntity} with an enum value`).toBeGreaterThan(10);
    }

    // Between runs: a deal field renamed, one added, one deleted; a person field renamed through the control endpoint.
    const dealFields = await fieldsOf('deal_fields');
    const renamed = dealFields.find((f) => f.edit_flag && f.field_type === 'enum')!;
    const dropped = dealFields.find((f) => f.edit_flag && f.field_type === 'double')!;
    clock.advance(60_000);
    const changedAt = clock.now() - 1000;
    standIn.store.update('pipedrive', 'deal_fields', renamed.id, { name: 'Lead channel' });
    const added = standIn.store.insert('pipedrive', 'deal_fields', { name: 'Tier', field_type: 'enum', options: [{ label: 'Gold' }, { label: 'Silver' }] });
    standIn.store.remove('pipedrive', 'deal_fields', dropped.id);
    const personField = (await fieldsOf('person_fields')).find((f) => f.edit_flag)!;
    const mutate = await fetch(`${standIn.url}/_standin/mutate`, {
      method: 'POST',
      body: JSON.stringify({ op: 'update', source: 'pipedrive', entity: 'person_fields', id: personField.id, patch: { name: 'Acquisition channel' } }),
    });
    expect(mutate.status).toBe(200);
    const changedDeals = standIn.store.records('pipedrive', 'deals').filter((r) => !r.deleted).slice(0, 40).map((r) => r.id);
    for (const id of changedDeals) standIn.store.update('pipedrive', 'deals', id);
    const newDeals = [0, 1, 2, 3, 4].map(() => standIn.store.insert('pipedrive', 'deals').id as number);
    clock.advance(15 * 60_000);
    const second = await run('pipedrive');
    expect(second.status).toBe('succeeded');
    await expectBronzeHoldsState(platform, standIn, 'pipedrive');

    const after = new Map((await fieldsOf('deal_fields')).map((f) => [f.id, f]));
    expect(after.get(renamed.id)).toMatchObject({ key: renamed.key, name: 'Lead channel', active_flag: true, field_type: 'enum', options: renamed.options });
    expect(after.get(renamed.id)!.update_time > renamed.update_time).toBe(true);
    expect(after.get(dropped.id)).toMatchObject({ key: dropped.key, name: dropped.name, active_flag: false });
    const tier = after.get(added.id as number)!;
    expect(tier).toMatchObject({ name: 'Tier', field_type: 'enum', edit_flag: true, active_flag: true });
    expect(tier.key).toMatch(/^[0-9a-f]{40}$/);
    expect(tier.options!.map((o) => o.label)).toEqual(['Gold', 'Silver']);
    expect(new Set(tier.options!.map((o) => o.id)).size).toBe(2);
    expect(after.size).toBe(dealFields.length + 1);
    expect((await fieldsOf('person_fields')).find((f) => f.id === personField.id)).toMatchObject({ key: personField.key, name: 'Acquisition channel' });
    // The deals written since: their custom fields are named by the new list; changed and new deals carry the new field; new ones lack the deleted one.
    await expectNamed('deal_fields', 'deals', changedAt);
    const latest = new Map<number, Record<string, unknown>>();
    for (const l of await readBronze(platform, 'pipedrive', 'acme', 'deals')) if (Date.parse(String(l.record.update_time)) >= changedAt) latest.set(l.record.id as number, l.record);
    for (const id of [...changedDeals, ...newDeals]) expect(Object.keys(latest.get(id)!.custom_fields as object), `deal ${id}`).toContain(tier.key);
    for (const id of newDeals) expect(Object.keys(latest.get(id)!.custom_fields as object), `deal ${id}`).not.toContain(dropped.key);
  });

  it('Pipedrive fields lists beyond one page: v1 offset paging with limit 500, every field once; the stand-in refuses a wrong token and a limit above 500', async () => {
    await setUp({ counts: { pipedrive: { deal_fields: 520, deals: 5, persons: 5, organizations: 5, activities: 5 } } });
    const report = await run('pipedrive', { entities: ['deal_fields'] });
    expect(report.entities[0]).toMatchObject({ entity: 'deal_fields', status: 'succeeded', pages: 2 });
    const reqs = standIn.requests().filter((r) => r.entity === 'deal_fields');
    expect(reqs.map((r) => [r.query, r.records])).toEqual([
      [{ limit: '500' }, 500],
      [{ limit: '500', start: '500' }, 529 - 500],
    ]);
    const lines = await readBronze(platform, 'pipedrive', 'acme', 'deal_fields');
    expect(lines).toHaveLength(529); // 9 standard deal fields + 520 custom ones
    expect(new Set(lines.map((l) => l.record.id)).size).toBe(529);
    expect(new Set(lines.map((l) => canonical(l.record)))).toEqual(new Set(standIn.store.state('pipedrive', 'deal_fields').map(canonical)));
    expect(report.entities[0]!.records).toBe(529);
    const base = `${standIn.pipedriveBaseUrl}/api/v1/dealFields`;
    expect((await fetch(base, { headers: { 'x-api-token': 'not-the-token' } })).status).toBe(401);
    const tooMany = await fetch(`${base}?limit=501`, { headers: { 'x-api-token': 'pd-test-token-0001' } });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: string }).error).toMatch(/limit must be an integer between 1 and 500/);
  });

  it('incremental runs with inserts, updates and deletions between runs: bronze holds every current version; each run reads only its window', async () => {
    await setUp();
    await run('pipedrive');
    await run('zendesk');
    const firstCount = (await readBronze(platform, 'pipedrive', 'acme', 'deals')).length;
    for (let round = 0; round < 3; round++) {
      clock.advance(15 * 60_000);
      for (const [source, entity] of [
        ['pipedrive', 'deals'],
        ['pipedrive', 'persons'],
        ['pipedrive', 'organizations'],
        ['pipedrive', 'activities'],
        ['pipedrive', 'users'],
        ['pipedrive', 'stages'],
        ['pipedrive', 'deal_fields'],
        ['pipedrive', 'person_fields'],
        ['zendesk', 'tickets'],
        ['zendesk', 'users'],
        ['zendesk', 'organizations'],
        ['zendesk', 'groups'],
      ] as const) {
        for (let i = 0; i < 5; i++) standIn.store.insert(source, entity);
        for (let i = 0; i < 7; i++) standIn.store.update(source, entity);
        for (let i = 0; i < 3; i++) standIn.store.remove(source, entity);
        clock.advance(1500);
      }
      clock.advance(2 * 60_000); // past Zendesk's last minute
      const before = await watermarks(platform, 'pipedrive');
      const pd = await run('pipedrive');
      const zd = await run('zendesk');
      expect(pd.status).toBe('succeeded');
      expect(zd.status).toBe('succeeded');
      const deals = pd.entities.find((e) => e.entity === 'deals')!;
      expect(deals.mode).toBe('incremental');
      expect(deals.windowStart).toBe(before.deals! - 10 * 60_000);
      expect(deals.records).toBeGreaterThanOrEqual(15);
      expect(deals.records).toBeLessThan(firstCount / 4);
      const after = await watermarks(platform, 'pipedrive');
      for (const e of Object.keys(before)) expect(after[e]!, e).toBeGreaterThanOrEqual(before[e]!);
      await expectBronzeHoldsState(platform, standIn, 'pipedrive');
      await expectBronzeHoldsState(platform, standIn, 'zendesk');
    }
    // Deletions are in bronze as the APIs show them.
    const deals = await readBronze(platform, 'pipedrive', 'acme', 'deals');
    expect(deals.some((l) => l.record.status === 'deleted' && l.record.is_deleted === true)).toBe(true);
    const tickets = await readBronze(platform, 'zendesk', 'acme', 'tickets');
    expect(tickets.some((l) => l.record.status === 'deleted')).toBe(true);
  });

  it('changes while a run pages through an entity are in bronze after the next run (overlap + watermark bound)', async () => {
    await setUp();
    await run('pipedrive');
    await run('zendesk');
    clock.advance(20 * 60_000);
    // Every deal and ticket changes, so the next run pages through several pages of each.
    for (const source of ['pipedrive', 'zendesk'] as const) {
      const entity = source === 'pipedrive' ? 'deals' : 'tickets';
      for (const r of standIn.store.records(source, entity)) if (!r.deleted) standIn.store.update(source, entity, r.id);
    }
    clock.advance(2 * 60_000);
    // During the next runs: after each page of deals / tickets, change records already read, not
    // yet read, insert and delete some; and let the clock move a little.
    const pageRequests = new Map<string, number>();
    standIn.configure({
      onRequest: (r) => {
        if (r.entity !== 'deals' && r.entity !== 'tickets' && r.entity !== 'persons') return;
        const source = r.source!;
        const n = (pageRequests.get(`${source}/${r.entity}`) ?? 0) + 1;
        pageRequests.set(`${source}/${r.entity}`, n);
        if (n === 1) return;
        clock.advance(700);
        const ids = standIn.store.records(source, r.entity!).filter((x) => !x.deleted).map((x) => x.id);
        standIn.store.update(source, r.entity!, ids[n % ids.length]);
        standIn.store.update(source, r.entity!, ids[(n * 7) % ids.length]);
        standIn.store.insert(source, r.entity!);
        standIn.store.remove(source, r.entity!, ids[(n * 13) % ids.length]);
      },
    });
    const pd = await run('pipedrive', {}, standIn.env(), { ...SETTINGS, overlapMinutes: 0 });
    const zd = await run('zendesk', {}, standIn.env(), { ...SETTINGS, overlapMinutes: 0 });
    expect(pd.status).toBe('succeeded');
    expect(zd.status).toBe('succeeded');
    expect(pageRequests.get('pipedrive/deals')).toBeGreaterThan(1);
    expect(pageRequests.get('zendesk/tickets')).toBeGreaterThan(1);
    await expectWatermarksCovered(platform, standIn, 'pipedrive');
    await expectWatermarksCovered(platform, standIn, 'zendesk');
    // The next run (no more changes), even with no overlap at all, picks up what changed during the previous one.
    standIn.configure({ onRequest: undefined });
    clock.advance(2 * 60_000);
    expect((await run('pipedrive', {}, standIn.env(), { ...SETTINGS, overlapMinutes: 0 })).status).toBe('succeeded');
    expect((await run('zendesk', {}, standIn.env(), { ...SETTINGS, overlapMinutes: 0 })).status).toBe('succeeded');
    await expectBronzeHoldsState(platform, standIn, 'pipedrive');
    await expectBronzeHoldsState(platform, standIn, 'zendesk');
  });

  it('a 429 storm, 5xx answers, dropped connections and cut-off bodies: everything is extracted, every Retry-After is waited out', async () => {
    await setUp();
    standIn.storm({ rate: 0.4, retryAfterSeconds: 7, count: 60 });
    standIn.fail({ status: 503, times: 2 });
    standIn.fail({ status: 502, times: 1 });
    standIn.fail({ reset: true, times: 2 });
    standIn.fail({ truncate: true, times: 1, match: (r) => r.entity === 'deals' });
    standIn.fail({ status: 429, retryAfterSeconds: 45, times: 1, match: (r) => r.entity === 'tickets' });
    const pd = await run('pipedrive');
    const zd = await run('zendesk');
    expect(pd.status, JSON.stringify(pd.entities.map((e) => e.error).filter(Boolean))).toBe('succeeded');
    expect(zd.status, JSON.stringify(zd.entities.map((e) => e.error).filter(Boolean))).toBe('succeeded');
    const stats = standIn.stats();
    expect(stats.rateLimited).toBeGreaterThanOrEqual(15);
    expect(stats.earlyRetries).toBe(0);
    expect(stats.faults).toBe(7);
    // Every 429 and every other fault (503 ×2, 502, two resets, a cut-off body) cost exactly one retry.
    const retries = [...pd.entities, ...zd.entities].reduce((n, e) => n + e.retries, 0);
    expect(retries).toBe(stats.rateLimited + 6);
    // Each Retry-After was waited out, as the stand-in saw it: the next request of the same kind
    // came no earlier than the time it named.
    const reqs = standIn.requests();
    const limited = reqs.filter((r) => r.status === 429);
    expect(limited.length).toBe(stats.rateLimited);
    for (const r of limited) {
      const next = reqs.find((x) => x.seq > r.seq && x.bucket === r.bucket);
      expect(next, `request after #${r.seq}`).toBeDefined();
      expect(next!.at - r.at, `#${r.seq} said Retry-After ${r.retryAfter}`).toBeGreaterThanOrEqual(r.retryAfter! * 1000);
    }
    expect(limited.some((r) => r.retryAfter === 45)).toBe(true);
    await expectBronzeHoldsState(platform, standIn, 'pipedrive');
    await expectBronzeHoldsState(platform, standIn, 'zendesk');
  });

  it('a storm that does not end fails the entity as rate_limited, keeps the watermark, and the next run completes', async () => {
    await setUp();
    await run('pipedrive', { entities: ['deals'] });
    const before = await watermarks(platform, 'pipedrive');
    clock.advance(30 * 60_000);
    for (let i = 0; i < 20; i++) standIn.store.update('pipedrive', 'deals');
    standIn.storm({ rate: 1, retryAfterSeconds: 2, source: 'pipedrive' });
    const failed = await run('pipedrive', { entities: ['deals'] });
    expect(failed.entities[0]).toMatchObject({ status: 'failed', failureKind: 'rate_limited' });
    expect(await watermarks(platform, 'pipedrive')).toEqual(before);
    // A Retry-After longer than EXTRACT_MAX_WAIT_SECONDS is not slept through.
    standIn.storm({ rate: 1, retryAfterSeconds: 7200, source: 'pipedrive', count: 1 });
    const long = await run('pipedrive', { entities: ['deals'] });
    expect(long.entities[0]!.failureKind).toBe('rate_limited');
    expect(long.entities[0]!.error).toMatch(/asked to wait 7200 s .*EXTRACT_MAX_WAIT_SECONDS/);
    expect(clock.sleeps.some((s) => s >= 600_000)).toBe(false);
    standIn.storm(undefined);
    clock.advance(7200_000);
    expect((await run('pipedrive', { entities: ['deals'] })).status).toBe('succeeded');
    expect(await missingFromBronze(platform, standIn, 'pipedrive', 'acme', 'deals')).toEqual([]);
    const runs = await platform.pool.query(`SELECT status, failure_kind FROM ops.extract_runs WHERE entity = 'deals' ORDER BY run_id`);
    expect(runs.rows.map((r) => `${r.status}:${r.failure_kind}`)).toEqual(['succeeded:null', 'failed:rate_limited', 'failed:rate_limited', 'succeeded:null']);
  });

  it('a 401 stops the source with one actionable line, records the run as failed (auth), and leaves every watermark as it was', async () => {
    await setUp();
    await run('pipedrive', { entities: ['users', 'deals'] });
    await run('zendesk', { entities: ['groups', 'tickets'] });
    const before = { pd: await watermarks(platform, 'pipedrive'), zd: await watermarks(platform, 'zendesk') };
    const files = (await bronzePaths(platform)).length;
    clock.advance(30 * 60_000);
    standIn.store.update('pipedrive', 'deals');
    const wrongToken = 'pd-wrong-token-9999';
    const pd = await run('pipedrive', {}, { ...standIn.env(), PIPEDRIVE_API_TOKEN: wrongToken });
    expect(pd.status).toBe('failed');
    expect(pd.stopped?.kind).toBe('auth');
    expect(pd.entities[0]).toMatchObject({ entity: 'users', status: 'failed', failureKind: 'auth', records: 0 });
    expect(pd.entities.slice(1).every((e) => e.status === 'skipped')).toBe(true);
    expect(pd.stopped!.message).toMatch(/^Pipedrive refused the API token \(401 Unauthorized\): set PIPEDRIVE_API_TOKEN to a valid token/);
    expect(pd.stopped!.message).not.toContain(wrongToken);
    expect(pd.stopped!.message.split('\n')).toHaveLength(1);
    const zd = await run('zendesk', {}, { ...standIn.env(), ZENDESK_EMAIL: 'someone.else@example.com' });
    expect(zd.stopped?.kind).toBe('auth');
    expect(zd.stopped!.message).toMatch(/^Zendesk refused the credentials \(401 Unauthorized\): check ZENDESK_EMAIL and ZENDESK_API_TOKEN/);
    // One request per source: no retries of a refused token.
    expect(standIn.requests().filter((r) => r.status === 401)).toHaveLength(2);
    expect({ pd: await watermarks(platform, 'pipedrive'), zd: await watermarks(platform, 'zendesk') }).toEqual(before);
    expect((await bronzePaths(platform)).length).toBe(files);
    const failedRuns = await platform.pool.query(`SELECT source, entity, failure_kind, error FROM ops.extract_runs WHERE status = 'failed' ORDER BY source`);
    expect(failedRuns.rows.map((r) => [r.source, r.entity, r.failure_kind])).toEqual([
      ['pipedrive', 'users', 'auth'],
      ['zendesk', 'groups', 'auth'],
    ]);
  });

  it('POST /_standin/mutate: a client mistake is a 400 with a one-line JSON error (never a 500); a good request changes the record', async () => {
    await setUp({ pretty: true, counts: { pipedrive: { deals: 5, persons: 5, organizations: 5, activities: 5 } } });
    const post = async (body: string) => {
      const res = await fetch(`${standIn.url}/_standin/mutate`, { method: 'POST', body });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    };
    const dealId = standIn.store.records('pipedrive', 'deals')[0]!.id;
    const mistakes: Array<[string, RegExp]> = [
      ['{"op":"update",', /^the body is not JSON \(.+\): send \{"op":"update","source":"pipedrive","entity":"deals"\}$/],
      ['[1,2]', /^the body must be a JSON object/],
      ['"update"', /^the body must be a JSON object/],
      ['{}', /^op must be 'insert', 'update' or 'delete'$/],
      ['{"op":"upsert","source":"pipedrive","entity":"deals"}', /^op must be 'insert', 'update' or 'delete'$/],
      ['{"op":"update","source":"hubspot","entity":"deals"}', /^source must be 'pipedrive' or 'zendesk'$/],
      ['{"op":"update","source":"pipedrive","entity":"tickets"}', /^the stand-in has no pipedrive entity 'tickets': one of users, pipelines, stages, /],
      ['{"op":"update","source":"pipedrive","entity":7}', /^entity must be a string: one of users, /],
      ['{"op":"update","source":"pipedrive","entity":"deals","id":99999999}', /^no pipedrive deals with id 99999999$/],
      ['{"op":"delete","source":"pipedrive","entity":"deals","id":"12"}', /^id must be an integer/],
      ['{"op":"update","source":"pipedrive","entity":"deals","id":1.5}', /^id must be an integer/],
      ['{"op":"update","source":"pipedrive","entity":"deals","id":1e2}', /^id must be an integer written with digits only/],
      ['{"op":"update","source":"pipedrive","entity":"deals","id":9007199254740993}', /^id 9007199254740993 is beyond 2\^53/],
      ['{"op":"update","source":"zendesk","entity":"tickets","patch":{"generated_timestamp":1}}', /^patch cannot set generated_timestamp/],
      ['{"op":"update","source":"pipedrive","entity":"deals","patch":{"__proto__":{"x":1}}}', /^patch cannot set __proto__/],
      ['{"op":"insert","source":"pipedrive","entity":"deals","id":12}', /^insert takes no id/],
      [`{"op":"update","source":"pipedrive","entity":"deals","id":${dealId},"patch":"won"}`, /^patch must be a JSON object/],
      [`{"op":"update","source":"pipedrive","entity":"deals","id":${dealId},"patch":[1]}`, /^patch must be a JSON object/],
      [`{"op":"delete","source":"pipedrive","entity":"deals","id":${dealId},"patch":{}}`, /^delete takes no patch$/],
      ['{"op":"insert","source":"pipedrive","entity":"deal_fields","patch":{"name":"Tier","field_type":"enum","options":[null]}}', /^patch\.options must be an array of objects/],
      ['{"op":"insert","source":"pipedrive","entity":"deals","patch":{"id":1201}}', /^patch cannot set id: the stand-in gives ids/],
      [`{"op":"update","source":"pipedrive","entity":"deals","id":${dealId},"patch":{"update_time":"2020-01-01T00:00:00Z"}}`, /^patch cannot set update_time/],
    ];
    for (const [body, message] of mistakes) {
      const r = await post(body);
      expect(r.status, body).toBe(400);
      expect(r.type, body).toMatch(/^application\/json/);
      expect(r.text.includes('\n'), `${body}: one line`).toBe(false);
      expect((JSON.parse(r.text) as { error: string }).error, body).toMatch(message);
    }
    // Nothing left to change: the store's own refusal is the request's mistake too.
    for (const r of standIn.store.records('pipedrive', 'pipelines')) standIn.store.remove('pipedrive', 'pipelines', r.id);
    const none = await post('{"op":"update","source":"pipedrive","entity":"pipelines"}');
    expect([none.status, JSON.parse(none.text)]).toEqual([400, { error: 'no live pipedrive pipelines left' }]);
    // The state endpoint names a wrong entity the same way.
    const state = await fetch(`${standIn.url}/_standin/state?source=pipedrive&entity=nope`);
    expect(state.status).toBe(400);
    expect(((await state.json()) as { error: string }).error).toMatch(/^the stand-in has no pipedrive entity 'nope'/);
    // The stand-in's data did not change through any of them; a good request does.
    const before = canonical(standIn.store.state('pipedrive', 'deals'));
    expect(standIn.store.records('pipedrive', 'deals')).toHaveLength(5);
    const ok = await post(`{"op":"update","source":"pipedrive","entity":"deals","id":${dealId},"patch":{"status":"won"}}`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ id: dealId, status: 'won' });
    expect(canonical(standIn.store.state('pipedrive', 'deals'))).not.toBe(before);
    // Numbers in a patch keep their text, in the answer and in the state endpoint (read here as text, never as doubles).
    const exact = await post(`{"op":"update","source":"pipedrive","entity":"deals","id":${dealId},"patch":{"value":1500.00,"big":9007199254740993,"huge":123456789012345678901234567890.123456789}}`);
    expect(exact.status).toBe(200);
    const stateText = await (await fetch(`${standIn.url}/_standin/state?source=pipedrive&entity=deals`)).text();
    for (const t of [exact.text, stateText]) for (const n of ['"value":1500.00', '"big":9007199254740993', '"huge":123456789012345678901234567890.123456789']) expect(t.replace(/\s/g, ''), n).toContain(n);
    const inserted = await post('{"op":"insert","source":"pipedrive","entity":"deal_fields","patch":{"name":"Tier","field_type":"enum","options":[{"label":"Gold"}]}}');
    expect(inserted.status).toBe(200);
    expect(JSON.parse(inserted.text)).toMatchObject({ name: 'Tier', edit_flag: true, options: [{ label: 'Gold' }] });
  });

  it('the queries of docs/sources.md (staging) and docs/core.md run on real data: null, missing and non-numeric deal values; pipeline value by pipeline, stage id and currency', async () => {
    await setUp({ counts: { pipedrive: { deals: 120, persons: 5, organizations: 5, activities: 5 } } });
    // Deals whose value is a JSON null, missing, a string that is not a number, and a numeric string.
    const stage = standIn.store.records('pipedrive', 'stages')[0]!;
    const odd = (patch: Record<string, unknown>) => standIn.store.insert('pipedrive', 'deals', { status: 'open', currency: 'EUR', stage_id: stage.id, pipeline_id: stage.data.pipeline_id, ...patch });
    const nullValue = odd({ title: 'null value', value: null });
    const missing = odd({ title: 'no value' });
    delete missing.value;
    const text = odd({ title: 'text value', value: 'n/a' });
    const numericText = odd({ title: 'numeric text', value: '12.50' });
    odd({ title: 'in dollars', value: 100, currency: 'USD' });
    const report = await run('pipedrive', { entities: ['pipelines', 'stages', 'deals'] });
    expect(report.status).toBe('succeeded');
    for (const e of report.entities) {
      for (const part of e.parts) expect((await ingestBronzeFile(platform, part)).outcome, part).toBe('succeeded');
    }

    const sqlOf = (file: string, marker: string): string[] => {
      const doc = readFileSync(path.join(ROOT, 'docs', file), 'utf8');
      const block = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes(marker));
      expect(block, `${file}: the sql block with ${marker}`).toBeDefined();
      return block!.split(/;\s*(?:\n|$)/).filter((q) => q.split('\n').some((l) => l.trim() && !l.trim().startsWith('--')));
    };

    // docs/sources.md: the current version of each deal, from staging. The cast it replaced fails.
    await expect(platform.pool.query(`SELECT (record->>'value')::numeric FROM stg_pipedrive.deals_raw`)).rejects.toThrow(/invalid input syntax for type numeric/);
    const [staging] = sqlOf('sources.md', '-- the current version of each deal');
    const rows = (await platform.pool.query<{ scope: string; record_id: string; title: string | null; value: string | null; currency: string | null }>(staging!)).rows;
    const deals = standIn.store.state('pipedrive', 'deals');
    expect(rows).toHaveLength(deals.length);
    const byId = new Map(rows.map((r) => [Number(r.record_id), r]));
    for (const d of deals) {
      const r = byId.get(d.id as number)!;
      expect(r.scope).toBe('acme');
      expect(r.title, String(d.id)).toBe(d.title ?? null);
      expect(r.currency, String(d.id)).toBe(d.currency ?? null);
      expect(r.value === null ? null : Number(r.value), String(d.id)).toBe(typeof d.value === 'number' ? d.value : null);
    }
    for (const d of [nullValue, missing, text, numericText]) expect(byId.get(d.id as number)!.value, String(d.title)).toBeNull();
    expect(rows.filter((r) => r.value !== null).length).toBeGreaterThan(100);

    // docs/core.md: every query of "Querying" runs; the pipeline value one adds up per (pipeline, stage, currency).
    const core = sqlOf('core.md', '-- Open pipeline value');
    expect(core.length).toBeGreaterThanOrEqual(2);
    const pipeline = (await platform.pool.query<{ scope: string; pipeline_id: string | null; pipeline: string | null; stage_id: string | null; stage: string | null; currency: string | null; deals: string; value: string | null }>(core[0]!)).rows;
    for (const q of core.slice(1)) await platform.pool.query(q);
    const stages = new Map(standIn.store.state('pipedrive', 'stages').map((x) => [x.id as number, x]));
    const pipelines = new Map(standIn.store.state('pipedrive', 'pipelines').map((x) => [x.id as number, x]));
    const expected = new Map<string, { deals: number; cents: number | null; pipeline: unknown; stage: unknown }>();
    for (const d of deals.filter((x) => x.status === 'open' && x.is_deleted !== true)) {
      const k = `${d.pipeline_id}/${d.stage_id}/${d.currency}`;
      const e = expected.get(k) ?? { deals: 0, cents: null, pipeline: pipelines.get(d.pipeline_id as number)?.name ?? null, stage: stages.get(d.stage_id as number)?.name ?? null };
      e.deals++;
      if (typeof d.value === 'number') e.cents = (e.cents ?? 0) + Math.round(d.value * 100);
      expected.set(k, e);
    }
    const got = new Map(pipeline.map((r) => [`${r.pipeline_id}/${r.stage_id}/${r.currency}`, { deals: Number(r.deals), cents: r.value === null ? null : Math.round(Number(r.value) * 100), pipeline: r.pipeline, stage: r.stage }]));
    expect(got.size, 'one row per (pipeline, stage, currency)').toBe(pipeline.length);
    expect(got.size).toBeGreaterThan(10);
    expect(got).toEqual(expected);
    // What the old query got wrong: stage names repeat across pipelines, and one stage holds several currencies.
    const names = [...stages.values()].map((x) => x.name);
    expect(new Set(names).size).toBeLessThan(names.length);
    expect(new Set(pipeline.filter((r) => r.stage_id === String(stage.id)).map((r) => r.currency)).size).toBeGreaterThan(1);
  });

  it('wire: auth headers, no token in URLs, limit ≤ 500, page sizes, update-time order, and no Zendesk start_time inside the last minute', async () => {
    await setUp();
    await run('pipedrive');
    await run('zendesk');
    clock.advance(40 * 60_000);
    standIn.store.update('pipedrive', 'deals');
    standIn.store.update('zendesk', 'tickets');
    await run('pipedrive');
    await run('zendesk');
    const reqs = standIn.requests();
    const pd = reqs.filter((r) => r.source === 'pipedrive');
    const zd = reqs.filter((r) => r.source === 'zendesk');
    expect(pd.length).toBeGreaterThan(10);
    for (const r of pd) {
      expect(r.headers.xApiToken).toBe('pd-test-token-0001');
      expect(r.headers.authorization).toBeUndefined();
      expect(Object.keys(r.query)).not.toContain('api_token');
      expect(r.status).toBe(200);
      expect(Number(r.query.limit)).toBe(500);
      if (!r.path.includes('/api/v2/')) {
        expect(r.path).toMatch(/^\/pipedrive\/acme\/api\/v1\/(users|dealFields|personFields|organizationFields)$/);
        // v1 offset pagination: a first page, then start= where the last one said.
        if (r.query.start !== undefined) expect(Number(r.query.start)).toBeGreaterThan(0);
      }
      if (/\/(deals|persons|organizations|activities)$/.test(r.path)) {
        expect(r.query).toMatchObject({ sort_by: 'update_time', sort_direction: 'asc' });
        if (r.entity === 'deals') expect(r.query.status!.split(',')).toContain('deleted');
      }
    }
    // The second run of an incremental entity asks from its watermark minus the overlap, in RFC 3339.
    const secondDeals = pd.filter((r) => r.entity === 'deals' && r.query.updated_since);
    expect(secondDeals.length).toBeGreaterThan(0);
    for (const r of secondDeals) expect(r.query.updated_since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const basic = `Basic ${Buffer.from('ops@example.com/token:zd-test-token-0002').toString('base64')}`;
    for (const r of zd) {
      expect(r.headers.authorization).toBe(basic);
      expect(r.headers.xApiToken).toBeUndefined();
      expect(r.status).toBe(200);
      if (r.bucket === 'zendesk-incremental') {
        expect(Number(r.query.per_page)).toBeLessThanOrEqual(1000);
        if (r.query.start_time !== undefined) expect(Number(r.query.start_time) * 1000).toBeLessThanOrEqual(r.at - 60_000);
      } else expect(Number(r.query['page[size]'])).toBeLessThanOrEqual(100);
    }
    // Paced below 10 requests per minute on the incremental exports: the stand-in never had to say 429.
    const incremental = zd.filter((r) => r.bucket === 'zendesk-incremental');
    for (let i = 1; i < incremental.length; i++) expect(incremental[i]!.at - incremental[i - 1]!.at).toBeGreaterThanOrEqual(6000);
    expect(standIn.stats().rateLimited).toBe(0);
  });

  it('--full reads everything again, --since after the watermark leaves it alone, and a watermark never moves back', async () => {
    await setUp();
    await run('pipedrive', { entities: ['deals'] });
    const w1 = (await watermarks(platform, 'pipedrive')).deals!;
    clock.advance(60 * 60_000);
    const full = await run('pipedrive', { entities: ['deals'], full: true });
    expect(full.entities[0]).toMatchObject({ mode: 'full', records: standIn.store.records('pipedrive', 'deals').length });
    expect((await watermarks(platform, 'pipedrive')).deals).toBe(w1);
    standIn.store.update('pipedrive', 'deals');
    clock.advance(5000);
    const since = await run('pipedrive', { entities: ['deals'], since: clock.now() - 60_000 });
    expect(since.entities[0]).toMatchObject({ mode: 'since', status: 'succeeded', records: 1 });
    expect(since.entities[0]!.watermarkNote).toMatch(/kept/);
    expect((await watermarks(platform, 'pipedrive')).deals).toBe(w1);
    const back = await run('pipedrive', { entities: ['deals'], since: w1 - 86_400_000 });
    expect(back.entities[0]!.watermarkAfter).toBeGreaterThan(w1);
  });

  describe('kill -9 of `medallion extract` mid-run, then the same command again', () => {
    let children: ChildProcess[] = [];
    beforeAll(() => {
      try {
        execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
      } catch {
        // Type errors in files other developers are editing: the output is still written.
      }
    });
    afterEach(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      children = [];
    });

    it.each(['pipedrive', 'zendesk'] as const)('%s: killed at three points, bronze holds every current record and the watermarks never run ahead of it', async (source) => {
      const fresh = await freshPlatform();
      platform = fresh.platform;
      let seen = 0;
      let killAt = Infinity;
      let child: ChildProcess | undefined;
      standIn = await startStandIn({
        seed: 21,
        // Enough records for dozens of pages per run (Pipedrive pages are 500 records, Zendesk exports 1000).
        counts: { pipedrive: { deals: 10_000, activities: 8_000, persons: 3_000 }, zendesk: { tickets: 30_000, users: 4_000 } },
        zendeskRecentSeconds: 1,
        limits: { zendeskIncrementalPerMinute: 0, pipedrivePer2s: 0 },
        onRequest: () => {
          seen++;
          if (seen >= killAt && child && child.exitCode === null) {
            child.kill('SIGKILL');
            killAt = Infinity;
          }
        },
      });
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.tmpdir(),
        ...fresh.env,
        ...standIn.env(),
        ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE: '60000',
        EXTRACT_PART_MAX_BYTES: '262144',
        EXTRACT_OVERLAP_MINUTES: '1',
        MEDALLION_WORK_DIR: path.join(work, `kill-${source}`),
      };
      const start = () => {
        const c = spawn(process.execPath, [CLI, 'extract', source], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(c);
        let err = '';
        c.stderr!.on('data', (b: Buffer) => (err += b.toString()));
        return { c, done: new Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }>((resolve) => c.on('close', (code, signal) => resolve({ code, signal, err }))) };
      };
      for (const after of [5, 14, 9]) {
        killAt = seen + after;
        const { c, done } = start();
        child = c;
        const ended = await done;
        expect(ended.signal, `killed after ${after} requests: ${ended.err}`).toBe('SIGKILL');
        await expectWatermarksCovered(platform, standIn, source);
        // Changes between the killed run and the next one.
        const entity = source === 'pipedrive' ? 'deals' : 'tickets';
        for (let i = 0; i < 10; i++) standIn.store.update(source, entity);
        standIn.store.insert(source, entity);
        standIn.store.remove(source, entity);
        await new Promise((r) => setTimeout(r, 1100));
      }
      const { c, done } = start();
      child = c;
      const last = await done;
      expect(last.code, last.err).toBe(0);
      await expectBronzeHoldsState(platform, standIn, source);
      await expectWatermarksCovered(platform, standIn, source);
      const runs = await platform.pool.query(`SELECT status, count(*)::int AS n FROM ops.extract_runs GROUP BY status ORDER BY status`);
      const byStatus = Object.fromEntries(runs.rows.map((r) => [r.status, r.n]));
      expect(byStatus.succeeded).toBeGreaterThanOrEqual(STAND_IN_ENTITIES[source].length);
      expect(byStatus.running ?? 0, 'the killed runs were recognised as abandoned (their process is gone)').toBe(0);
      expect(byStatus.abandoned).toBeGreaterThanOrEqual(1);
      for (const p of await bronzePaths(platform)) expect(p).toMatch(PATH_PATTERN);
    });
  });
});
