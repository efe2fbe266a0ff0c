import type pg from 'pg';
import type { SourceName } from '../../shared/config';
import type { StandIn } from '../../shared/sources/standIn';

/**
 * An independent rebuild of the `core` star schema (issue 11 point 3) from the stand-in API's own
 * current state, for tests/core.api.test.ts. Every column's expectation is written here from the
 * column comments of the model files (their -- @ddl sections) and the providers' documented
 * formats, never from the models' SELECTs:
 *   - one row per (scope, id): the record's current version in the stand-in (deleted ones included);
 *   - a value missing, JSON null or of another JSON type than the column's is NULL;
 *   - numbers exact (JSON parsed keeping each number's source text), ids beyond 2^53 included;
 *   - times: Pipedrive v2 RFC 3339, Pipedrive v1 'YYYY-MM-DD HH:MM:SS' (UTC), Zendesk ISO 8601;
 *   - lineage (extracted_at, source_blob_path, source_line_no): the staged line of the record with
 *     the newest update time, then the latest run (the run_id of its path), then the later file and
 *     line; that line must hold the stand-in's current record.
 *
 * A new core table is compared by adding one entry to CORE_EXPECTATIONS.
 *
 * Every cell is compared as text: what PostgreSQL prints for the column (timestamps in UTC as
 * 'YYYY-MM-DDTHH:MM:SS.ffffffZ', dates 'YYYY-MM-DD', arrays and jsonb as jsonb text, numeric as
 * numeric prints it) against this file's own rendering of the expected value.
 */

// ---------------------------------------------------------------- JSON with exact numbers

export const NUMBER = Symbol('number');
export type Parsed = null | boolean | string | { [NUMBER]: string } | Parsed[] | { [k: string]: Parsed };
export type JsonObject = { [k: string]: Parsed };

/** JSON.parse keeping each number's source text (exact: 1500.00, ids beyond 2^53). */
export function parseExact(text: string): Parsed {
  return JSON.parse(text, (_k, v, ctx?: { source?: string }) => (typeof v === 'number' ? { [NUMBER]: ctx!.source! } : v)) as Parsed;
}

export function isNumber(v: Parsed | undefined): v is { [NUMBER]: string } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && NUMBER in v;
}

export function isObject(v: Parsed | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(NUMBER in v);
}

/** What PostgreSQL's numeric prints for a JSON number's source text (plain decimals: as written, no sign on a zero). */
export function numericText(src: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/.exec(src);
  if (!m) throw new Error(`not a JSON number: ${src}`);
  const [, sign, int, frac = '', exp = '0'] = m;
  const e = Number(exp);
  // The digits and the position of the decimal point after applying the exponent; the scale is
  // the fraction's length minus the exponent (never below 0), as numeric reads it.
  const digits = int! + frac;
  const scale = Math.max(0, frac.length - e);
  let point = int!.length + e;
  let all = digits;
  if (point < 0) {
    all = '0'.repeat(-point) + all;
    point = 0;
  }
  while (all.length < point + scale) all += '0';
  let whole = all.slice(0, point).replace(/^0+(?=\d)/, '') || '0';
  const fraction = all.slice(point, point + scale);
  if (whole === '') whole = '0';
  const zero = /^0*$/.test(whole + fraction);
  return `${zero ? '' : sign}${whole}${scale ? `.${fraction}` : ''}`;
}

/** What PostgreSQL prints for a jsonb value: keys by length then bytes (last duplicate wins), `": "` and `", "`, numbers as numeric prints them. */
export function jsonbText(v: Parsed): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
  if (isNumber(v)) return numericText(v[NUMBER]);
  const keys = Object.keys(v).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText(v[k]!)}`).join(', ')}}`;
}

// ---------------------------------------------------------------- typed readers (one per column type)

export type Cell = string | null;

export const text = (v: Parsed | undefined): Cell => (typeof v === 'string' ? v : null);
export const bool = (v: Parsed | undefined): Cell => (typeof v === 'boolean' ? String(v) : null);

/** An integer JSON number (no fraction, no exponent) within [lo, hi]. */
function integer(v: Parsed | undefined, lo: bigint, hi: bigint): Cell {
  if (!isNumber(v) || !/^-?(0|[1-9]\d*)$/.test(v[NUMBER])) return null;
  const n = BigInt(v[NUMBER]);
  return n >= lo && n <= hi ? n.toString() : null;
}
export const int64 = (v: Parsed | undefined): Cell => integer(v, -(2n ** 63n), 2n ** 63n - 1n);
export const numeric = (v: Parsed | undefined): Cell => (isNumber(v) ? numericText(v[NUMBER]) : null);

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function validDate(y: number, m: number, d: number): boolean {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= (m === 2 && leap ? 29 : DAYS[m - 1]!);
}

/** A calendar date written 'YYYY-MM-DD'. */
export function date(v: Parsed | undefined): Cell {
  const m = typeof v === 'string' ? /^(\d{4})-(\d\d)-(\d\d)$/.exec(v) : null;
  return m && validDate(+m[1]!, +m[2]!, +m[3]!) ? v as string : null;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** A UTC instant as this file renders timestamps: 'YYYY-MM-DDTHH:MM:SS.ffffffZ'. */
function instant(y: number, mo: number, d: number, h: number, mi: number, s: number, frac: string, offsetMinutes: number): Cell {
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return null;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s) - offsetMinutes * 60_000;
  const t = new Date(ms);
  if (t.getUTCFullYear() < 1 || t.getUTCFullYear() > 9999) return null;
  return `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}T${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}.${frac.padEnd(6, '0')}Z`;
}

/**
 * RFC 3339 date-time (Pipedrive v2) / ISO 8601 extended date-time with its offset (Zendesk):
 * 'YYYY-MM-DDTHH:MM:SS[.f]Z' or '…±HH:MM' (ISO 8601 also '±HHMM'); fractions up to microseconds.
 */
export function isoTime(v: Parsed | undefined): Cell {
  const m = typeof v === 'string' ? /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|([+-])(\d\d):?(\d\d))$/.exec(v) : null;
  if (!m) return null;
  const offset = m[8] === 'Z' ? 0 : (m[9] === '-' ? -1 : 1) * (+m[10]! * 60 + +m[11]!);
  if (m[8] !== 'Z' && (+m[10]! > 23 || +m[11]! > 59)) return null;
  return instant(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7] ?? '', offset);
}

/** Pipedrive API v1: 'YYYY-MM-DD HH:MM:SS', UTC. */
export function v1Time(v: Parsed | undefined): Cell {
  const m = typeof v === 'string' ? /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(v) : null;
  return m ? instant(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, '', 0) : null;
}

/** jsonb of a JSON object / array as written; NULL for anything else. */
export const jsonObject = (v: Parsed | undefined): Cell => (isObject(v) ? jsonbText(v) : null);
export const jsonArray = (v: Parsed | undefined): Cell => (Array.isArray(v) ? jsonbText(v) : null);
/** text[] of an array of strings (as jsonb text); NULL for anything else. */
export const textArray = (v: Parsed | undefined): Cell => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? jsonbText(v) : null);
/** bigint[] of an array of integers (as jsonb text); NULL for anything else. */
export const bigintArray = (v: Parsed | undefined): Cell => (Array.isArray(v) && v.every((x) => int64(x) !== null) ? `[${v.map((x) => int64(x)).join(', ')}]` : null);

/** A member of an object (undefined when the value is no object or lacks it). */
export function at(v: Parsed | undefined, key: string): Parsed | undefined {
  return isObject(v) ? (v as JsonObject)[key] : undefined;
}

// ---------------------------------------------------------------- the stand-in's state and staging

/** Where each entity's update time is, and in which format the provider writes it. */
export const UPDATED: Record<SourceName, Record<string, { key: string; read: (v: Parsed | undefined) => Cell }>> = {
  pipedrive: {
    users: { key: 'modified', read: v1Time },
    deal_fields: { key: 'update_time', read: v1Time },
    person_fields: { key: 'update_time', read: v1Time },
    organization_fields: { key: 'update_time', read: v1Time },
    pipelines: { key: 'update_time', read: isoTime },
    stages: { key: 'update_time', read: isoTime },
    organizations: { key: 'update_time', read: isoTime },
    persons: { key: 'update_time', read: isoTime },
    deals: { key: 'update_time', read: isoTime },
    activities: { key: 'update_time', read: isoTime },
  },
  zendesk: {
    groups: { key: 'updated_at', read: isoTime },
    ticket_fields: { key: 'updated_at', read: isoTime },
    ticket_forms: { key: 'updated_at', read: isoTime },
    organizations: { key: 'updated_at', read: isoTime },
    users: { key: 'updated_at', read: isoTime },
    tickets: { key: 'updated_at', read: isoTime },
  },
};

/** The start of a run from the run_id folder of a bronze path ('YYYYMMDDTHHMMSSmmmZ'). */
export function runStartOfPath(path: string): Cell {
  const m = /\/run_id=(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{3})Z\//.exec(path);
  return m ? instant(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, m[7]!, 0) : null;
}

export interface StagedLine {
  scope: string;
  blobPath: string;
  lineNo: number;
  /** jsonb text of the staged record. */
  record: string;
  parsed: JsonObject;
}

/** The staged lines of an entity, by record id (as text). */
export async function stagedLines(pool: pg.Pool, source: SourceName, entity: string): Promise<Map<string, StagedLine[]>> {
  const r = await pool.query<{ scope: string; blob_path: string; line_no: string; record: string }>(
    `SELECT scope, blob_path, line_no::text, record::text AS record FROM stg_${source}.${entity}_raw`,
  );
  const out = new Map<string, StagedLine[]>();
  for (const row of r.rows) {
    const parsed = parseExact(row.record) as JsonObject;
    const id = isNumber(parsed.id) ? parsed.id[NUMBER] : '?';
    const line = { scope: row.scope, blobPath: row.blob_path, lineNo: Number(row.line_no), record: row.record, parsed };
    out.set(`${row.scope}|${id}`, [...(out.get(`${row.scope}|${id}`) ?? []), line]);
  }
  return out;
}

/** The version the rule picks among a record's staged lines: newest update time, then latest run, then later file, then later line. */
export function latestLine(source: SourceName, entity: string, lines: readonly StagedLine[]): StagedLine | undefined {
  const u = UPDATED[source][entity]!;
  const rank = (l: StagedLine): [string, string, string, number] => [u.read(l.parsed[u.key]) ?? '', runStartOfPath(l.blobPath) ?? '', l.blobPath, l.lineNo];
  const cmpText = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  let best: StagedLine | undefined;
  for (const l of lines) {
    if (!best) {
      best = l;
      continue;
    }
    const a = rank(l);
    const b = rank(best);
    // An update time that is not one sorts before every real one (NULLS LAST in a descending order).
    const c = (a[0] === '' ? (b[0] === '' ? 0 : -1) : b[0] === '' ? 1 : cmpText(a[0], b[0])) || cmpText(a[1], b[1]) || cmpText(a[2], b[2]) || a[3] - b[3];
    if (c > 0) best = l;
  }
  return best;
}

// ---------------------------------------------------------------- expectations per core table

export type Row = Record<string, Cell>;

export interface ExpectContext {
  scope: string;
  /**
   * The records the core table must hold, parsed exactly: the stand-in's current records of an
   * entity (deleted ones included), or, rebuilding from staging, the latest staged line of each id.
   */
  records(source: SourceName, entity: string): Promise<JsonObject[]>;
  /** Staged lines of an entity by `${scope}|${id}`. */
  staged(source: SourceName, entity: string): Promise<Map<string, StagedLine[]>>;
  /** The expected rows of a core table computed before this one (CORE_EXPECTATIONS order). */
  expected(table: string): Map<string, Row>;
}

export interface CoreExpectation {
  table: string;
  /** Primary key columns, in order. */
  key: string[];
  /** Whether the framework must maintain the model by the 'latest' strategy (plan.kind), or by any other. */
  latest: boolean;
  /** The expected rows by key text (the key cells joined with '|'). */
  rows(ctx: ExpectContext): Promise<Map<string, Row>>;
  /** Staging tables whose line the row's lineage names (latest tables). */
  lineage?: { source: SourceName; entity: string };
}

/** The lineage columns of the latest tables (which bronze line a row was read from). */
export const LINEAGE_COLUMNS = ['extracted_at', 'source_blob_path', 'source_line_no'] as const;

/**
 * A table holding the latest version of each record of one staging table: its id column, its
 * data columns (each a reading of the record), updated_at and the lineage columns.
 */
function latest(table: string, source: SourceName, entity: string, idColumn: string, columns: Record<string, (r: JsonObject) => Cell>): CoreExpectation {
  return {
    table,
    key: ['scope', idColumn],
    latest: true,
    lineage: { source, entity },
    async rows(ctx) {
      const staged = await ctx.staged(source, entity);
      const u = UPDATED[source][entity]!;
      const out = new Map<string, Row>();
      for (const r of await ctx.records(source, entity)) {
        const id = int64(r.id)!;
        const key = `${ctx.scope}|${id}`;
        const row: Row = { scope: ctx.scope, [idColumn]: id };
        for (const [col, read] of Object.entries(columns)) row[col] = read(r);
        row.updated_at = u.read(r[u.key]);
        const line = latestLine(source, entity, staged.get(key) ?? []);
        // The line the rule picks must be the stand-in's current record (else core cannot equal it).
        const current = jsonbText(r);
        row.extracted_at = line ? runStartOfPath(line.blobPath) : '<no staged line>';
        row.source_blob_path = line ? (line.record === current ? line.blobPath : `<the latest staged line ${line.blobPath}:${line.lineNo} is not the current record>`) : '<no staged line>';
        row.source_line_no = line ? String(line.lineNo) : '<no staged line>';
        out.set(key, row);
      }
      return out;
    },
  };
}

const f = (k: string, read: (v: Parsed | undefined) => Cell) => (r: JsonObject) => read(r[k]);
const isTrue = (v: Parsed | undefined) => v === true;
/** A deletion flag: absent or JSON null is false, a JSON boolean itself, anything else unknown (NULL). */
const flag = (v: Parsed | undefined): Cell => (v === undefined || v === null ? 'false' : typeof v === 'boolean' ? String(v) : null);

/** The first element of an array of objects marked primary (JSON true), its value as text. */
function primaryValue(v: Parsed | undefined): Cell {
  if (!Array.isArray(v)) return null;
  const hit = v.find((x) => isObject(x) && (x as JsonObject).primary === true);
  return text(at(hit, 'value'));
}

const ASCII_SPACE = '[ \\t\\n\\v\\f\\r]';

/**
 * A decimal's value as a canonical text ('-123e2' for -12300: digits without leading or trailing
 * zeros, then where the decimal point is), so two numerals are numerically equal when their keys are
 * (2, 2.0, "2", " 2 ", "2e0"). NULL when numeric could not hold it (an exponent beyond ±1000).
 */
function decimalKey(sign: string, int: string, frac: string, exp: string): string | null {
  const e = Number(exp || '0');
  if (Math.abs(e) > 1000) return null;
  let digits = int + frac;
  let point = int.length + e;
  while (digits.startsWith('0')) {
    digits = digits.slice(1);
    point--;
  }
  digits = digits.replace(/0+$/, '');
  return digits === '' ? '0' : `${sign === '-' ? '-' : ''}${digits}e${point}`;
}

/** gold_state.text_numeric: a text holding a decimal (ASCII whitespace around, a sign, digits with an optional point, an exponent of at most 9 digits). */
function textDecimalKey(t: string): string | null {
  const m = new RegExp(`^${ASCII_SPACE}*([-+]?)([0-9]+)?(?:[.]([0-9]*))?(?:[eE]([-+]?[0-9]{1,9}))?${ASCII_SPACE}*$`).exec(t);
  if (!m || (m[2] === undefined && !m[3])) return null;
  return decimalKey(m[1]!, m[2] ?? '', m[3] ?? '', m[4] ?? '');
}

/** An option id or a value's id: a JSON number, or a JSON string holding a decimal; NULL for anything else. */
function idKey(v: Parsed | undefined): string | null {
  if (isNumber(v)) {
    const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/.exec(v[NUMBER])!;
    return decimalKey(m[1]!, m[2]!, m[3] ?? '', m[4] ?? '');
  }
  return typeof v === 'string' ? textDecimalKey(v) : null;
}

/** What `->> 'label'` gives: a string itself, a number as numeric prints it, true/false, other JSON as jsonb text; NULL for null or no label. */
function labelText(v: Parsed | undefined): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  return isNumber(v) ? numericText(v[NUMBER]) : jsonbText(v);
}

/**
 * option_labels of a Pipedrive custom field value (gold_state.jsonb_option_labels as the column
 * comment restricts it): an enum value is one option id, a JSON number (a string is not read as
 * one); a set value an array of ids (JSON numbers, or strings holding one) or a text of
 * comma-separated digit ids (API v1; ASCII whitespace allowed). Each id, in the value's order, gives
 * the label of every option (an object of the field's options array) whose id is numerically equal;
 * NULL for other field types, when the field has no options array, or when no option matches.
 * Rendered as the text[] column is read (cellSql: to_jsonb(text[])::text).
 */
function optionLabels(fieldType: Cell, value: Parsed, options: Parsed | undefined): Cell {
  if (!Array.isArray(options)) return null;
  let ids: (string | null)[];
  if (fieldType === 'enum' && isNumber(value)) ids = [idKey(value)];
  else if (fieldType === 'set' && Array.isArray(value)) ids = value.map(idKey);
  else if (fieldType === 'set' && typeof value === 'string' && new RegExp(`^${ASCII_SPACE}*[0-9]+(${ASCII_SPACE}*,${ASCII_SPACE}*[0-9]+)*${ASCII_SPACE}*$`).test(value)) ids = value.split(',').map((x) => textDecimalKey(x));
  else return null;
  const labels: (string | null)[] = [];
  for (const id of ids) {
    if (id === null) continue;
    for (const o of options) if (isObject(o) && idKey(at(o, 'id')) === id) labels.push(labelText(at(o, 'label')));
  }
  return labels.length ? jsonbText(labels) : null;
}

/**
 * A Pipedrive custom fields side table: one row per key of $.custom_fields (a JSON object) of each
 * record's latest version, named and typed from the expected fields table (one definition per key:
 * the active one first, then the lowest field id; NULL name and type when no field has the key).
 */
function pdCustomFields(table: string, entity: 'deals' | 'persons' | 'organizations', idColumn: string, fieldsTable: string): CoreExpectation {
  return {
    table,
    key: ['scope', idColumn, 'field_key'],
    latest: false,
    async rows(ctx) {
      const byKey = new Map<string, Row>();
      const inactive = (d: Row) => (d.is_active === 'true' ? 0 : 1);
      for (const d of ctx.expected(fieldsTable).values()) {
        if (d.field_key === null) continue;
        const best = byKey.get(d.field_key!);
        if (!best || inactive(d) - inactive(best) < 0 || (inactive(d) === inactive(best) && BigInt(d.field_id!) < BigInt(best.field_id!))) byKey.set(d.field_key!, d);
      }
      const out = new Map<string, Row>();
      for (const r of await ctx.records('pipedrive', entity)) {
        const id = int64(r.id)!;
        if (!isObject(r.custom_fields)) continue;
        for (const [key, v] of Object.entries(r.custom_fields)) {
          const field = byKey.get(key);
          const type = field?.field_type ?? null;
          out.set(`${ctx.scope}|${id}|${key}`, {
            scope: ctx.scope,
            [idColumn]: id,
            field_key: key,
            field_name: field?.name ?? null,
            field_type: type,
            value: jsonbText(v),
            value_text: typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : isNumber(v) ? numericText(v[NUMBER]) : null,
            // A JSON number, or $.value of an object value ({value, currency}) when that is one; a string never.
            value_number: isNumber(v) ? numericText(v[NUMBER]) : numeric(at(v, 'value')),
            currency: text(at(v, 'currency')),
            value_date: type === 'date' ? date(v) : null,
            option_labels: optionLabels(type, v, field?.options == null ? undefined : parseExact(field.options)),
          });
        }
      }
      return out;
    },
  };
}

/** Every core table and its expectation, in dependency order (a table may use the ones before it). */
export const CORE_EXPECTATIONS: CoreExpectation[] = [
  latest('pd_users', 'pipedrive', 'users', 'user_id', {
    name: f('name', text),
    email: f('email', text),
    is_active: f('active_flag', bool),
    is_admin: f('is_admin', bool),
    role_id: f('role_id', int64),
    timezone_name: f('timezone_name', text),
    created_at: f('created', v1Time),
  }),
  ...(['deal', 'person', 'organization'] as const).map((of) =>
    latest(`pd_${of}_fields`, 'pipedrive', `${of}_fields`, 'field_id', {
      field_key: f('key', text),
      name: f('name', text),
      field_type: f('field_type', text),
      // "$.options … as the API wrote them, when an array": the options array of any field (the
      // standard status field lists some too), NULL when it is no array.
      options: f('options', jsonArray),
      is_custom: f('edit_flag', bool),
      is_active: f('active_flag', bool),
      add_time: f('add_time', v1Time),
    }),
  ),
  latest('pd_pipelines', 'pipedrive', 'pipelines', 'pipeline_id', {
    name: f('name', text),
    order_nr: f('order_nr', int64),
    is_deal_probability_enabled: f('is_deal_probability_enabled', bool),
    is_deleted: (r) => flag(r.is_deleted),
    add_time: f('add_time', isoTime),
  }),
  latest('pd_stages', 'pipedrive', 'stages', 'stage_id', {
    pipeline_id: f('pipeline_id', int64),
    name: f('name', text),
    order_nr: f('order_nr', int64),
    deal_probability: f('deal_probability', int64),
    is_deal_rot_enabled: f('is_deal_rot_enabled', bool),
    days_to_rotten: f('days_to_rotten', int64),
    is_deleted: (r) => flag(r.is_deleted),
    add_time: f('add_time', isoTime),
  }),
  latest('pd_organizations', 'pipedrive', 'organizations', 'org_id', {
    name: f('name', text),
    owner_id: f('owner_id', int64),
    // API v2 writes the address as an object ({ value, country, … }), v1 as text.
    address: (r) => (typeof r.address === 'string' ? r.address : text(at(r.address, 'value'))),
    country: (r) => text(at(r.address, 'country')),
    visible_to: f('visible_to', int64),
    is_deleted: (r) => flag(r.is_deleted),
    add_time: f('add_time', isoTime),
    custom_fields: f('custom_fields', jsonObject),
  }),
  latest('pd_persons', 'pipedrive', 'persons', 'person_id', {
    name: f('name', text),
    owner_id: f('owner_id', int64),
    org_id: f('org_id', int64),
    primary_email: (r) => primaryValue(r.emails),
    primary_phone: (r) => primaryValue(r.phones),
    emails: f('emails', jsonArray),
    phones: f('phones', jsonArray),
    visible_to: f('visible_to', int64),
    is_deleted: (r) => flag(r.is_deleted),
    add_time: f('add_time', isoTime),
    custom_fields: f('custom_fields', jsonObject),
  }),
  latest('pd_deals', 'pipedrive', 'deals', 'deal_id', {
    title: f('title', text),
    value: f('value', numeric),
    currency: f('currency', text),
    status: f('status', text),
    stage_id: f('stage_id', int64),
    pipeline_id: f('pipeline_id', int64),
    person_id: f('person_id', int64),
    org_id: f('org_id', int64),
    owner_id: f('owner_id', int64),
    probability: f('probability', numeric),
    expected_close_date: f('expected_close_date', date),
    close_time: f('close_time', isoTime),
    won_time: f('won_time', isoTime),
    lost_time: f('lost_time', isoTime),
    lost_reason: f('lost_reason', text),
    is_deleted: (r) => (isTrue(r.is_deleted) || r.status === 'deleted' ? 'true' : flag(r.is_deleted)),
    add_time: f('add_time', isoTime),
    custom_fields: f('custom_fields', jsonObject),
  }),
  latest('pd_activities', 'pipedrive', 'activities', 'activity_id', {
    subject: f('subject', text),
    type: f('type', text),
    deal_id: f('deal_id', int64),
    person_id: f('person_id', int64),
    org_id: f('org_id', int64),
    owner_id: f('owner_id', int64),
    due_date: f('due_date', date),
    done: f('done', bool),
    is_deleted: (r) => flag(r.is_deleted),
    add_time: f('add_time', isoTime),
  }),
  latest('zd_users', 'zendesk', 'users', 'user_id', {
    name: f('name', text),
    email: f('email', text),
    role: f('role', text),
    organization_id: f('organization_id', int64),
    is_active: f('active', bool),
    is_suspended: f('suspended', bool),
    time_zone: f('time_zone', text),
    created_at: f('created_at', isoTime),
  }),
  latest('zd_organizations', 'zendesk', 'organizations', 'organization_id', {
    name: f('name', text),
    domain_names: f('domain_names', textArray),
    group_id: f('group_id', int64),
    tags: f('tags', textArray),
    organization_fields: f('organization_fields', jsonObject),
    // "$.deleted_at is set": present and not null.
    is_deleted: (r) => String(r.deleted_at !== undefined && r.deleted_at !== null),
    deleted_at: f('deleted_at', isoTime),
    created_at: f('created_at', isoTime),
  }),
  latest('zd_groups', 'zendesk', 'groups', 'group_id', {
    name: f('name', text),
    description: f('description', text),
    is_default: f('default', bool),
    is_public: f('is_public', bool),
    is_deleted: (r) => flag(r.deleted),
    created_at: f('created_at', isoTime),
  }),
  latest('zd_ticket_fields', 'zendesk', 'ticket_fields', 'field_id', {
    type: f('type', text),
    title: f('title', text),
    is_active: f('active', bool),
    is_required: f('required', bool),
    position: f('position', int64),
    created_at: f('created_at', isoTime),
  }),
  latest('zd_ticket_forms', 'zendesk', 'ticket_forms', 'form_id', {
    name: f('name', text),
    is_active: f('active', bool),
    is_default: f('default', bool),
    position: f('position', int64),
    ticket_field_ids: f('ticket_field_ids', bigintArray),
    created_at: f('created_at', isoTime),
  }),
  latest('zd_tickets', 'zendesk', 'tickets', 'ticket_id', {
    subject: f('subject', text),
    status: f('status', text),
    priority: f('priority', text),
    type: f('type', text),
    requester_id: f('requester_id', int64),
    assignee_id: f('assignee_id', int64),
    organization_id: f('organization_id', int64),
    group_id: f('group_id', int64),
    ticket_form_id: f('ticket_form_id', int64),
    tags: f('tags', textArray),
    is_deleted: (r) => String(r.status === 'deleted'),
    created_at: f('created_at', isoTime),
    custom_fields: f('custom_fields', jsonArray),
  }),
  {
    // One row per (ticket, custom field id) of each ticket's current version; the first entry of a
    // repeated id; named and typed from the field's current version (core.zd_ticket_fields).
    table: 'zd_ticket_custom_fields',
    key: ['scope', 'ticket_id', 'position'],
    latest: false,
    async rows(ctx) {
      const fields = ctx.expected('zd_ticket_fields');
      const out = new Map<string, Row>();
      for (const t of await ctx.records('zendesk', 'tickets')) {
        const ticketId = int64(t.id)!;
        if (!Array.isArray(t.custom_fields)) continue;
        const seen = new Set<string>();
        t.custom_fields.forEach((item, i) => {
          // Every entry is a row; one without an integer id has no field, a repeated id is flagged.
          const fieldId = int64(at(item, 'id'));
          const field = fieldId === null ? undefined : fields.get(`${ctx.scope}|${fieldId}`);
          const v = isObject(item) ? at(item, 'value') : item;
          const type = field?.type ?? null;
          out.set(`${ctx.scope}|${ticketId}|${i + 1}`, {
            scope: ctx.scope,
            ticket_id: ticketId,
            position: String(i + 1),
            field_id: fieldId,
            is_repeat: String(fieldId !== null && seen.has(fieldId)),
            field_title: field?.title ?? null,
            field_type: type,
            value: jsonbText(v === undefined ? null : v),
            value_text: typeof v === 'string' ? v : typeof v === 'boolean' ? String(v) : isNumber(v) ? numericText(v[NUMBER]) : null,
            // A number; for an integer or decimal field also a string holding one (Zendesk writes those as strings).
            value_number: isNumber(v) ? numericText(v[NUMBER]) : (type === 'integer' || type === 'decimal') && typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? numericText(v) : null,
            value_boolean: type === 'checkbox' ? bool(v) : null,
            value_date: type === 'date' ? date(v) : null,
          });
          if (fieldId !== null) seen.add(fieldId);
        });
      }
      return out;
    },
  },
  pdCustomFields('pd_deal_custom_fields', 'deals', 'deal_id', 'pd_deal_fields'),
  pdCustomFields('pd_person_custom_fields', 'persons', 'person_id', 'pd_person_fields'),
  pdCustomFields('pd_organization_custom_fields', 'organizations', 'org_id', 'pd_organization_fields'),
];

// ---------------------------------------------------------------- reading core and comparing

/** The SQL text of a column as this file renders it. */
function cellSql(column: string, dataType: string): string {
  const c = `"${column}"`;
  switch (dataType) {
    case 'timestamp with time zone':
      return `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    case 'timestamp without time zone':
      return `to_char(${c}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
    case 'date':
      return `to_char(${c}, 'YYYY-MM-DD')`;
    case 'ARRAY':
      return `to_jsonb(${c})::text`;
    default:
      return `${c}::text`;
  }
}

export async function coreColumns(pool: pg.Pool, table: string): Promise<{ name: string; type: string }[]> {
  const r = await pool.query<{ name: string; type: string }>(
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = 'core' AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return r.rows;
}

/** A core table's rows, every cell as text, by key text. */
export async function readCore(pool: pg.Pool, e: CoreExpectation): Promise<Map<string, Row>> {
  const cols = await coreColumns(pool, e.table);
  const r = await pool.query<Row>(`SELECT ${cols.map((c) => `${cellSql(c.name, c.type)} AS "${c.name}"`).join(', ')} FROM core.${e.table}`);
  return new Map(r.rows.map((row) => [e.key.map((k) => row[k]).join('|'), row]));
}

/**
 * Builds every expectation from the stand-in's current state (`standIn`), or, without it, from
 * staging alone (the latest staged line of each record by the rule: what core must hold at any
 * moment, whatever the API did meanwhile).
 */
export async function expectedCore(pool: pg.Pool, standIn: StandIn | undefined, scope = 'acme', tables = CORE_EXPECTATIONS): Promise<Map<string, Map<string, Row>>> {
  const out = new Map<string, Map<string, Row>>();
  const records = new Map<string, Promise<JsonObject[]>>();
  const staged = new Map<string, Promise<Map<string, StagedLine[]>>>();
  const ctx: ExpectContext = {
    scope,
    records: (source, entity) => {
      const k = `${source}/${entity}`;
      if (!records.has(k)) {
        records.set(
          k,
          standIn
            ? // records() keeps the API's number text (JSON.rawJSON): stringified, it is what the API sends.
              Promise.resolve(standIn.store.records(source, entity).map((r) => parseExact(JSON.stringify(r.data)) as JsonObject))
            : ctx.staged(source, entity).then((m) => [...m.entries()].filter(([k]) => k.startsWith(`${scope}|`)).map(([, lines]) => latestLine(source, entity, lines)!.parsed)),
        );
      }
      return records.get(k)!;
    },
    staged: (source, entity) => {
      const k = `${source}/${entity}`;
      if (!staged.has(k)) staged.set(k, stagedLines(pool, source, entity));
      return staged.get(k)!;
    },
    expected: (table) => {
      const t = out.get(table);
      if (!t) throw new Error(`the expectation of ${table} must come before its readers`);
      return t;
    },
  };
  for (const e of tables) out.set(e.table, await e.rows(ctx));
  return out;
}

export interface CoreDiff {
  /** One line per difference: a missing or extra row, or a cell. */
  lines: string[];
  /** Rows compared per table. */
  rows: Record<string, number>;
}

/**
 * Compares every cell of every core table in `tables` with the expectation. `skip`: rows left out
 * of the comparison (by table and key text; none by default).
 */
export async function diffCore(pool: pg.Pool, expected: Map<string, Map<string, Row>>, tables = CORE_EXPECTATIONS, skip: (table: string, key: string) => boolean = () => false): Promise<CoreDiff> {
  const lines: string[] = [];
  const rows: Record<string, number> = {};
  for (const e of tables) {
    const want = expected.get(e.table)!;
    const have = await readCore(pool, e);
    const cols = (await coreColumns(pool, e.table)).map((c) => c.name);
    const sample = want.values().next().value as Row | undefined;
    // Every column of the table has an expectation (a new column must be added here), and no more.
    if (sample) {
      const expectedCols = Object.keys(sample).sort();
      if (JSON.stringify(expectedCols) !== JSON.stringify([...cols].sort())) lines.push(`${e.table}: columns ${JSON.stringify([...cols].sort())}, expectation covers ${JSON.stringify(expectedCols)}`);
    }
    rows[e.table] = have.size;
    for (const [k, w] of want) {
      if (skip(e.table, k)) continue;
      const h = have.get(k);
      if (!h) {
        lines.push(`${e.table} ${k}: missing`);
        continue;
      }
      for (const c of cols) {
        if (h[c] !== w[c]) lines.push(`${e.table} ${k} ${c}: expected ${JSON.stringify(w[c])}, got ${JSON.stringify(h[c])}`);
      }
    }
    for (const k of have.keys()) if (!want.has(k) && !skip(e.table, k)) lines.push(`${e.table} ${k}: not in the stand-in's state`);
  }
  return { lines, rows };
}

/** Business keys held more than once, per core table (the primary key forbids it; checked anyway). */
export async function duplicateKeys(pool: pg.Pool, tables = CORE_EXPECTATIONS): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of tables) {
    const r = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM core.${e.table} GROUP BY ${e.key.map((k) => `"${k}"`).join(', ')} HAVING count(*) > 1) d`);
    out[e.table] = r.rows[0]!.n;
  }
  return out;
}

/** Row count and a checksum over every column of every table of the staging schemas and core. */
export async function layerChecksums(pool: pg.Pool): Promise<Record<string, string>> {
  const tables = await pool.query<{ s: string; t: string }>(
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
     WHERE (table_schema LIKE 'stg\\_%' OR table_schema = 'core') AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
  );
  const out: Record<string, string> = {};
  for (const { s, t } of tables.rows) {
    const r = await pool.query<{ n: string; sum: string }>(`SELECT count(*)::text AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS sum FROM "${s}"."${t}" x`);
    out[`${s}.${t}`] = `${r.rows[0]!.n} rows, ${r.rows[0]!.sum}`;
  }
  return out;
}
