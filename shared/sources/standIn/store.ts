import type { SourceName } from '../../config';
import { rng } from '../../samples/ecommerceSample';

/**
 * The data of the stand-in API: generated Pipedrive and Zendesk records (seeded: the same seed
 * and clock give the same data), kept in the shape each API returns them, with the time each
 * was last changed. Tests and `medallion dev` change it while an extraction pages through it:
 * insert, update, delete (each stamps the record with the store's clock, in whole seconds like
 * both APIs).
 *
 * Pipedrive custom fields: deals, persons and organizations carry `custom_fields`, an object keyed by
 * the 40-hex-character keys of the custom fields their fields endpoint (v1 dealFields, personFields,
 * organizationFields) lists; those lists also hold a handful of standard fields (title, value,
 * name, …; key = the record's own key, edit_flag false). Each value is as API v2 writes it for the
 * field's type: enum the id of one of the field's options, set an array of option ids, monetary
 * { value, currency }, double a number, varchar a string, date 'YYYY-MM-DD' (or null). A custom
 * field inserted later (insert on deal_fields, …) is carried by the records created or changed
 * after it; a field renamed (update with { name }) keeps its key; a deleted field has active_flag
 * false and records created or changed after it no longer get a value for it (the values they
 * already hold stay). `counts` for a fields entity is its number of custom fields.
 *
 * Deletions as the APIs show them:
 *   Pipedrive deals   status 'deleted', is_deleted true; listed only when asked for status=deleted
 *   other Pipedrive   is_deleted true (v2), active_flag false (v1 users and fields); listed like the others
 *   Zendesk tickets   status 'deleted' (the incremental export lists them unless exclude_deleted)
 *   Zendesk users     active false; organizations deleted_at set; groups deleted true;
 *   ticket fields/forms active false
 */

export type Json = Record<string, unknown>;

export interface StoredRecord {
  id: number;
  /** Last change, ms (whole seconds). */
  ts: number;
  /** Creation, ms (whole seconds). */
  addTs: number;
  deleted: boolean;
  /** The record as the API returns it. */
  data: Json;
}

export const STAND_IN_ENTITIES: Record<SourceName, readonly string[]> = {
  pipedrive: ['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities'],
  zendesk: ['groups', 'ticket_fields', 'ticket_forms', 'organizations', 'users', 'tickets'],
};

/** The Pipedrive fields entities and the entity whose records' custom_fields they name. */
export const PIPEDRIVE_FIELDS_OF: Readonly<Record<string, 'deals' | 'persons' | 'organizations'>> = {
  deal_fields: 'deals',
  person_fields: 'persons',
  organization_fields: 'organizations',
};

type FieldDef = { key?: string; name: string; field_type: string; options?: readonly (string | number)[] };

/** Standard fields each fields endpoint lists (key = the record's own key). */
const STANDARD_FIELDS: Record<string, readonly FieldDef[]> = {
  deals: [
    { key: 'title', name: 'Title', field_type: 'varchar' },
    { key: 'value', name: 'Value', field_type: 'monetary' },
    { key: 'currency', name: 'Currency', field_type: 'varchar' },
    { key: 'status', name: 'Status', field_type: 'status', options: ['open', 'won', 'lost', 'deleted'] },
    { key: 'stage_id', name: 'Stage', field_type: 'stage' },
    { key: 'org_id', name: 'Organization', field_type: 'org' },
    { key: 'person_id', name: 'Contact person', field_type: 'people' },
    { key: 'owner_id', name: 'Owner', field_type: 'user' },
    { key: 'expected_close_date', name: 'Expected close date', field_type: 'date' },
  ],
  persons: [
    { key: 'name', name: 'Name', field_type: 'varchar' },
    { key: 'org_id', name: 'Organization', field_type: 'org' },
    { key: 'owner_id', name: 'Owner', field_type: 'user' },
    { key: 'email', name: 'Email', field_type: 'varchar' },
    { key: 'phone', name: 'Phone', field_type: 'phone' },
  ],
  organizations: [
    { key: 'name', name: 'Name', field_type: 'varchar' },
    { key: 'owner_id', name: 'Owner', field_type: 'user' },
    { key: 'address', name: 'Address', field_type: 'address' },
    { key: 'visible_to', name: 'Visible to', field_type: 'visible_to' },
  ],
};

/** The first custom fields of each entity; more (counts, inserts) come from EXTRA_CUSTOM_FIELDS. */
const CUSTOM_FIELDS: Record<string, readonly FieldDef[]> = {
  deals: [
    { name: 'Lead source', field_type: 'enum', options: ['Inbound', 'Partner', 'Event', 'Outbound'] },
    { name: 'Annual contract value', field_type: 'monetary' },
    { name: 'Contract length', field_type: 'double' },
    { name: 'Region', field_type: 'varchar' },
  ],
  persons: [
    { name: 'Lead source', field_type: 'enum', options: ['Inbound', 'Partner', 'Event', 'Outbound'] },
    { name: 'Lifetime value', field_type: 'monetary' },
    { name: 'Lead score', field_type: 'double' },
    { name: 'Job title', field_type: 'varchar' },
  ],
  organizations: [
    { name: 'Region', field_type: 'enum', options: ['EMEA', 'Americas', 'APAC'] },
    { name: 'Annual revenue', field_type: 'monetary' },
    { name: 'Employees', field_type: 'double' },
    { name: 'Industry', field_type: 'varchar' },
  ],
};
const EXTRA_CUSTOM_FIELDS: readonly FieldDef[] = [
  { name: 'Referral code', field_type: 'varchar' },
  { name: 'Renewal date', field_type: 'date' },
  { name: 'Products of interest', field_type: 'set', options: ['Core', 'Analytics', 'Support plan', 'Training'] },
  { name: 'Priority', field_type: 'enum', options: ['Low', 'Medium', 'High'] },
  { name: 'Discount', field_type: 'double' },
  { name: 'Competitor', field_type: 'varchar' },
];
const FIELD_RENAMES = ['Lead channel', 'Acquisition source', 'Contract term', 'Territory', 'Sales region', 'Deal origin'];

export type Counts = Partial<Record<SourceName, Partial<Record<string, number>>>>;

const DEFAULT_COUNTS: Record<SourceName, Record<string, number>> = {
  pipedrive: { users: 12, pipelines: 3, stages: 15, deal_fields: 4, person_fields: 4, organization_fields: 4, organizations: 300, persons: 800, deals: 1200, activities: 1500 },
  zendesk: { groups: 8, ticket_fields: 12, ticket_forms: 4, organizations: 200, users: 900, tickets: 1500 },
};

const ID_BASE: Record<string, number> = {
  'pipedrive/users': 10_000,
  'pipedrive/deal_fields': 12_450,
  'pipedrive/person_fields': 9_030,
  'pipedrive/organization_fields': 4_010,
  'zendesk/users': 360_000_001_000,
  'zendesk/organizations': 360_000_500_000,
  'zendesk/groups': 360_000_900_000,
  'zendesk/ticket_fields': 360_001_000_000,
  'zendesk/ticket_forms': 360_001_100_000,
};

/** The seeded PRNG the samples use (mulberry32). */
export const seededRandom = rng;

/** A number written as the API writes it (JSON.rawJSON: e.g. 1500.00, or an id above 2^53). */
export function rawNumber(text: string): unknown {
  return (JSON as unknown as { rawJSON(t: string): unknown }).rawJSON(text);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const v1Time = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
const secondOf = (ms: number) => Math.floor(ms / 1000) * 1000;

const FIRST = ['Ada', 'Ben', 'Chloé', 'Dmitri', 'Eva', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kemi', 'Lena', 'Marta', 'Nils', 'Olu', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tariq'];
const LAST = ['Andersen', 'Bauer', 'Costa', 'Dubois', 'Evans', 'Fischer', 'García', 'Hansen', 'Ivanova', 'Jensen', 'Kowalski', 'Lopez', 'Müller', 'Nakamura', 'Okafor', 'Peters'];
const COMPANY = ['Northwind', 'Contoso', 'Fabrikam', 'Tailspin', 'Wingtip', 'Litware', 'Adatum', 'Proseware', 'Lucerne', 'Margie', 'Trey', 'Woodgrove', 'Alpine', 'Coho'];
const SUFFIX = ['GmbH', 'Ltd', 'Inc', 'AS', 'SA', 'BV', 'Oy'];
const TICKET_SUBJECTS = ['Cannot log in', 'Invoice is wrong', 'Export fails with an error', 'Feature request: dark mode', 'Password reset link expired', 'Slow dashboard', 'Refund request', 'API returns 500'];

export interface StoreOptions {
  seed?: number;
  /** The store's clock (ms); default Date.now. Tests share a virtual clock with the extractor. */
  now?: () => number;
  counts?: Counts;
  /** Initial records were changed over this many days before now (default 30). */
  historyDays?: number;
}

export class StandInStore {
  readonly now: () => number;
  private readonly rng: () => number;
  private readonly tables = new Map<string, Map<number, StoredRecord>>();
  private readonly versions = new Map<string, number>();
  private readonly nextIds = new Map<string, number>();
  /** Custom field records of deals, persons, organizations (their data is live: renames, deletions). */
  private readonly customFields: Record<string, StoredRecord[]> = { deals: [], persons: [], organizations: [] };
  /** Fields generated so far per fields entity (the next one's template). */
  private readonly fieldsMade = new Map<string, number>();
  private nextOptionId = 1;

  constructor(options: StoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.rng = seededRandom(options.seed ?? 4);
    const now = secondOf(this.now());
    const days = options.historyDays ?? 30;
    for (const source of ['pipedrive', 'zendesk'] as const) {
      for (const entity of STAND_IN_ENTITIES[source]) {
        const forRecords = source === 'pipedrive' ? PIPEDRIVE_FIELDS_OF[entity] : undefined;
        // A fields entity: its standard fields, then `counts` custom ones.
        const n = (forRecords ? STANDARD_FIELDS[forRecords]!.length : 0) + (options.counts?.[source]?.[entity] ?? DEFAULT_COUNTS[source][entity]!);
        let previous = 0;
        for (let i = 0; i < n; i++) {
          const addTs = secondOf(now - days * 86_400_000 + this.rng() * (days - 2) * 86_400_000);
          // Some records share their second with the one before (ties the cursors must handle).
          const ts = previous >= addTs && this.rng() < 0.05 ? previous : secondOf(addTs + this.rng() * (now - 5 * 60_000 - addTs));
          previous = ts;
          const rec = this.create(source, entity, addTs, ts);
          if (this.rng() < 0.02 && entity !== 'pipelines' && entity !== 'stages' && !forRecords) this.markDeleted(source, entity, rec, ts);
        }
      }
    }
  }

  private key(source: SourceName, entity: string): string {
    if (!STAND_IN_ENTITIES[source]?.includes(entity)) throw new RangeError(`the stand-in has no ${source} entity '${entity}'`);
    return `${source}/${entity}`;
  }

  private table(source: SourceName, entity: string): Map<number, StoredRecord> {
    const k = this.key(source, entity);
    let t = this.tables.get(k);
    if (!t) this.tables.set(k, (t = new Map()));
    return t;
  }

  /** Bumped on every change of the table (sorted views are cached per version). */
  version(source: SourceName, entity: string): number {
    return this.versions.get(this.key(source, entity)) ?? 0;
  }

  private touched(source: SourceName, entity: string): void {
    const k = this.key(source, entity);
    this.versions.set(k, (this.versions.get(k) ?? 0) + 1);
  }

  private hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.rng() * 16).toString(16);
    return s;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rng() * xs.length)]!;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rng() * (hi - lo + 1));
  }

  private readonly idLists = new Map<string, { size: number; ids: number[] }>();

  private someId(source: SourceName, entity: string): number | null {
    const t = this.table(source, entity);
    if (!t.size) return null;
    const k = this.key(source, entity);
    let cached = this.idLists.get(k);
    if (!cached || cached.size !== t.size) this.idLists.set(k, (cached = { size: t.size, ids: [...t.keys()] }));
    return cached.ids[Math.floor(this.rng() * cached.ids.length)]!;
  }

  private newId(source: SourceName, entity: string): number {
    const k = this.key(source, entity);
    const id = this.nextIds.get(k) ?? ID_BASE[k] ?? 1;
    this.nextIds.set(k, id + 1);
    return id;
  }

  /** Every record of an entity (deleted ones included), by id. */
  records(source: SourceName, entity: string): StoredRecord[] {
    return [...this.table(source, entity).values()].sort((a, b) => a.id - b.id);
  }

  get(source: SourceName, entity: string, id: number): StoredRecord | undefined {
    return this.table(source, entity).get(id);
  }

  /**
   * The stand-in's own current state of an entity: every record as the API would return it now
   * (deleted ones included, in their deleted form), as plain JSON values.
   */
  state(source: SourceName, entity: string): Json[] {
    return this.records(source, entity).map((r) => JSON.parse(JSON.stringify(r.data)) as Json);
  }

  private create(source: SourceName, entity: string, addTs: number, ts: number, patch: Json = {}): StoredRecord {
    const id = this.newId(source, entity);
    const data = { ...this.generate(source, entity, id), ...patch };
    data.id = id;
    const rec: StoredRecord = { id, ts, addTs, deleted: false, data };
    this.stamp(source, entity, rec, addTs, ts);
    const of = source === 'pipedrive' ? PIPEDRIVE_FIELDS_OF[entity] : undefined;
    if (of && data.edit_flag === true) {
      // Options for an enum/set field inserted with its labels only ({ options: [{ label }] }).
      if (Array.isArray(data.options)) data.options = (data.options as Json[]).map((o) => ({ id: o.id ?? this.nextOptionId++, label: o.label }));
      this.customFields[of]!.push(rec);
    }
    this.table(source, entity).set(id, rec);
    this.touched(source, entity);
    return rec;
  }

  /** The clock's current second, never before the record's last change. */
  private changeTime(rec?: StoredRecord): number {
    return Math.max(secondOf(this.now()), rec?.ts ?? 0);
  }

  insert(source: SourceName, entity: string, patch: Json = {}): Json {
    const t = this.changeTime();
    return this.create(source, entity, t, t, patch).data;
  }

  /** Changes a record (a random live one when `id` is omitted) and stamps it with the clock. */
  update(source: SourceName, entity: string, id?: number, patch?: Json): Json {
    const rec = this.find(source, entity, id);
    const t = this.changeTime(rec);
    Object.assign(rec.data, patch ?? this.change(source, entity));
    // A record changed by the stand-in gets values for custom fields added since it was written.
    if (!patch && source === 'pipedrive' && this.customFields[entity] && rec.data.custom_fields && typeof rec.data.custom_fields === 'object') rec.data.custom_fields = { ...this.custom(entity), ...(rec.data.custom_fields as Json) };
    rec.data.id = rec.id;
    rec.ts = t;
    this.stamp(source, entity, rec, rec.addTs, t);
    this.touched(source, entity);
    return rec.data;
  }

  /** Deletes a record the way the API shows deletions (see the module comment). */
  remove(source: SourceName, entity: string, id?: number): Json {
    const rec = this.find(source, entity, id);
    this.markDeleted(source, entity, rec, this.changeTime(rec));
    this.touched(source, entity);
    return rec.data;
  }

  private find(source: SourceName, entity: string, id?: number): StoredRecord {
    const t = this.table(source, entity);
    if (id !== undefined) {
      const rec = t.get(id);
      if (!rec) throw new RangeError(`no ${source} ${entity} with id ${id}`);
      return rec;
    }
    // A fields entity: only custom fields are renamed or deleted (Pipedrive's standard ones stay).
    const live = [...t.values()].filter((r) => !r.deleted && (source !== 'pipedrive' || !PIPEDRIVE_FIELDS_OF[entity] || r.data.edit_flag === true));
    if (!live.length) throw new RangeError(`no live ${source} ${entity} left`);
    return live[Math.floor(this.rng() * live.length)]!;
  }

  private markDeleted(source: SourceName, entity: string, rec: StoredRecord, ts: number): void {
    rec.deleted = true;
    rec.ts = ts;
    const d = rec.data;
    if (source === 'pipedrive') {
      if (entity === 'users' || PIPEDRIVE_FIELDS_OF[entity]) d.active_flag = false;
      else d.is_deleted = true;
      if (entity === 'deals') d.status = 'deleted';
    } else if (entity === 'tickets') d.status = 'deleted';
    else if (entity === 'users') d.active = false;
    else if (entity === 'organizations') d.deleted_at = iso(ts);
    else if (entity === 'groups') d.deleted = true;
    else d.active = false;
    this.stamp(source, entity, rec, rec.addTs, ts);
  }

  private stamp(source: SourceName, entity: string, rec: StoredRecord, addTs: number, ts: number): void {
    const d = rec.data;
    if (source === 'pipedrive') {
      if (entity === 'users') {
        d.created = v1Time(addTs);
        d.modified = v1Time(ts);
      } else if (PIPEDRIVE_FIELDS_OF[entity]) {
        d.add_time = v1Time(addTs);
        d.update_time = v1Time(ts);
      } else {
        d.add_time = iso(addTs);
        d.update_time = iso(ts);
      }
    } else {
      d.created_at = iso(addTs);
      d.updated_at = iso(ts);
      if (entity === 'tickets') d.generated_timestamp = Math.floor(ts / 1000);
    }
  }

  /** Values of the entity's active custom fields, keyed by field key, as API v2 writes them. */
  private custom(entity: string): Json {
    const out: Json = {};
    for (const f of this.customFields[entity] ?? []) {
      const d = f.data;
      if (d.active_flag !== true) continue;
      const options = Array.isArray(d.options) ? (d.options as Json[]).map((o) => o.id) : [];
      out[String(d.key)] = this.fieldValue(String(d.field_type), options);
    }
    return out;
  }

  private fieldValue(type: string, options: unknown[]): unknown {
    if (this.rng() < 0.15) return null;
    switch (type) {
      case 'enum':
        return options.length ? this.pick(options) : null;
      case 'set':
        return options.filter(() => this.rng() < 0.4);
      case 'monetary':
        return { value: rawNumber((this.int(0, 5_000_000) / 100).toFixed(2)), currency: this.pick(['EUR', 'USD', 'NOK']) };
      case 'double':
        return rawNumber(String(this.int(1, 99)));
      case 'date':
        return new Date(Date.UTC(2025, this.int(0, 11), this.int(1, 28))).toISOString().slice(0, 10);
      default:
        return this.pick(['north', 'south', 'key account', 'REF-' + this.hex(6)]);
    }
  }

  /** The next field of a fields entity: its standard fields first, then custom ones. */
  private field(entity: string, id: number): Json {
    const of = PIPEDRIVE_FIELDS_OF[entity]!;
    const i = this.fieldsMade.get(entity) ?? 0;
    this.fieldsMade.set(entity, i + 1);
    const standard = STANDARD_FIELDS[of]!;
    const custom = CUSTOM_FIELDS[of]!;
    let def: FieldDef;
    if (i < standard.length) def = standard[i]!;
    else if (i - standard.length < custom.length) def = custom[i - standard.length]!;
    else {
      const k = i - standard.length - custom.length;
      const extra = EXTRA_CUSTOM_FIELDS[k % EXTRA_CUSTOM_FIELDS.length]!;
      def = k < EXTRA_CUSTOM_FIELDS.length ? extra : { ...extra, name: `${extra.name} ${Math.floor(k / EXTRA_CUSTOM_FIELDS.length) + 1}` };
    }
    const isCustom = def.key === undefined;
    return {
      id,
      key: def.key ?? this.hex(40),
      name: def.name,
      order_nr: i + 1,
      field_type: def.field_type,
      last_updated_by_user_id: this.someId('pipedrive', 'users'),
      active_flag: true,
      edit_flag: isCustom,
      index_visible_flag: true,
      details_visible_flag: true,
      add_visible_flag: true,
      important_flag: false,
      bulk_edit_allowed: true,
      filtering_allowed: true,
      sortable_flag: true,
      mandatory_flag: false,
      ...(def.options
        ? { options: def.options.map((o) => (typeof o === 'string' && !isCustom ? { id: o, label: o[0]!.toUpperCase() + o.slice(1) } : { id: this.nextOptionId++, label: o })) }
        : {}),
    };
  }

  private generate(source: SourceName, entity: string, id: number): Json {
    const name = () => `${this.pick(FIRST)} ${this.pick(LAST)}`;
    const company = () => `${this.pick(COMPANY)} ${this.pick(SUFFIX)}`;
    if (source === 'pipedrive') {
      if (PIPEDRIVE_FIELDS_OF[entity]) return this.field(entity, id);
      switch (entity) {
        case 'users': {
          const n = name();
          return { id, name: n, email: `${n.toLowerCase().replace(/[^a-z]+/g, '.')}.${id}@example.com`, active_flag: true, is_admin: this.rng() < 0.2, role_id: 1, timezone_name: 'Europe/Oslo' };
        }
        case 'pipelines':
          return { id, name: this.pick(['Sales', 'Partners', 'Renewals', 'Enterprise']), order_nr: id, is_deleted: false, is_deal_probability_enabled: true };
        case 'stages':
          return { id, pipeline_id: this.someId('pipedrive', 'pipelines') ?? 1, name: this.pick(['Lead in', 'Contact made', 'Demo', 'Proposal', 'Negotiation']), order_nr: this.int(1, 5), deal_probability: this.int(0, 100), is_deleted: false, is_deal_rot_enabled: false, days_to_rotten: null };
        case 'organizations':
          return { id, name: company(), owner_id: this.someId('pipedrive', 'users'), address: { value: `${this.int(1, 200)} Main Street`, country: this.pick(['NO', 'DE', 'FR', 'GB', 'US']) }, is_deleted: false, visible_to: 3, custom_fields: this.custom('organizations') };
        case 'persons': {
          const n = name();
          return { id, name: n, owner_id: this.someId('pipedrive', 'users'), org_id: this.someId('pipedrive', 'organizations'), emails: [{ value: `${n.toLowerCase().replace(/[^a-z]+/g, '.')}@example.org`, primary: true, label: 'work' }], phones: [{ value: `+47 ${this.int(40000000, 99999999)}`, primary: true, label: 'mobile' }], is_deleted: false, visible_to: 3, custom_fields: this.custom('persons') };
        }
        case 'deals': {
          const stage = this.someId('pipedrive', 'stages');
          return {
            id,
            title: `${company()} deal`,
            value: rawNumber((this.int(100, 2_000_000) / 100).toFixed(2)),
            currency: this.pick(['EUR', 'USD', 'NOK']),
            status: this.pick(['open', 'open', 'open', 'won', 'lost']),
            stage_id: stage,
            pipeline_id: stage === null ? null : (this.get('pipedrive', 'stages', stage)?.data.pipeline_id ?? null),
            person_id: this.someId('pipedrive', 'persons'),
            org_id: this.someId('pipedrive', 'organizations'),
            owner_id: this.someId('pipedrive', 'users'),
            probability: null,
            expected_close_date: new Date(Date.UTC(2025, this.int(0, 11), this.int(1, 28))).toISOString().slice(0, 10),
            is_deleted: false,
            custom_fields: this.custom('deals'),
          };
        }
        case 'activities':
          return { id, subject: this.pick(['Call', 'Follow-up', 'Demo', 'Lunch', 'Send proposal']), type: this.pick(['call', 'meeting', 'email', 'task']), deal_id: this.someId('pipedrive', 'deals'), person_id: this.someId('pipedrive', 'persons'), org_id: this.someId('pipedrive', 'organizations'), owner_id: this.someId('pipedrive', 'users'), due_date: new Date(Date.UTC(2025, this.int(0, 11), this.int(1, 28))).toISOString().slice(0, 10), done: this.rng() < 0.6, is_deleted: false };
      }
    } else {
      switch (entity) {
        case 'groups':
          return { id, name: this.pick(['Support', 'Billing', 'Escalations', 'Onboarding', 'VIP']), description: '', default: id === ID_BASE['zendesk/groups'], deleted: false, is_public: true };
        case 'ticket_fields':
          return { id, type: this.pick(['text', 'tagger', 'checkbox', 'integer', 'decimal']), title: this.pick(['Product', 'Plan', 'Region', 'Severity', 'Order number']), active: true, required: false, position: this.int(1, 50) };
        case 'ticket_forms':
          return { id, name: this.pick(['Default form', 'Billing form', 'Bug report']), active: true, default: id === ID_BASE['zendesk/ticket_forms'], position: this.int(1, 9), ticket_field_ids: [...this.table('zendesk', 'ticket_fields').keys()].slice(0, 5) };
        case 'organizations':
          return { id, name: company(), domain_names: [`${this.pick(COMPANY).toLowerCase()}.example`], group_id: this.someId('zendesk', 'groups'), tags: [this.pick(['gold', 'silver', 'trial'])], deleted_at: null, organization_fields: { segment: this.pick(['smb', 'mid', 'enterprise']) } };
        case 'users': {
          const n = name();
          return { id, name: n, email: `${n.toLowerCase().replace(/[^a-z]+/g, '.')}.${id}@example.net`, role: this.pick(['end-user', 'end-user', 'end-user', 'agent', 'admin']), organization_id: this.someId('zendesk', 'organizations'), active: true, suspended: false, time_zone: 'Europe/Oslo' };
        }
        case 'tickets': {
          const fields = [...this.table('zendesk', 'ticket_fields').keys()].slice(0, 3);
          return {
            id,
            subject: this.pick(TICKET_SUBJECTS),
            status: this.pick(['new', 'open', 'pending', 'solved', 'closed']),
            priority: this.pick(['low', 'normal', 'high', 'urgent', null]),
            type: this.pick(['question', 'incident', 'problem', 'task']),
            requester_id: this.someId('zendesk', 'users'),
            organization_id: this.someId('zendesk', 'organizations'),
            group_id: this.someId('zendesk', 'groups'),
            ticket_form_id: this.someId('zendesk', 'ticket_forms'),
            tags: [this.pick(['billing', 'login', 'bug', 'vip'])],
            // Custom field values as Zendesk writes them; one an id beyond 2^53 (written exactly).
            custom_fields: fields.map((f, i) => ({ id: f, value: i === 0 ? rawNumber(String(9_007_199_254_740_993n + BigInt(id))) : this.pick(['alpha', 'beta', null]) })),
          };
        }
      }
    }
    throw new RangeError(`the stand-in has no ${source} entity '${entity}'`);
  }

  /** A plausible business change of a record. */
  private change(source: SourceName, entity: string): Json {
    if (source === 'pipedrive') {
      switch (entity) {
        case 'deals': {
          // A stage belongs to one pipeline: a deal moved to a stage is in that stage's pipeline.
          // (The random draws in the order they always had: the same seed gives the same changes.)
          const value = rawNumber((this.int(100, 2_000_000) / 100).toFixed(2));
          const status = this.pick(['open', 'won', 'lost']);
          const stage = this.someId('pipedrive', 'stages');
          const pipeline = stage === null ? undefined : this.get('pipedrive', 'stages', stage)?.data.pipeline_id;
          return { value, status, stage_id: stage, ...(pipeline === undefined ? {} : { pipeline_id: pipeline }) };
        }
        case 'persons':
          return { name: `${this.pick(FIRST)} ${this.pick(LAST)}` };
        case 'organizations':
          return { name: `${this.pick(COMPANY)} ${this.pick(SUFFIX)}` };
        case 'activities':
          return { done: this.rng() < 0.7, subject: this.pick(['Call back', 'Demo', 'Contract review']) };
        case 'users':
          return { name: `${this.pick(FIRST)} ${this.pick(LAST)}` };
        case 'deal_fields':
        case 'person_fields':
        case 'organization_fields':
          return { name: this.pick(FIELD_RENAMES) };
        default:
          return { name: `${this.pick(['Sales', 'Renewals', 'Lead in', 'Proposal'])} ${this.int(1, 9)}` };
      }
    }
    switch (entity) {
      case 'tickets':
        return { status: this.pick(['open', 'pending', 'solved', 'closed']), priority: this.pick(['low', 'normal', 'high', 'urgent']) };
      case 'users':
        return { role: this.pick(['end-user', 'agent']), name: `${this.pick(FIRST)} ${this.pick(LAST)}` };
      case 'organizations':
        return { tags: [this.pick(['gold', 'silver', 'trial', 'churn-risk'])] };
      default:
        return { position: this.int(1, 50) };
    }
  }
}
