import { describe, expect, it } from 'vitest';
import { ConfigError, extractSettings, sourceScope, sourceSettings } from '../shared/config';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FsLake } from '../shared/lake/fsLake';
import { readSmall } from '../shared/lake/lake';
import { BronzePartWriter, bronzePartPath, LARGE_RECORD_BYTES, runIdFor, runIdTime } from '../shared/sources/bronze';
import { ENTITIES, entitySpec, rfc3339 } from '../shared/sources/entities';
import { ExtractError, printableUrl } from '../shared/sources/errors';
import { SourceHttpClient } from '../shared/sources/http';
import { rawArrayElements } from '../shared/sources/rawJson';
import { backoffDelay, parseRetryAfter, withRetry } from '../shared/sources/retry';
import { parseSince } from '../shared/cli/commands/extract';

/** The pieces of the extractors on their own: raw record text, retries, settings, paths, requests. */

describe('records as the API wrote them (rawArrayElements)', () => {
  it('takes each element\'s source text, compacted, and leaves numbers and escapes alone', () => {
    const text = `{ "success" : true,\n "data" : [ {"id": 1, "v": 1500.00, "s": "a \\"q\\" \\\\ \\n é \\u00e9", "n": [ 1 , 2 ] },\n {"id":12345678901234567890,"x":null} ],\n "additional_data": {"next_cursor": "abc"} }`;
    const raw = rawArrayElements(text, 'data')!;
    expect(raw).toEqual(['{"id":1,"v":1500.00,"s":"a \\"q\\" \\\\ \\n é \\u00e9","n":[1,2]}', '{"id":12345678901234567890,"x":null}']);
    expect(raw.map((r) => JSON.parse(r))).toEqual((JSON.parse(text) as { data: unknown[] }).data);
    // Whitespace inside strings stays; outside it goes.
    expect(rawArrayElements('{"t":[{"a":"x  y\\t"} , "s p"]}', 't')).toEqual(['{"a":"x  y\\t"}', '"s p"']);
  });

  it('finds the key anywhere at the top level, takes the last of a repeated key (as JSON.parse), and says undefined otherwise', () => {
    expect(rawArrayElements('{"meta":{"data":[9]},"data":[]}', 'data')).toEqual([]);
    expect(rawArrayElements('{"data":[1],"data":[2,3]}', 'data')).toEqual(['2', '3']);
    expect(rawArrayElements('{"data":{"a":1}}', 'data')).toBeUndefined();
    expect(rawArrayElements('{"other":[1]}', 'data')).toBeUndefined();
    expect(rawArrayElements('[1,2]', 'data')).toBeUndefined();
    expect(rawArrayElements('{"data":[1,2', 'data')).toBeUndefined();
    expect(rawArrayElements('{"data":["unterminated]}', 'data')).toBeUndefined();
  });
});

describe('retries', () => {
  it('backoff grows exponentially with jitter, capped', () => {
    const lo = (n: number) => backoffDelay(n, { random: () => 0, baseDelayMs: 1000, maxDelayMs: 60_000 });
    const hi = (n: number) => backoffDelay(n, { random: () => 0.999999, baseDelayMs: 1000, maxDelayMs: 60_000 });
    expect([lo(1), lo(2), lo(3)]).toEqual([500, 1000, 2000]);
    expect(hi(3)).toBeLessThanOrEqual(4000);
    expect(hi(30)).toBeLessThanOrEqual(60_000);
    expect(lo(30)).toBe(30_000);
  });

  it('Retry-After: seconds or an HTTP date', () => {
    const now = Date.UTC(2025, 0, 1, 12, 0, 0);
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('a server-named wait is a floor; failures and 429s have their own budgets', async () => {
    const waits: number[] = [];
    let n = 0;
    const result = await withRetry(
      async () => {
        n++;
        if (n <= 3) throw Object.assign(new Error('429'), { wait: 5000 });
        return 'ok';
      },
      (e) => ({ retry: true, rateLimited: true, waitMs: (e as { wait: number }).wait }),
      { sleep: async (ms) => void waits.push(ms), random: () => 0.5, maxAttempts: 1, maxRateLimited: 5 },
    );
    expect(result).toBe('ok');
    expect(waits).toHaveLength(3);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(5000);
    await expect(withRetry(async () => Promise.reject(new Error('boom')), () => ({ retry: true }), { sleep: async () => undefined, random: () => 0, maxAttempts: 3 })).rejects.toThrow('boom');
  });
});

describe('source settings', () => {
  it('scope: the first label of the host, or the last path segment on localhost / an IP (the stand-in)', () => {
    expect(sourceScope(new URL('https://acme.pipedrive.com'), 'X')).toBe('acme');
    expect(sourceScope(new URL('https://Big-Co.zendesk.com/'), 'X')).toBe('big-co');
    expect(sourceScope(new URL('http://127.0.0.1:4010/pipedrive/acme'), 'X')).toBe('acme');
    expect(sourceScope(new URL('http://localhost:4010'), 'X')).toBe('local');
    expect(sourceScope(new URL('http://[::1]:4010/zendesk/north'), 'X')).toBe('north');
    expect(() => sourceScope(new URL('http://127.0.0.1:4010/a%20b'), 'X')).toThrow(ConfigError);
  });

  it('a source is off without its base URL, and set up in part is a one-line error that never shows the token', () => {
    expect(sourceSettings('pipedrive', {})).toBeUndefined();
    expect(sourceSettings('zendesk', { ZENDESK_BASE_URL: '  ' })).toBeUndefined();
    const token = 'pd-very-secret-token-123';
    expect(sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: 'https://acme.pipedrive.com/', PIPEDRIVE_API_TOKEN: token })).toEqual({
      source: 'pipedrive',
      baseUrl: 'https://acme.pipedrive.com',
      scope: 'acme',
      apiToken: token,
    });
    const errors = [
      () => sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: 'https://acme.pipedrive.com' }),
      () => sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: 'http://acme.pipedrive.com', PIPEDRIVE_API_TOKEN: token }),
      () => sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: `https://acme.pipedrive.com/?api_token=${token}`, PIPEDRIVE_API_TOKEN: token }),
      () => sourceSettings('pipedrive', { PIPEDRIVE_BASE_URL: 'acme.pipedrive.com', PIPEDRIVE_API_TOKEN: token }),
      () => sourceSettings('zendesk', { ZENDESK_BASE_URL: 'https://acme.zendesk.com', ZENDESK_API_TOKEN: token }),
      () => sourceSettings('zendesk', { ZENDESK_BASE_URL: 'https://acme.zendesk.com', ZENDESK_EMAIL: 'not-an-address', ZENDESK_API_TOKEN: token }),
      () => sourceSettings('zendesk', { ZENDESK_BASE_URL: 'https://acme.zendesk.com', ZENDESK_EMAIL: 'a@b.c', ZENDESK_API_TOKEN: token, ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE: '0' }),
    ];
    for (const f of errors) {
      let message = '';
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      expect(message.split('\n')).toHaveLength(1);
      expect(message).not.toContain(token.slice(3));
    }
  });

  it('extraction settings: defaults and checks', () => {
    expect(extractSettings({})).toEqual({ overlapMinutes: 10, partMaxBytes: 64 * 1024 * 1024, maxWaitSeconds: 600 });
    expect(extractSettings({ EXTRACT_OVERLAP_MINUTES: '0', EXTRACT_PART_MAX_BYTES: '4096', EXTRACT_MAX_WAIT_SECONDS: '30' })).toEqual({ overlapMinutes: 0, partMaxBytes: 4096, maxWaitSeconds: 30 });
    expect(() => extractSettings({ EXTRACT_OVERLAP_MINUTES: '-1' })).toThrow(/EXTRACT_OVERLAP_MINUTES/);
    expect(() => extractSettings({ EXTRACT_PART_MAX_BYTES: '100' })).toThrow(/at least 1024/);
  });

  it('--since: dates, date-times, epoch seconds, relative times; nothing in the future', () => {
    const now = Date.UTC(2025, 5, 2, 12, 0, 0);
    expect(parseSince('2025-01-31', now)).toBe(Date.UTC(2025, 0, 31));
    expect(parseSince('2025-01-31T08:30', now)).toBe(Date.UTC(2025, 0, 31, 8, 30));
    expect(parseSince('2025-01-31T08:30:00+02:00', now)).toBe(Date.UTC(2025, 0, 31, 6, 30));
    expect(parseSince('1735689600', now)).toBe(1735689600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('90m', now)).toBe(now - 90 * 60_000);
    expect(() => parseSince('yesterday', now)).toThrow(/not a time/);
    expect(() => parseSince('2030-01-01', now)).toThrow(/future/);
    // Outside the calendar: refused, never rolled over to the next month or day.
    for (const bad of ['2025-02-30', '2025-02-29', '2024-06-31', '2025-01-31T24:00', '2025-01-31T23:60', '2025-01-31T23:59:60Z']) {
      expect(() => parseSince(bad, now), bad).toThrow(/is not a (date of the calendar|time)/);
    }
    expect(parseSince('2024-02-29', now)).toBe(Date.UTC(2024, 1, 29));
    expect(() => parseSince('99999999d', now)).toThrow(/is before 1970/);
  });

  it('--since: epoch seconds are any non-negative integer (0 = from the beginning, 1970); the future and milliseconds are refused in one line', () => {
    const now = Date.UTC(2025, 5, 2, 12, 0, 0);
    expect(parseSince('0', now)).toBe(0);
    expect(new Date(parseSince('0', now)).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(parseSince(' 0 ', now)).toBe(0);
    expect(parseSince('1', now)).toBe(1000);
    expect(parseSince('86400', now)).toBe(86_400_000);
    expect(parseSince('00000042', now)).toBe(42_000);
    expect(parseSince(String(now / 1000), now)).toBe(now);
    expect(() => parseSince(String(now / 1000 + 1), now)).toThrow(/^--since '\d+' is in the future$/);
    expect(() => parseSince('99999999999999999999999', now)).toThrow(/^--since '\d+' is in the future$/);
    // Milliseconds by mistake: in the future as seconds, and the message says what to do.
    expect(() => parseSince(String(now - 60_000), now)).toThrow(/is in the future \(epoch seconds are expected: drop the last three digits of milliseconds\)$/);
    for (const bad of ['-1', '1.5', '1e9', '0x10', '']) expect(() => parseSince(bad, now), bad).toThrow(/is not a time: use .*epoch seconds \(0 = from the beginning\)/);
  });
});

describe('bronze paths and requests', () => {
  it('run ids are the UTC start, and paths follow the seed\'s pattern', () => {
    const t = Date.UTC(2025, 0, 15, 10, 30, 0, 123);
    expect(runIdFor(t)).toBe('20250115T103000123Z');
    expect(runIdTime(runIdFor(t))).toBe(t);
    expect(bronzePartPath({ source: 'zendesk', scope: 'acme', entity: 'tickets', runId: runIdFor(t), part: 7 })).toBe(
      'zendesk/scope=acme/entity=tickets/ingestion_date=2025-01-15/run_id=20250115T103000123Z/part-00007.jsonl.gz',
    );
  });

  it('first requests: Pipedrive v2 ordered by update time with limit 500; Zendesk never asks inside the last minute', () => {
    const now = Date.UTC(2025, 5, 2, 12, 0, 30);
    const deals = entitySpec('pipedrive', 'deals')!.first('https://acme.pipedrive.com', Date.UTC(2025, 5, 1), now);
    expect(deals.pathname).toBe('/api/v2/deals');
    expect(Object.fromEntries(deals.searchParams)).toEqual({ status: 'open,won,lost,deleted', sort_by: 'update_time', sort_direction: 'asc', updated_since: '2025-06-01T00:00:00Z', limit: '500' });
    const users = entitySpec('pipedrive', 'users')!.first('https://acme.pipedrive.com', undefined, now);
    expect(`${users.pathname}${users.search}`).toBe('/api/v1/users?limit=500');
    const tickets = entitySpec('zendesk', 'tickets')!;
    expect(tickets.first('https://acme.zendesk.com', now - 5000, now).searchParams.get('start_time')).toBe(String(Math.floor((now - 61_000) / 1000)));
    expect(tickets.first('https://acme.zendesk.com', undefined, now).searchParams.get('start_time')).toBe('0');
    expect(entitySpec('zendesk', 'groups')!.first('https://acme.zendesk.com', undefined, now).searchParams.get('page[size]')).toBe('100');
    expect(rfc3339(Date.UTC(2025, 0, 1, 10, 20, 0, 999))).toBe('2025-01-01T10:20:00Z');
    expect(ENTITIES.pipedrive.map((e) => e.name)).toEqual(['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities']);
    expect(ENTITIES.zendesk.map((e) => e.name)).toEqual(['groups', 'ticket_fields', 'ticket_forms', 'organizations', 'users', 'tickets']);
  });

  it('Pipedrive v1 lists (users, the fields endpoints) page by offset: start=next_start while more_items_in_collection, limit 500', () => {
    const now = Date.UTC(2025, 5, 2, 12, 0, 30);
    for (const [entity, path] of [
      ['users', '/api/v1/users'],
      ['deal_fields', '/api/v1/dealFields'],
      ['person_fields', '/api/v1/personFields'],
      ['organization_fields', '/api/v1/organizationFields'],
    ] as const) {
      const spec = entitySpec('pipedrive', entity)!;
      expect(spec.mode, entity).toBe('snapshot');
      const first = spec.first('https://acme.pipedrive.com', undefined, now);
      expect(`${first.pathname}${first.search}`, entity).toBe(`${path}?limit=500`);
      const second = spec.next(first, { data: [], additional_data: { pagination: { start: 0, limit: 500, more_items_in_collection: true, next_start: 500 } } })!;
      expect(`${second.pathname}${second.search}`, entity).toBe(`${path}?limit=500&start=500`);
      expect(spec.next(second, { data: [], additional_data: { pagination: { start: 500, limit: 500, more_items_in_collection: false } } }), entity).toBeUndefined();
      expect(spec.next(second, { data: [] }), entity).toBeUndefined();
      expect(() => spec.next(second, { additional_data: { pagination: { more_items_in_collection: true, next_start: 500 } } }), entity).toThrow(new RegExp(`${entity}: v1 pagination did not move on`));
    }
    // The time each compares: users' modified, the fields' update_time ('YYYY-MM-DD HH:MM:SS', UTC).
    expect(entitySpec('pipedrive', 'users')!.timestamp({ modified: '2025-06-01 10:20:30' })).toBe(Date.UTC(2025, 5, 1, 10, 20, 30));
    expect(entitySpec('pipedrive', 'deal_fields')!.timestamp({ update_time: '2025-06-01 10:20:30', modified: '2020-01-01 00:00:00' })).toBe(Date.UTC(2025, 5, 1, 10, 20, 30));
  });

  it('the next page: cursors must move on, else the answer is refused', () => {
    const deals = entitySpec('pipedrive', 'deals')!;
    const first = deals.first('https://acme.pipedrive.com', undefined, 0);
    const next = deals.next(first, { additional_data: { next_cursor: 'c1' } })!;
    expect(next.searchParams.get('cursor')).toBe('c1');
    expect(deals.next(next, { additional_data: { next_cursor: null } })).toBeUndefined();
    expect(() => deals.next(next, { additional_data: { next_cursor: 'c1' } })).toThrow(ExtractError);
    const orgs = entitySpec('zendesk', 'organizations')!;
    const o1 = orgs.first('https://acme.zendesk.com', 100_000, 10_000_000);
    expect(orgs.next(o1, { end_of_stream: false, end_time: 200 })!.searchParams.get('start_time')).toBe('200');
    expect(() => orgs.next(o1, { end_of_stream: false, end_time: 100 })).toThrow(/did not move past/);
    expect(() => entitySpec('zendesk', 'users')!.next(o1, {})).toThrow(/end_of_stream/);
  });

  it('printable URLs never carry a token parameter', () => {
    expect(printableUrl(new URL('https://x.pipedrive.com/api/v1/users?api_token=abc&limit=5'))).toBe('/api/v1/users?api_token=***&limit=5');
  });
});

describe('the HTTP client (fake fetch, fake clock)', () => {
  const settings = { source: 'pipedrive' as const, baseUrl: 'https://acme.pipedrive.com', scope: 'acme', apiToken: 'tok-abc-123' };
  function client(responses: Array<Response | Error>, seen: Array<{ url: string; headers: Record<string, string> }> = []) {
    let t = 0;
    const sleeps: number[] = [];
    const c = new SourceHttpClient(
      settings,
      {
        fetch: (async (url: URL, init: RequestInit) => {
          seen.push({ url: url.toString(), headers: init.headers as Record<string, string> });
          const r = responses.shift()!;
          if (r instanceof Error) throw r;
          return r;
        }) as unknown as typeof fetch,
        now: () => t,
        sleep: async (ms) => {
          sleeps.push(ms);
          t += ms;
        },
        random: () => 0.5,
      },
      { maxWaitMs: 60_000, maxAttempts: 3 },
    );
    return { c, sleeps };
  }
  const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers });

  it('sends the token in the x-api-token header only, and honours Retry-After and an exhausted window', async () => {
    const seen: Array<{ url: string; headers: Record<string, string> }> = [];
    const { c, sleeps } = client(
      [json({ error: 'slow down' }, 429, { 'retry-after': '3' }), json({ data: [] }, 200, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2' }), json({ data: [1] })],
      seen,
    );
    await c.getJson(new URL('https://acme.pipedrive.com/api/v2/deals'));
    await c.getJson(new URL('https://acme.pipedrive.com/api/v2/deals?cursor=x'));
    expect(seen.map((s) => s.headers['x-api-token'])).toEqual(['tok-abc-123', 'tok-abc-123', 'tok-abc-123']);
    expect(seen.every((s) => !s.url.includes('tok-abc'))).toBe(true);
    expect(sleeps[0]).toBeGreaterThanOrEqual(3000);
    expect(sleeps[1]).toBe(2000); // x-ratelimit-remaining 0: wait for the reset before the next request
    expect(c.retries).toBe(1);
  });

  it('401/403: one line naming the setting to fix, never the token; Zendesk names ZENDESK_EMAIL and ZENDESK_API_TOKEN', async () => {
    const refused = async (c: SourceHttpClient, url: string) => (await c.getJson(new URL(url)).catch((x: unknown) => x)) as ExtractError;
    const e401 = await refused(client([json({ success: false }, 401)]).c, 'https://acme.pipedrive.com/api/v1/users?limit=500');
    expect(e401).toMatchObject({ kind: 'auth', status: 401 });
    expect(e401.message).toBe('Pipedrive refused the API token (401 Unauthorized): set PIPEDRIVE_API_TOKEN to a valid token (Personal preferences > API in Pipedrive; in Azure the Key Vault secret pipedrive-api-token)');
    const e403 = await refused(client([json({ success: false }, 403)]).c, 'https://acme.pipedrive.com/api/v2/deals?limit=500');
    expect(e403.message).toBe('Pipedrive refused access (403 Forbidden) at GET /api/v2/deals?limit=500: the user of PIPEDRIVE_API_TOKEN may not read this; use the token of a user who can');
    const zendesk = { source: 'zendesk' as const, baseUrl: 'https://acme.zendesk.com', scope: 'acme', email: 'ops@acme.com', apiToken: 'zd-secret-77', incrementalRequestsPerMinute: 10 };
    const zd = new SourceHttpClient(zendesk, { fetch: (async () => json({ error: 'Couldn\'t authenticate you' }, 401)) as unknown as typeof fetch, now: () => 0, sleep: async () => undefined, random: () => 0.5 }, { maxWaitMs: 60_000 });
    const z401 = await refused(zd, 'https://acme.zendesk.com/api/v2/groups.json');
    expect(z401.kind).toBe('auth');
    expect(z401.message).toBe('Zendesk refused the credentials (401 Unauthorized): check ZENDESK_EMAIL and ZENDESK_API_TOKEN (token access on in Admin Center; in Azure the Key Vault secret zendesk-api-token)');
    for (const e of [e401, e403, z401]) {
      expect(e.message.split('\n')).toHaveLength(1);
      expect(e.message).not.toMatch(/tok-abc-123|zd-secret-77|ops@acme\.com/);
    }
  });

  it('a host that does not resolve (ENOTFOUND) fails at once naming the host and the base URL setting; other network failures name host:port and are retried', async () => {
    const dns = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND acme.pipedrive.con'), { code: 'ENOTFOUND', hostname: 'acme.pipedrive.con' }) });
    const a = client([dns]);
    const e = (await a.c.getJson(new URL('https://acme.pipedrive.con/api/v1/users')).catch((x: unknown) => x)) as ExtractError;
    expect(e).toBeInstanceOf(ExtractError);
    expect(e.kind).toBe('transient');
    expect(e.message).toBe("Pipedrive host 'acme.pipedrive.con' was not found (ENOTFOUND, DNS): check PIPEDRIVE_BASE_URL (https://<company>.pipedrive.com)");
    expect(a.sleeps).toEqual([]);
    expect(a.c.retries).toBe(0);
    const refused = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4010'), { code: 'ECONNREFUSED' }) });
    const b = client([refused(), refused(), refused()]);
    const t = (await b.c.getJson(new URL('http://127.0.0.1:4010/pipedrive/acme/api/v1/users')).catch((x: unknown) => x)) as ExtractError;
    expect(t.kind).toBe('transient');
    expect(b.sleeps).toHaveLength(2);
    expect(t.message).toBe('Pipedrive failed at GET /pipedrive/acme/api/v1/users after 2 retries: network: ECONNREFUSED (127.0.0.1:4010)');
  });

  it('401 is final and says what to fix; 5xx and network errors are retried, then transient; a body that is not JSON is bad_response', async () => {
    const a = client([json({ success: false }, 401)]);
    const e = (await a.c.getJson(new URL('https://acme.pipedrive.com/api/v1/users')).catch((x: unknown) => x)) as ExtractError;
    expect(e).toBeInstanceOf(ExtractError);
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(/401.*PIPEDRIVE_API_TOKEN/);
    expect(e.message).not.toContain('tok-abc-123');
    const b = client([json({}, 503), new TypeError('fetch failed'), json({}, 502)]);
    const t = (await b.c.getJson(new URL('https://acme.pipedrive.com/api/v2/deals')).catch((x: unknown) => x)) as ExtractError;
    expect(t.kind).toBe('transient');
    expect(b.sleeps).toHaveLength(2);
    const c = client([new Response('<html>', { status: 200 }), new Response('<html>', { status: 200 }), new Response('<html>', { status: 200 })]);
    expect(((await c.c.getJson(new URL('https://acme.pipedrive.com/api/v2/deals')).catch((x: unknown) => x)) as ExtractError).kind).toBe('bad_response');
    const d = client([json({ error: 'bad' }, 400)]);
    expect(((await d.c.getJson(new URL('https://acme.pipedrive.com/api/v2/deals')).catch((x: unknown) => x)) as ExtractError).message).toMatch(/answered 400/);
  });
});

describe('bronze parts', () => {
  it('a record over 1 MiB is a part of its own; the records around it share parts under the cap', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parts-'));
    try {
      const lake = new FsLake(path.join(dir, 'lake'));
      await lake.ensureZones();
      const written: { path: string; records: number }[] = [];
      const writer = new BronzePartWriter(lake, path.join(dir, 'work'), { source: 'pipedrive', scope: 'acme', entity: 'deals', runId: '20250602T120000000Z' }, 8 * 1024 * 1024, async (p) => {
        written.push({ path: p.path, records: p.records });
      });
      const small = (id: number) => JSON.stringify({ id, title: 'small' });
      const big = JSON.stringify({ id: 3, title: 'x'.repeat(LARGE_RECORD_BYTES) });
      for (const r of [small(1), small(2), big, small(4), small(5)]) await writer.add(r, undefined);
      await writer.flush();
      expect(written.map((w) => w.records)).toEqual([2, 1, 2]);
      // Read back independently: every record once, in order, the large one alone.
      const lines: string[][] = [];
      for (const w of written) lines.push(gunzipSync(await readSmall(await lake.read('bronze', w.path), 64 * 1024 * 1024)).toString('utf8').split('\n').filter(Boolean));
      expect(lines.map((l) => l.map((x) => (JSON.parse(x) as { id: number }).id))).toEqual([[1, 2], [3], [4, 5]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
