import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SourceName } from '../../config';
import { rawNumber, seededRandom, type Json, StandInStore, type StoredRecord, type StoreOptions, STAND_IN_ENTITIES } from './store';

/**
 * The stand-in API: a small node:http server that answers like Pipedrive and Zendesk for the
 * endpoints the extractors read (shared/sources/entities.ts), over generated data
 * (store.ts), so that tests, the demo and `medallion dev --stand-in` run extractions without an
 * account. What it reproduces:
 *   - authentication: Pipedrive's x-api-token header (or api_token parameter), Zendesk's basic
 *     auth over {email}/token:{token}; anything else is a 401
 *   - Pipedrive v2 cursor paging (limit ≤ 500, else 400; additional_data.next_cursor; sort_by,
 *     updated_since/updated_until; deals without status=deleted leave deleted deals out), v1 users
 *   - Zendesk cursor-based incremental exports (start_time or cursor, after_cursor, end_of_stream,
 *     per_page ≤ 1000), the time-based organizations export (end_time, next_page; items that share
 *     the last second come again on the next page), cursor pagination (page[size] ≤ 100,
 *     page[after], meta.has_more); incremental exports leave out the last minute
 *     (zendeskRecentSeconds) and refuse a start_time inside it (422)
 *   - rate limits with 429 + Retry-After (Pipedrive per 2-second window with its x-ratelimit-*
 *     headers, Zendesk per minute and 10 per minute on incremental exports), injected faults
 *     (429/5xx/connection resets/cut-off bodies) and 429 storms; a request that comes back before
 *     the Retry-After it was given is counted as an early retry
 *   - paging is keyset paging over the data as it is at each request, so a record changed while
 *     a run pages through the entity moves (as with the real APIs) and deletions show up
 * Every request is recorded (path, parameters, auth headers, answer) for wire-level tests;
 * `onRequest` runs before each answer is computed (tests change the data there, or kill a
 * client after N requests). Control endpoints under /_standin/ (state, mutate, requests); a
 * request they cannot carry out is a 400 with a one-line JSON error.
 *
 * The data lives in the process: a new stand-in generates the seed's records again (update times
 * relative to its start), whatever was changed in the one before (docs/sources.md).
 */

export interface Limits {
  /** Pipedrive requests per 2-second window (0: no limit). */
  pipedrivePer2s: number;
  /** Zendesk requests per minute outside the incremental exports (0: no limit). */
  zendeskPerMinute: number;
  /** Zendesk incremental export requests per minute (0: no limit). */
  zendeskIncrementalPerMinute: number;
}

export interface RecordedRequest {
  seq: number;
  /** The stand-in's clock when the request arrived. */
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  source?: SourceName;
  entity?: string;
  bucket?: string;
  headers: { xApiToken?: string; authorization?: string; userAgent?: string };
  status?: number;
  retryAfter?: number;
  /** Came back before the Retry-After this client was given. */
  early?: boolean;
  records?: number;
}

export interface Fault {
  status?: number;
  retryAfterSeconds?: number;
  /** Drop the connection without an answer. */
  reset?: boolean;
  /** Send half the body, then drop the connection. */
  truncate?: boolean;
  /** How many requests it hits (default 1). */
  times?: number;
  match?: (r: RecordedRequest) => boolean;
}

export interface Storm {
  /** Share of requests answered 429 (0..1). */
  rate: number;
  retryAfterSeconds: number;
  /** At most this many 429s (default: no end). */
  count?: number;
  source?: SourceName;
}

export interface StandInOptions extends StoreOptions {
  host?: string;
  /** 0 (default): a free port. */
  port?: number;
  pipedriveCompany?: string;
  zendeskSubdomain?: string;
  pipedriveToken?: string;
  zendeskEmail?: string;
  zendeskToken?: string;
  limits?: Partial<Limits>;
  /** Zendesk's incremental exports leave out changes younger than this (default 60 s). */
  zendeskRecentSeconds?: number;
  /** Indented JSON answers (records spread over lines). */
  pretty?: boolean;
  onRequest?: (r: RecordedRequest) => void | Promise<void>;
}

export interface StandIn {
  url: string;
  store: StandInStore;
  pipedriveBaseUrl: string;
  zendeskBaseUrl: string;
  /** Settings that point the extractors here. */
  env(): Record<string, string>;
  requests(): RecordedRequest[];
  clearRequests(): void;
  stats(): { requests: number; rateLimited: number; earlyRetries: number; faults: number };
  fail(fault: Fault): void;
  storm(storm: Storm | undefined): void;
  configure(patch: { limits?: Partial<Limits>; pretty?: boolean; zendeskRecentSeconds?: number; onRequest?: StandInOptions['onRequest'] }): void;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  records?: number;
  /** One line even when the stand-in indents its answers (`pretty`): the control endpoints' errors. */
  compact?: boolean;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

const encode = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function decode<T>(s: string, what: string, bad: (m: string) => HttpFailure): T {
  try {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as T;
  } catch {
    throw bad(`invalid ${what}`);
  }
}

type SortKey = 'ts' | 'id' | 'add';

/** The Pipedrive API v1 lists the stand-in serves, by path segment. */
const V1_ENTITIES: Record<string, string> = { users: 'users', dealFields: 'deal_fields', personFields: 'person_fields', organizationFields: 'organization_fields' };

export async function startStandIn(options: StandInOptions = {}): Promise<StandIn> {
  const store = new StandInStore(options);
  const now = store.now;
  const company = options.pipedriveCompany ?? 'acme';
  const subdomain = options.zendeskSubdomain ?? 'acme';
  const pipedriveToken = options.pipedriveToken ?? 'standin-pipedrive-token';
  const zendeskEmail = options.zendeskEmail ?? 'standin@example.com';
  const zendeskToken = options.zendeskToken ?? 'standin-zendesk-token';
  let limits: Limits = { pipedrivePer2s: 80, zendeskPerMinute: 700, zendeskIncrementalPerMinute: 10, ...options.limits };
  let recentMs = (options.zendeskRecentSeconds ?? 60) * 1000;
  let pretty = options.pretty ?? false;
  let onRequest = options.onRequest;
  const recorded: RecordedRequest[] = [];
  const faults: Fault[] = [];
  let storm: Storm | undefined;
  const stormRandom = seededRandom((options.seed ?? 4) + 1);
  const windows = new Map<string, { start: number; count: number }>();
  const notBefore = new Map<string, number>();
  const stats = { requests: 0, rateLimited: 0, earlyRetries: 0, faults: 0 };
  let seq = 0;
  let base = '';

  // Sorted views of each table, rebuilt when the table changes.
  const views = new Map<string, { version: number; rows: StoredRecord[] }>();
  function ordered(source: SourceName, entity: string, by: SortKey): StoredRecord[] {
    const k = `${source}/${entity}/${by}`;
    const version = store.version(source, entity);
    const cached = views.get(k);
    if (cached && cached.version === version) return cached.rows;
    const val = (r: StoredRecord) => (by === 'ts' ? r.ts : by === 'add' ? r.addTs : r.id);
    const rows = store.records(source, entity).sort((a, b) => val(a) - val(b) || a.id - b.id);
    views.set(k, { version, rows });
    return rows;
  }
  const keyOf = (r: StoredRecord, by: SortKey) => (by === 'ts' ? r.ts : by === 'add' ? r.addTs : r.id);
  /** First index whose (key, id) is after `pos` (ascending order). */
  function after(rows: StoredRecord[], by: SortKey, pos: { k: number; id: number }): number {
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const r = rows[mid]!;
      const k = keyOf(r, by);
      if (k < pos.k || (k === pos.k && r.id <= pos.id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---- Pipedrive

  const pdBad = (m: string) => new HttpFailure(400, { success: false, error: `Validation failed: ${m}`, code: 'ERR_SCHEMA_VALIDATION_FAILED' });
  const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
  function rfcParam(q: Record<string, string>, name: string): number | undefined {
    const v = q[name];
    if (v === undefined) return undefined;
    if (!RFC3339.test(v)) throw pdBad(`${name} must be an RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z`);
    return Date.parse(v);
  }

  function pipedriveV2(entity: string, q: Record<string, string>): Answer {
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw pdBad('limit must be an integer between 1 and 500');
    const sortBy = q.sort_by ?? 'id';
    if (!['id', 'update_time', 'add_time'].includes(sortBy)) throw pdBad('sort_by must be one of id, update_time, add_time');
    const dir = q.sort_direction ?? 'asc';
    if (dir !== 'asc' && dir !== 'desc') throw pdBad('sort_direction must be asc or desc');
    const since = rfcParam(q, 'updated_since');
    const until = rfcParam(q, 'updated_until');
    const statuses = entity === 'deals' ? (q.status ?? 'open,won,lost').split(',').map((s) => s.trim()) : undefined;
    if (statuses?.some((s) => !['open', 'won', 'lost', 'deleted'].includes(s))) throw pdBad('status must be a list of open, won, lost, deleted');
    const by: SortKey = sortBy === 'update_time' ? 'ts' : sortBy === 'add_time' ? 'add' : 'id';
    let rows = ordered('pipedrive', entity, by);
    if (dir === 'desc') rows = [...rows].reverse();
    const matches = (r: StoredRecord) =>
      (since === undefined || r.ts >= since) && (until === undefined || r.ts < until) && (!statuses || statuses.includes(String(r.data.status)));
    let i = 0;
    if (q.cursor !== undefined) {
      const pos = decode<{ k: number; id: number }>(q.cursor, 'cursor', pdBad);
      if (dir === 'asc') i = after(rows, by, pos);
      else i = rows.findIndex((r) => keyOf(r, by) < pos.k || (keyOf(r, by) === pos.k && r.id < pos.id)) >>> 0;
    } else if (by === 'ts' && since !== undefined && dir === 'asc') i = after(rows, by, { k: since, id: -1 });
    const page: StoredRecord[] = [];
    for (; i < rows.length && page.length < limit; i++) if (matches(rows[i]!)) page.push(rows[i]!);
    let more = false;
    for (; i < rows.length; i++) if (matches(rows[i]!)) {
      more = true;
      break;
    }
    const last = page.at(-1);
    return {
      status: 200,
      records: page.length,
      body: { success: true, data: page.map((r) => r.data), additional_data: { next_cursor: more && last ? encode({ k: keyOf(last, by), id: last.id }) : null } },
    };
  }

  /**
   * Pipedrive API v1 lists (users, dealFields, personFields, organizationFields): offset pagination,
   * ?start (default 0) & limit (default 100, at most 500, else 400), in id order over the data as it
   * is at the request; additional_data.pagination says whether there is more and where it starts.
   */
  function pipedriveV1(entity: string, q: Record<string, string>): Answer {
    const rows = ordered('pipedrive', entity, 'id');
    const start = q.start === undefined ? 0 : Number(q.start);
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(start) || start < 0) throw pdBad('start must be an integer of at least 0');
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw pdBad('limit must be an integer between 1 and 500');
    const page = rows.slice(start, start + limit);
    const more = start + page.length < rows.length;
    return {
      status: 200,
      records: page.length,
      body: { success: true, data: page.map((r) => r.data), additional_data: { pagination: { start, limit, more_items_in_collection: more, ...(more ? { next_start: start + page.length } : {}) } } },
    };
  }

  // ---- Zendesk

  const zdBad = (m: string) => new HttpFailure(400, { error: 'InvalidPaginationParameter', description: m });
  function startTime(q: Record<string, string>): number {
    const v = q.start_time;
    if (v === undefined || !/^\d+$/.test(v)) throw zdBad('start_time is required (a Unix epoch time in seconds)');
    const s = Number(v);
    if (s * 1000 > now() - recentMs) throw new HttpFailure(422, { error: 'InvalidValue', description: 'Too recent start_time. Use a start_time older than one minute.' });
    return s;
  }
  function perPage(q: Record<string, string>): number {
    const n = q.per_page === undefined ? 1000 : Number(q.per_page);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw zdBad('per_page must be between 1 and 1000');
    return n;
  }

  function zendeskCursorExport(entity: 'tickets' | 'users', q: Record<string, string>): Answer {
    const per = perPage(q);
    const bound = now() - recentMs;
    const rows = ordered('zendesk', entity, 'ts');
    const pos = q.cursor !== undefined ? decode<{ k: number; id: number }>(q.cursor, 'cursor', zdBad) : { k: startTime(q) * 1000, id: -1 };
    const skip = (r: StoredRecord) => entity === 'tickets' && q.exclude_deleted === 'true' && r.deleted;
    let i = after(rows, 'ts', pos);
    const page: StoredRecord[] = [];
    for (; i < rows.length && page.length < per && rows[i]!.ts <= bound; i++) if (!skip(rows[i]!)) page.push(rows[i]!);
    let more = false;
    for (; i < rows.length && rows[i]!.ts <= bound; i++) if (!skip(rows[i]!)) {
      more = true;
      break;
    }
    const last = page.at(-1);
    const cursor = encode(last ? { k: last.ts, id: last.id } : pos);
    return {
      status: 200,
      records: page.length,
      body: {
        [entity]: page.map((r) => r.data),
        after_url: `${base}/zendesk/${subdomain}/api/v2/incremental/${entity}/cursor.json?cursor=${cursor}`,
        after_cursor: cursor,
        before_url: null,
        before_cursor: null,
        end_of_stream: !more,
        end_time: Math.floor((last ? last.ts : Math.max(pos.k, 0)) / 1000),
      },
    };
  }

  function zendeskOrganizations(q: Record<string, string>): Answer {
    const per = perPage(q);
    const start = startTime(q) * 1000;
    const bound = now() - recentMs;
    const rows = ordered('zendesk', 'organizations', 'ts');
    let i = after(rows, 'ts', { k: start, id: -1 });
    const page: StoredRecord[] = [];
    for (; i < rows.length && page.length < per && rows[i]!.ts <= bound; i++) page.push(rows[i]!);
    // Items sharing the last second stay on this page; a page of nothing but start_time's second
    // also takes the next second, so the export always moves on.
    const extend = () => {
      const lastTs = page.at(-1)?.ts;
      while (i < rows.length && rows[i]!.ts === lastTs && rows[i]!.ts <= bound) page.push(rows[i++]!);
    };
    extend();
    if (page.length && page.at(-1)!.ts === start && i < rows.length && rows[i]!.ts <= bound) {
      page.push(rows[i++]!);
      extend();
    }
    const more = i < rows.length && rows[i]!.ts <= bound;
    const endTime = Math.floor((page.at(-1)?.ts ?? start) / 1000);
    return {
      status: 200,
      records: page.length,
      body: {
        organizations: page.map((r) => r.data),
        count: page.length,
        end_time: endTime,
        next_page: `${base}/zendesk/${subdomain}/api/v2/incremental/organizations.json?start_time=${endTime}`,
        end_of_stream: !more,
      },
    };
  }

  function zendeskList(entity: string, q: Record<string, string>): Answer {
    const rows = ordered('zendesk', entity, 'id');
    if (q['page[size]'] === undefined) {
      // Offset pagination (what an endpoint does without page[size]).
      const page = rows.slice(0, 100);
      return { status: 200, records: page.length, body: { [entity]: page.map((r) => r.data), next_page: null, previous_page: null, count: rows.length } };
    }
    const size = Number(q['page[size]']);
    if (!Number.isInteger(size) || size < 1 || size > 100) throw zdBad('page[size] must be between 1 and 100');
    let i = 0;
    if (q['page[after]'] !== undefined) i = after(rows, 'id', { k: decode<number>(q['page[after]'], 'page[after]', zdBad), id: Number.MAX_SAFE_INTEGER });
    const page = rows.slice(i, i + size);
    const hasMore = i + page.length < rows.length;
    const afterCursor = page.length ? encode(page.at(-1)!.id) : null;
    const link = (k: string, v: string | null) => (v ? `${base}/zendesk/${subdomain}/api/v2/${entity}.json?page[size]=${size}&page[${k}]=${v}` : null);
    const beforeCursor = page.length ? encode(page[0]!.id) : null;
    return {
      status: 200,
      records: page.length,
      body: { [entity]: page.map((r) => r.data), meta: { has_more: hasMore, after_cursor: afterCursor, before_cursor: beforeCursor }, links: { next: hasMore ? link('after', afterCursor) : null, prev: link('before', beforeCursor) } },
    };
  }

  // ---- Routing, auth, limits

  interface Route {
    source: SourceName;
    entity: string;
    bucket: string;
    answer: (q: Record<string, string>) => Answer;
  }
  function route(path: string): Route | undefined {
    let m = new RegExp(`^/pipedrive/${company}/api/v2/(deals|persons|organizations|activities|pipelines|stages)$`).exec(path);
    if (m) return { source: 'pipedrive', entity: m[1]!, bucket: 'pipedrive', answer: (q) => pipedriveV2(m![1]!, q) };
    m = new RegExp(`^/pipedrive/${company}/api/v1/(users|dealFields|personFields|organizationFields)$`).exec(path);
    if (m) {
      const entity = V1_ENTITIES[m[1]!]!;
      return { source: 'pipedrive', entity, bucket: 'pipedrive', answer: (q) => pipedriveV1(entity, q) };
    }
    m = new RegExp(`^/zendesk/${subdomain}/api/v2/incremental/(tickets|users)/cursor\\.json$`).exec(path);
    if (m) return { source: 'zendesk', entity: m[1]!, bucket: 'zendesk-incremental', answer: (q) => zendeskCursorExport(m![1] as 'tickets' | 'users', q) };
    if (path === `/zendesk/${subdomain}/api/v2/incremental/organizations.json`) return { source: 'zendesk', entity: 'organizations', bucket: 'zendesk-incremental', answer: zendeskOrganizations };
    m = new RegExp(`^/zendesk/${subdomain}/api/v2/(groups|ticket_fields|ticket_forms)\\.json$`).exec(path);
    if (m) return { source: 'zendesk', entity: m[1]!, bucket: 'zendesk', answer: (q) => zendeskList(m![1]!, q) };
    return undefined;
  }

  function authorised(r: Route, req: IncomingMessage, q: Record<string, string>): boolean {
    if (r.source === 'pipedrive') return req.headers['x-api-token'] === pipedriveToken || q.api_token === pipedriveToken;
    const expected = `Basic ${Buffer.from(`${zendeskEmail}/token:${zendeskToken}`).toString('base64')}`;
    return req.headers.authorization === expected;
  }

  function unauthorised(source: SourceName): Answer {
    return source === 'pipedrive'
      ? { status: 401, body: { success: false, error: 'unauthorized access', errorCode: 401, error_info: 'Please check developers.pipedrive.com for more information about Pipedrive API.' } }
      : { status: 401, body: { error: "Couldn't authenticate you" } };
  }

  function tooMany(source: SourceName, bucket: string, seconds: number): Answer {
    notBefore.set(bucket, Math.max(notBefore.get(bucket) ?? 0, now() + seconds * 1000));
    stats.rateLimited++;
    return {
      status: 429,
      headers: { 'retry-after': String(seconds) },
      body: source === 'pipedrive' ? { success: false, error: 'Request over limit', errorCode: 429 } : { error: 'APIRateLimitExceeded', description: 'Number of allowed API requests per minute exceeded' },
    };
  }

  function windowOf(bucket: string): { limit: number; ms: number } {
    if (bucket === 'pipedrive') return { limit: limits.pipedrivePer2s, ms: 2000 };
    if (bucket === 'zendesk-incremental') return { limit: limits.zendeskIncrementalPerMinute, ms: 60_000 };
    return { limit: limits.zendeskPerMinute, ms: 60_000 };
  }

  /** Counts the request in its fixed window; a 429 answer when the window is full. */
  function limit(r: Route): { answer?: Answer; headers: Record<string, string> } {
    const { limit: max, ms } = windowOf(r.bucket);
    if (!max) return { headers: {} };
    const t = now();
    const start = Math.floor(t / ms) * ms;
    let w = windows.get(r.bucket);
    if (!w || w.start !== start) windows.set(r.bucket, (w = { start, count: 0 }));
    const resetS = Math.max(1, Math.ceil((start + ms - t) / 1000));
    if (w.count >= max) return { answer: tooMany(r.source, r.bucket, resetS), headers: {} };
    w.count++;
    const remaining = String(max - w.count);
    return {
      headers:
        r.source === 'pipedrive'
          ? { 'x-ratelimit-limit': String(max), 'x-ratelimit-remaining': remaining, 'x-ratelimit-reset': String(resetS) }
          : { 'x-rate-limit': String(max), 'x-rate-limit-remaining': remaining },
    };
  }

  function send(res: ServerResponse, a: Answer, rec?: RecordedRequest): void {
    if (rec) {
      rec.status = a.status;
      if (a.records !== undefined) rec.records = a.records;
      const ra = a.headers?.['retry-after'];
      if (ra !== undefined) rec.retryAfter = Number(ra);
    }
    const text = typeof a.body === 'string' ? a.body : JSON.stringify(a.body, null, pretty && !a.compact ? 2 : undefined);
    res.writeHead(a.status, { 'content-type': typeof a.body === 'string' ? 'text/html' : 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...a.headers });
    res.end(text);
  }

  /** A client mistake on a control endpoint: 400 with a one-line JSON error. */
  const controlBad = (message: string): Answer => ({ status: 400, body: { error: message }, compact: true });
  const SOURCES = Object.keys(STAND_IN_ENTITIES) as SourceName[];

  /** The source and entity a control request names, or the 400 that says what is wrong. */
  function entityOf(source: unknown, entity: unknown): { source: SourceName; entity: string } | Answer {
    if (typeof source !== 'string' || !SOURCES.includes(source as SourceName)) return controlBad(`source must be ${SOURCES.map((x) => `'${x}'`).join(' or ')}`);
    const entities = STAND_IN_ENTITIES[source as SourceName];
    if (typeof entity !== 'string' || !entities.includes(entity)) return controlBad(`${typeof entity === 'string' ? `the stand-in has no ${source} entity '${entity}'` : 'entity must be a string'}: one of ${entities.join(', ')}`);
    return { source: source as SourceName, entity };
  }

  /**
   * POST /_standin/mutate {op, source, entity, id?, patch?}. Mistakes of the request (not JSON,
   * an unknown op, source, entity or id, a value of the wrong type, nothing left to change) are a
   * 400 with {"error": "<one line>"}; the answer of a change is the record as it is now.
   */
  async function mutate(req: IncomingMessage): Promise<Answer> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let m: unknown;
    try {
      m = JSON.parse(text.trim() === '' ? '{}' : text);
    } catch (e) {
      return controlBad(`the body is not JSON (${e instanceof Error ? e.message : String(e)}): send {"op":"update","source":"pipedrive","entity":"deals"}`);
    }
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return controlBad('the body must be a JSON object: {"op":"update","source":"pipedrive","entity":"deals"}');
    const { op, source, entity, id } = m as Record<string, unknown>;
    // The patch keeps each number's text (1500.00, 9007199254740993, 1e400 stay as written).
    const exactNumbers = (_k: string, v: unknown, context?: { source?: string }) => (typeof v === 'number' && context?.source !== undefined ? rawNumber(context.source) : v);
    const exact = JSON.parse(text.trim() === '' ? '{}' : text, exactNumbers as (k: string, v: unknown) => unknown) as Record<string, unknown>;
    const patch = exact.patch;
    if (op !== 'insert' && op !== 'update' && op !== 'delete') return controlBad("op must be 'insert', 'update' or 'delete'");
    const target = entityOf(source, entity);
    if ('status' in target) return target;
    // The id as written: digits only (1e2 and 5.0 are not ids), and one the stand-in can hold (below 2^53).
    const idText = exact.id === undefined ? undefined : JSON.stringify(exact.id);
    if (id !== undefined && (typeof id !== 'number' || !/^-?[0-9]+$/.test(idText ?? ''))) return controlBad('id must be an integer written with digits only (the record\'s id)');
    if (id !== undefined && !Number.isSafeInteger(id)) return controlBad(`id ${idText} is beyond 2^53: the stand-in's ids are below 9007199254740992`);
    if (op === 'insert' && id !== undefined) return controlBad('insert takes no id (the stand-in gives the new record the next one)');
    if (op === 'delete' && patch !== undefined) return controlBad('delete takes no patch');
    if (patch !== undefined && (patch === null || typeof patch !== 'object' || Array.isArray(patch))) return controlBad('patch must be a JSON object of the fields to set');
    const fixed = patch ? Object.keys(patch).filter((k) => ['id', 'update_time', 'updated_at', 'modified', 'generated_timestamp', '__proto__'].includes(k)) : [];
    if (fixed.length) return controlBad(`patch cannot set ${fixed.join(', ')}: the stand-in gives ids and stamps every change with its clock`);
    const options = (patch as Json | undefined)?.options;
    if (options !== undefined && (!Array.isArray(options) || options.some((o) => o === null || typeof o !== 'object' || Array.isArray(o)))) return controlBad('patch.options must be an array of objects ({"label": "Gold"})');
    if (id !== undefined && !store.get(target.source, target.entity, id as number)) return controlBad(`no ${target.source} ${target.entity} with id ${id}`);
    try {
      const record = op === 'insert' ? store.insert(target.source, target.entity, patch as Json | undefined) : op === 'update' ? store.update(target.source, target.entity, id as number | undefined, patch as Json | undefined) : store.remove(target.source, target.entity, id as number | undefined);
      return { status: 200, body: record };
    } catch (e) {
      // The store's own refusals (nothing live left to change) are the request's mistake too.
      if (e instanceof RangeError) return controlBad(e.message);
      throw e;
    }
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const what = url.pathname.slice('/_standin/'.length);
    if (what === 'state' && req.method === 'GET') {
      const target = entityOf(url.searchParams.get('source') ?? undefined, url.searchParams.get('entity') ?? undefined);
      if ('status' in target) return send(res, target);
      // The records as the API serves them: numbers exact (ids beyond 2^53, 1500.00).
      return send(res, { status: 200, body: store.records(target.source, target.entity).map((r) => r.data) });
    }
    if (what === 'requests' && req.method === 'GET') return send(res, { status: 200, body: recorded });
    if (what === 'mutate' && req.method === 'POST') return send(res, await mutate(req));
    if (what === '' && req.method === 'GET') return send(res, { status: 200, body: { pipedriveBaseUrl: `${base}/pipedrive/${company}`, zendeskBaseUrl: `${base}/zendesk/${subdomain}`, entities: STAND_IN_ENTITIES } });
    return send(res, { status: 404, body: { error: 'no such control endpoint: GET /_standin/state?source=&entity=, POST /_standin/mutate, GET /_standin/requests' }, compact: true });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname.startsWith('/_standin/')) return control(req, res, url);
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const r = route(url.pathname);
    const rec: RecordedRequest = {
      seq: ++seq,
      at: now(),
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      source: r?.source,
      entity: r?.entity,
      bucket: r?.bucket,
      headers: {
        xApiToken: req.headers['x-api-token'] as string | undefined,
        authorization: req.headers.authorization,
        userAgent: req.headers['user-agent'],
      },
    };
    recorded.push(rec);
    stats.requests++;
    await onRequest?.(rec);
    if (!r || req.method !== 'GET') return send(res, { status: 404, body: { error: 'Not found' } }, rec);
    if (!authorised(r, req, query)) return send(res, unauthorised(r.source), rec);
    const wait = (notBefore.get(r.bucket) ?? 0) - now();
    if (wait > 0) {
      rec.early = true;
      stats.earlyRetries++;
      return send(res, tooMany(r.source, r.bucket, Math.max(1, Math.ceil(wait / 1000))), rec);
    }
    const fi = faults.findIndex((f) => !f.match || f.match(rec));
    if (fi >= 0) {
      const f = faults[fi]!;
      f.times = (f.times ?? 1) - 1;
      if (f.times <= 0) faults.splice(fi, 1);
      stats.faults++;
      if (f.reset) {
        rec.status = 0;
        req.socket.destroy();
        return;
      }
      if (f.truncate) {
        const a = r.answer(query);
        const text = JSON.stringify(a.body);
        rec.status = -a.status;
        res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
      const status = f.status ?? 500;
      if (status === 429) return send(res, tooMany(r.source, r.bucket, f.retryAfterSeconds ?? 1), rec);
      return send(res, { status, body: status === 502 ? '<html><body>502 Bad Gateway</body></html>' : { error: 'Internal Server Error' }, headers: f.retryAfterSeconds ? { 'retry-after': String(f.retryAfterSeconds) } : undefined }, rec);
    }
    if (storm && (!storm.source || storm.source === r.source) && (storm.count === undefined || storm.count > 0) && stormRandom() < storm.rate) {
      if (storm.count !== undefined) storm.count--;
      return send(res, tooMany(r.source, r.bucket, storm.retryAfterSeconds), rec);
    }
    const limited = limit(r);
    if (limited.answer) return send(res, limited.answer, rec);
    try {
      const a = r.answer(query);
      return send(res, { ...a, headers: { ...limited.headers, ...a.headers } }, rec);
    } catch (e) {
      if (e instanceof HttpFailure) return send(res, { status: e.status, body: e.body, headers: limited.headers }, rec);
      throw e;
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: { error: e instanceof Error ? e.message : String(e) } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  base = `http://${host}:${addr.port}`;

  const standIn: StandIn = {
    url: base,
    store,
    pipedriveBaseUrl: `${base}/pipedrive/${company}`,
    zendeskBaseUrl: `${base}/zendesk/${subdomain}`,
    env: () => ({
      PIPEDRIVE_BASE_URL: `${base}/pipedrive/${company}`,
      PIPEDRIVE_API_TOKEN: pipedriveToken,
      ZENDESK_BASE_URL: `${base}/zendesk/${subdomain}`,
      ZENDESK_EMAIL: zendeskEmail,
      ZENDESK_API_TOKEN: zendeskToken,
      ...(limits.zendeskIncrementalPerMinute ? { ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE: String(limits.zendeskIncrementalPerMinute) } : {}),
    }),
    requests: () => recorded,
    clearRequests: () => {
      recorded.length = 0;
    },
    stats: () => ({ ...stats }),
    fail: (f) => faults.push({ ...f }),
    storm: (s) => {
      storm = s ? { ...s } : undefined;
    },
    configure: (patch) => {
      if (patch.limits) limits = { ...limits, ...patch.limits };
      if (patch.pretty !== undefined) pretty = patch.pretty;
      if (patch.zendeskRecentSeconds !== undefined) recentMs = patch.zendeskRecentSeconds * 1000;
      if ('onRequest' in patch) onRequest = patch.onRequest;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return standIn;
}
