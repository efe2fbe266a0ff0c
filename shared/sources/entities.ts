import type { SourceName } from '../config';
import { ExtractError } from './errors';
import type { RequestClass } from './http';

/**
 * What the extractors read from each source, one declaration per entity: the endpoint, how it
 * pages, where its records are, and the time an incremental window compares.
 *
 * Pipedrive (API v2 where it exists, https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide):
 *   deals, persons, organizations, activities — incremental: GET /api/v2/<entity>?updated_since=
 *     <RFC 3339>&sort_by=update_time&sort_direction=asc&limit=500, then &cursor=<additional_data.
 *     next_cursor> until it is null. limit is at most 500 and next_cursor sits in additional_data
 *     (https://pipedrive.readme.io/docs/core-api-concepts-pagination); updated_since keeps records
 *     whose update_time is later than or equal to it (https://developers.pipedrive.com/docs/api/v1/Deals).
 *     Deals ask for status=open,won,lost,deleted: without it deleted deals are left out, with
 *     `deleted` those deleted in the last 30 days are included (same page).
 *   pipelines, stages — snapshot (every run reads all of them: a handful of rows): /api/v2/<entity>,
 *     same cursor paging, no time filter.
 *   users — snapshot through API v1 (GET /api/v1/users; v2 has no users list).
 *   deal_fields, person_fields, organization_fields — snapshot through API v1 (GET /api/v1/dealFields,
 *     /personFields, /organizationFields: https://developers.pipedrive.com/docs/api/v1/DealFields,
 *     https://developers.pipedrive.com/docs/api/v1/PersonFields,
 *     https://developers.pipedrive.com/docs/api/v1/OrganizationFields): the schema of the records,
 *     one field per record — numeric id, key (a 40-hex-character key for custom fields, the
 *     record's own key such as title for standard ones), name, field_type (varchar, double,
 *     monetary, enum, set, date, …), options [{ id, label }] of enum and set fields, add_time and
 *     update_time ('YYYY-MM-DD HH:MM:SS', UTC), edit_flag (true for custom fields), active_flag.
 *     The keys of a deal's, person's or organization's custom_fields are these keys, so the fields
 *     name them; they run before the records.
 *   Every v1 list pages by offset: ?start=<n>&limit=<at most 500>, then start=<additional_data.
 *     pagination.next_start> while more_items_in_collection is true
 *     (https://pipedrive.readme.io/docs/core-api-concepts-pagination).
 * Zendesk:
 *   tickets, users — cursor-based incremental exports: GET /api/v2/incremental/<entity>/cursor.json
 *     ?start_time=<epoch s>, then ?cursor=<after_cursor> until end_of_stream is true
 *     (https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/).
 *     Tickets are compared by generated_timestamp (the export's start_time is compared with it),
 *     users by updated_at. Deleted tickets come with status 'deleted' (not excluded here).
 *   organizations — time-based incremental export: /api/v2/incremental/organizations.json
 *     ?start_time=<epoch s>, then start_time=<end_time> of the previous page until end_of_stream;
 *     a time-based export may repeat items across pages (silver dedup absorbs them).
 *   groups, ticket_fields, ticket_forms — snapshot with cursor pagination: ?page[size]=100, then
 *     page[after]=<meta.after_cursor> while meta.has_more (https://developer.zendesk.com/api-reference/introduction/pagination/).
 * Incremental exports leave out whatever changed in the minute before the request
 * (https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api),
 * so a start_time is never later than one minute (plus a second) ago.
 */

export type EntityMode = 'incremental' | 'snapshot';
export type JsonObject = Record<string, unknown>;

export interface EntitySpec {
  source: SourceName;
  name: string;
  mode: EntityMode;
  /** Key of the records array in each answer. */
  recordsKey: string;
  /** Zendesk paces its incremental exports separately (10 requests per minute). */
  requestClass: RequestClass;
  /** The first request of a run; `since` (ms) undefined reads from the beginning. */
  first(baseUrl: string, since: number | undefined, now: number): URL;
  /** The request after this answer, or undefined when the answer was the last page. */
  next(current: URL, body: JsonObject): URL | undefined;
  /** The record's time (ms) the incremental window compares with; undefined when it has none. */
  timestamp(record: JsonObject): number | undefined;
}

export const PIPEDRIVE_PAGE_LIMIT = 500;
export const ZENDESK_EXPORT_PAGE = 1000;
export const ZENDESK_PAGE_SIZE = 100;
/** Zendesk leaves out the last minute; one more second keeps clear of the boundary. */
export const ZENDESK_RECENT_MS = 61_000;

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function url(baseUrl: string, path: string, params: Record<string, string | number | undefined>): URL {
  const u = new URL(`${baseUrl}${path}`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u;
}

function withParams(current: URL, set: Record<string, string | number>, drop: string[] = []): URL {
  const u = new URL(current.toString());
  for (const k of drop) u.searchParams.delete(k);
  for (const [k, v] of Object.entries(set)) u.searchParams.set(k, String(v));
  return u;
}

function isoTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  // Pipedrive v1 writes 'YYYY-MM-DD HH:MM:SS' in UTC.
  const t = Date.parse(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(value) ? `${value.replace(' ', 'T')}Z` : value);
  return Number.isNaN(t) ? undefined : t;
}

function bad(entity: string, message: string): ExtractError {
  return new ExtractError('bad_response', `${entity}: ${message}`);
}

// ---- Pipedrive

function pipedriveNext(entity: string) {
  return (current: URL, body: JsonObject): URL | undefined => {
    const extra = body.additional_data as JsonObject | undefined | null;
    const cursor = extra?.next_cursor;
    if (cursor === null || cursor === undefined || cursor === '') return undefined;
    if (typeof cursor !== 'string') throw bad(entity, 'additional_data.next_cursor is not a string');
    if (cursor === current.searchParams.get('cursor')) throw bad(entity, 'the cursor did not move on');
    return withParams(current, { cursor });
  };
}

function pipedriveV2(name: string, mode: EntityMode, extra: Record<string, string> = {}): EntitySpec {
  return {
    source: 'pipedrive',
    name,
    mode,
    recordsKey: 'data',
    requestClass: 'standard',
    first: (baseUrl, since) =>
      url(baseUrl, `/api/v2/${name}`, {
        ...extra,
        ...(mode === 'incremental' ? { sort_by: 'update_time', sort_direction: 'asc', updated_since: since === undefined ? undefined : rfc3339(since) } : {}),
        limit: PIPEDRIVE_PAGE_LIMIT,
      }),
    next: pipedriveNext(name),
    timestamp: (r) => isoTime(r.update_time),
  };
}

/** A Pipedrive API v1 list, read whole with v1 offset pagination (users and the fields endpoints). */
function pipedriveV1(name: string, path: string, updated: string): EntitySpec {
  return {
    source: 'pipedrive',
    name,
    mode: 'snapshot',
    recordsKey: 'data',
    requestClass: 'standard',
    first: (baseUrl) => url(baseUrl, `/api/v1/${path}`, { limit: PIPEDRIVE_PAGE_LIMIT }),
    next: (current, body) => {
      // v1 offset pagination, when the answer says there is more.
      const p = ((body.additional_data as JsonObject | undefined)?.pagination ?? undefined) as JsonObject | undefined;
      if (p?.more_items_in_collection !== true) return undefined;
      const start = Number(p.next_start);
      if (!Number.isInteger(start) || start <= Number(current.searchParams.get('start') ?? 0)) throw bad(name, 'v1 pagination did not move on');
      return withParams(current, { start, limit: PIPEDRIVE_PAGE_LIMIT });
    },
    timestamp: (r) => isoTime(r[updated]),
  };
}

// ---- Zendesk

function zendeskStartTime(since: number | undefined, now: number): number {
  const latest = Math.floor((now - ZENDESK_RECENT_MS) / 1000);
  return Math.max(0, Math.min(since === undefined ? 0 : Math.floor(since / 1000), latest));
}

function zendeskCursorExport(name: 'tickets' | 'users'): EntitySpec {
  return {
    source: 'zendesk',
    name,
    mode: 'incremental',
    recordsKey: name,
    requestClass: 'incremental',
    first: (baseUrl, since, now) => url(baseUrl, `/api/v2/incremental/${name}/cursor.json`, { start_time: zendeskStartTime(since, now), per_page: ZENDESK_EXPORT_PAGE }),
    next: (current, body) => {
      if (body.end_of_stream === true) return undefined;
      if (body.end_of_stream !== false) throw bad(name, 'the answer has no end_of_stream');
      const cursor = body.after_cursor;
      if (typeof cursor !== 'string' || cursor === '') throw bad(name, 'end_of_stream is false but there is no after_cursor');
      if (cursor === current.searchParams.get('cursor')) throw bad(name, 'the cursor did not move on');
      return withParams(current, { cursor }, ['start_time']);
    },
    timestamp: name === 'tickets' ? (r) => (typeof r.generated_timestamp === 'number' ? r.generated_timestamp * 1000 : isoTime(r.updated_at)) : (r) => isoTime(r.updated_at),
  };
}

const zendeskOrganizations: EntitySpec = {
  source: 'zendesk',
  name: 'organizations',
  mode: 'incremental',
  recordsKey: 'organizations',
  requestClass: 'incremental',
  first: (baseUrl, since, now) => url(baseUrl, '/api/v2/incremental/organizations.json', { start_time: zendeskStartTime(since, now), per_page: ZENDESK_EXPORT_PAGE }),
  next: (current, body) => {
    if (body.end_of_stream === true) return undefined;
    if (body.end_of_stream !== false) throw bad('organizations', 'the answer has no end_of_stream');
    const end = body.end_time;
    if (typeof end !== 'number' || !Number.isInteger(end)) throw bad('organizations', 'end_of_stream is false but there is no end_time');
    if (end <= Number(current.searchParams.get('start_time'))) throw bad('organizations', `the time-based export did not move past start_time ${end}`);
    return withParams(current, { start_time: end });
  },
  timestamp: (r) => isoTime(r.updated_at),
};

function zendeskList(name: 'groups' | 'ticket_fields' | 'ticket_forms'): EntitySpec {
  return {
    source: 'zendesk',
    name,
    mode: 'snapshot',
    recordsKey: name,
    requestClass: 'standard',
    first: (baseUrl) => url(baseUrl, `/api/v2/${name}.json`, { 'page[size]': ZENDESK_PAGE_SIZE }),
    next: (current, body) => {
      const meta = body.meta as JsonObject | undefined;
      if (meta?.has_more !== true) return undefined;
      const after = meta.after_cursor;
      if (typeof after !== 'string' || after === '') throw bad(name, 'meta.has_more is true but there is no meta.after_cursor');
      if (after === current.searchParams.get('page[after]')) throw bad(name, 'the cursor did not move on');
      return withParams(current, { 'page[after]': after });
    },
    timestamp: (r) => isoTime(r.updated_at),
  };
}

/** Every entity, in the order a run extracts them (dimensions first). */
export const ENTITIES: Record<SourceName, EntitySpec[]> = {
  pipedrive: [
    pipedriveV1('users', 'users', 'modified'),
    pipedriveV2('pipelines', 'snapshot'),
    pipedriveV2('stages', 'snapshot'),
    pipedriveV1('deal_fields', 'dealFields', 'update_time'),
    pipedriveV1('person_fields', 'personFields', 'update_time'),
    pipedriveV1('organization_fields', 'organizationFields', 'update_time'),
    pipedriveV2('organizations', 'incremental'),
    pipedriveV2('persons', 'incremental'),
    pipedriveV2('deals', 'incremental', { status: 'open,won,lost,deleted' }),
    pipedriveV2('activities', 'incremental'),
  ],
  zendesk: [zendeskList('groups'), zendeskList('ticket_fields'), zendeskList('ticket_forms'), zendeskOrganizations, zendeskCursorExport('users'), zendeskCursorExport('tickets')],
};

export function entityNames(source: SourceName): string[] {
  return ENTITIES[source].map((e) => e.name);
}

export function entitySpec(source: SourceName, name: string): EntitySpec | undefined {
  return ENTITIES[source].find((e) => e.name === name);
}
