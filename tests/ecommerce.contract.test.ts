import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ecommerce from '../shared/datasets/ecommerce_events/contract';
import { openEngine } from '../shared/engine/transform';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { LedgerRow } from '../shared/pipeline/ledger';
import type { Platform } from '../shared/platform';
import { HEADER, prng } from './support/hostileCorpus';
import { freshPlatform } from './support/platform';

/**
 * The e-commerce contract's standardisation rules, on seeded hostile rows through the real
 * pipeline (Azurite + PostgreSQL + DuckDB): whitespace other than spaces around every value,
 * category codes with empty segments, event times with explicit UTC offsets (and garbage ones),
 * and a useful quarantine detail for every reason. What each line must become is written here in
 * plain JS (never read back from the platform): exact UTC instants, category levels, reasons.
 *
 * The worker runs in a time zone that is neither UTC nor a whole hour away (+05:45), so a time
 * parsed or converted in the process's or a session's zone would show.
 */
const PROCESS_ZONE = 'Asia/Kathmandu';
const previousTz = process.env.TZ;
process.env.TZ = PROCESS_ZONE;

const SEED = 20191001;
const TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'] as const;
/** Whitespace that can stand inside a CSV field (\r and \n end a line; they are checked on the SQL below). */
const FIELD_WS = [' ', '\t', '\v', '\f'];
/** Real UTC offsets, in minutes: whole hours, half hours, +05:45, the extremes, and ±0. */
const OFFSETS = [-720, -600, -570, -480, -300, -210, -180, -60, 0, 60, 180, 330, 345, 525, 540, 600, 780, 840];

/** Event times that are not times: offsets that are not offsets, impossible dates, zone names. */
const GARBAGE_TIMES = [
  '2019-10-01 03:00:00+99:00',
  '2019-10-01 03:00:00+15:00',
  '2019-10-01 03:00:00+03:60',
  '2019-10-01 03:00:00+05:',
  '2019-10-01 03:00:00+3:00',
  '2019-10-01 03:00:00+0',
  '2019-10-01 03:00:00 EST',
  '2019-10-01 03:00:00 Europe/Paris',
  '2019-10-01T03:00:00+03:00:00',
  '2019-10-01T03:00:00+03:00Z',
  '2019-13-01 03:00:00+03:00',
  '2019-02-30T10:00:00+01:00',
  'yesterday+03:00',
  '2019-10-01 03:00:00 utc',
  '2019-02-29 00:00:00+01:00',
  '2019-10-01 24:00:00+01:00',
  '2019-02-30T10:00:00Z',
];

type Reason = string;

interface Source {
  event_time: string;
  event_type: string;
  product_id: string;
  category_id: string;
  category_code: string;
  brand: string;
  price: string;
  user_id: string;
  user_session: string;
}

/** What a silver row must hold, computed here. */
interface SilverExpectation {
  t: string; // ISO seconds, UTC, no zone suffix
  event_type: string;
  product_id: string;
  category_id: string | null;
  category_code: string;
  brand: string;
  price: number;
  user_id: string;
  user_session: string;
  category_l1: string;
  category_l2: string | null;
  category_l3: string | null;
  d: string;
  event_hour: number;
}

type Expected =
  | { kind: 'silver'; row: SilverExpectation }
  | { kind: 'quarantine'; reason: Reason; detail: RegExp }
  | { kind: 'duplicate' };

const COLUMNS: (keyof Source)[] = ['event_time', 'event_type', 'product_id', 'category_id', 'category_code', 'brand', 'price', 'user_id', 'user_session'];
const csvLine = (s: Source) => COLUMNS.map((c) => s[c]).join(',');

const two = (n: number) => String(n).padStart(2, '0');
/** Wall-clock text of an instant shifted by `offsetMin` minutes: date and time parts. */
function wall(ms: number, offsetMin: number): { d: string; t: string } {
  const w = new Date(ms + offsetMin * 60_000);
  return { d: `${w.getUTCFullYear()}-${two(w.getUTCMonth() + 1)}-${two(w.getUTCDate())}`, t: `${two(w.getUTCHours())}:${two(w.getUTCMinutes())}:${two(w.getUTCSeconds())}` };
}
function offsetText(min: number, style: 'colon' | 'plain' | 'hours'): string {
  const sign = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  const hh = two(Math.floor(a / 60));
  const mm = two(a % 60);
  return style === 'colon' ? `${sign}${hh}:${mm}` : style === 'plain' ? `${sign}${hh}${mm}` : `${sign}${hh}`;
}
/** ISO seconds of an instant in UTC, without a zone suffix. */
const isoUtc = (ms: number) => new Date(ms).toISOString().slice(0, 19);

/** The category levels of a (trimmed) code, as the seed's rules say: an empty first level is unknown. */
function levels(code: string): { l1: string; l2: string | null; l3: string | null } {
  const parts = code.split('.');
  return { l1: parts[0] || 'unknown', l2: parts[1] || null, l3: parts[2] || null };
}

class Gen {
  private readonly r: () => number;
  private n = 0;
  constructor(seed: number) {
    this.r = prng(seed);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.r() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
  /** 0-3 whitespace characters, at least one tab when `tab`. */
  ws(tab = false): string {
    const s = Array.from({ length: this.int(0, 3) }, () => this.pick(FIELD_WS)).join('');
    return tab ? `${s}\t` : s;
  }
  pad(v: string, tab = false): string {
    return `${this.ws(tab)}${v}${this.ws(tab && this.r() < 0.5)}`;
  }
  /** An instant in October 2019 (whole seconds). */
  instant(): number {
    return Date.UTC(2019, 9, this.int(1, 31), this.int(0, 23), this.int(0, 59), this.int(0, 59));
  }
  /** The instant as text, in one of the accepted forms (with an offset about half the time). */
  timeText(ms: number): string {
    if (this.r() < 0.5) {
      const { d, t } = wall(ms, 0);
      return this.pick([`${d} ${t} UTC`, `${d}T${t}Z`, `${d} ${t}`, `${d}T${t}`, `${d} ${t}Z`, `${d}T${t} UTC`]);
    }
    const off = this.pick(OFFSETS);
    const { d, t } = wall(ms, off);
    const style = off % 60 === 0 ? this.pick(['colon', 'plain', 'hours'] as const) : this.pick(['colon', 'plain'] as const);
    return `${d}${this.pick([' ', 'T'])}${t}${offsetText(off, style)}`;
  }
  /** A clean event (standard values) with a session of its own. */
  event(): { ms: number; type: string; product: string; category: string; code: string; brand: string; price: string; user: string; session: string } {
    this.n++;
    return {
      ms: this.instant(),
      type: this.pick(TYPES),
      product: String(this.int(1, 60_000_000)),
      category: `20530135556${this.int(10_000_000, 99_999_999)}`,
      code: this.pick(['electronics.smartphone', 'appliances.kitchen.washer', 'computers.notebook', 'apparel.shoes', 'kids']),
      brand: this.pick(['apple', 'samsung', 'xiaomi', 'bosch']),
      price: (this.int(0, 250_000) / 100).toFixed(2),
      user: String(this.int(500_000_000, 599_999_999)),
      session: `ecom-${this.n}-${this.int(0, 1e9).toString(36)}`,
    };
  }
}

type Event = ReturnType<Gen['event']>;

function silverOf(e: Event, over: Partial<SilverExpectation> = {}): SilverExpectation {
  const code = over.category_code ?? e.code;
  const { l1, l2, l3 } = levels(code === '' ? 'unknown' : code);
  return {
    t: isoUtc(e.ms),
    event_type: e.type,
    product_id: e.product,
    category_id: e.category,
    category_code: code,
    brand: e.brand,
    price: Number(e.price),
    user_id: e.user,
    user_session: e.session,
    category_l1: l1,
    category_l2: l2,
    category_l3: l3,
    d: isoUtc(e.ms).slice(0, 10),
    event_hour: new Date(e.ms).getUTCHours(),
    ...over,
  };
}

/** A source row of an event, every value padded with whitespace (a tab in most), event_type in random case. */
function paddedSource(g: Gen, e: Event, time = g.timeText(e.ms)): Source {
  const tab = () => g.int(0, 3) > 0;
  const cased = [...e.type].map((ch) => (g.int(0, 1) ? ch.toUpperCase() : ch)).join('');
  return {
    event_time: g.pad(time, tab()),
    event_type: g.pad(cased, tab()),
    product_id: g.pad(e.product, tab()),
    category_id: g.pad(e.category, tab()),
    category_code: g.pad(e.code, tab()),
    brand: g.pad(g.int(0, 1) ? e.brand.toUpperCase() : e.brand, tab()),
    price: g.pad(e.price, tab()),
    user_id: g.pad(e.user, tab()),
    user_session: g.pad(e.session, tab()),
  };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * A detail pattern that names the column and shows its source value as JSON text (\u escapes in
 * either case; an empty CSV field may read as "" or NULL).
 */
const detailNaming = (column: string, raw: string, after = '') =>
  new RegExp(`${column}: value ${raw === '' ? '(""|NULL)' : escapeRe(JSON.stringify(raw))}${escapeRe(after)}`, 'i');

interface Built {
  text: string;
  lines: { line: number; expected: Expected; source?: Source }[];
  /** Events that landed, for a later file to repeat. */
  landed: Event[];
}

/** The first file: every defect of the four, plus ordinary quarantine reasons and duplicates. */
function buildFile(g: Gen): Built {
  const body: { text: string; expected: Expected; source?: Source }[] = [];
  const landed: Event[] = [];
  const keep = (e: Event, s: Source, over: Partial<SilverExpectation> = {}) => {
    body.push({ text: csvLine(s), source: s, expected: { kind: 'silver', row: silverOf(e, over) } });
    landed.push(e);
  };

  // 1 + 3: whitespace around every value, times in every accepted form (offsets converted).
  for (let i = 0; i < 240; i++) {
    const e = g.event();
    keep(e, paddedSource(g, e));
  }
  // The examples of the defect report, exactly.
  for (const [time, utc] of [
    ['2019-10-01 03:00:00+03:00', '2019-10-01T00:00:00'],
    ['2019-10-01T03:00:00+0300', '2019-10-01T00:00:00'],
    ['2019-10-01T00:00:00Z', '2019-10-01T00:00:00'],
    ['2019-10-01 00:00:00 UTC', '2019-10-01T00:00:00'],
    ['2019-10-01 01:30:00+05:45', '2019-09-30T19:45:00'],
    ['2019-09-30 19:00:00-05:00', '2019-10-01T00:00:00'],
    ['2019-10-01 00:00:00-00:00', '2019-10-01T00:00:00'],
    ['2019-10-31 23:30:00-12:00', '2019-11-01T11:30:00'],
    ['2019-10-01 13:59:00+14:00', '2019-09-30T23:59:00'],
  ] as const) {
    const e = { ...g.event(), ms: Date.parse(`${utc}Z`) };
    keep(e, { ...paddedSource(g, e), event_time: `\t${time}\t` });
  }
  // The other examples: "\tview", "123\t".
  {
    const e = { ...g.event(), type: 'view', product: '123' };
    keep(e, { ...paddedSource(g, e), event_type: '\tview', product_id: '123\t' });
  }

  // 2: category codes with empty segments (and blank ones), padded too.
  for (const code of ['..', '.x', '.', '.x.y', '..z', 'a..b', 'a.b.', 'a.', '...', 'x', '\t', '\v \f']) {
    const trimmed = code.replace(/^[ \t\v\f]+|[ \t\v\f]+$/g, '');
    const e = { ...g.event(), code: trimmed };
    keep(e, { ...paddedSource(g, e), category_code: g.pad(code, true) }, { category_code: trimmed || 'unknown' });
  }

  // 1: whitespace-only values are blank (NULL), exactly like spaces: never invalid_<column>.
  const quarantine = (s: Source, reason: Reason, detail: RegExp) => body.push({ text: csvLine(s), source: s, expected: { kind: 'quarantine', reason, detail } });
  const blankCases: [keyof Source, Reason][] = [
    ['event_time', 'valid_event_time'],
    ['event_type', 'valid_event_type'],
    ['product_id', 'valid_product_id'],
    ['price', 'valid_price'],
    ['user_id', 'valid_user_id'],
    ['user_session', 'valid_user_session'],
  ];
  for (const [column, reason] of blankCases) {
    for (const blank of ['\t', ' \t\f ', '\v']) {
      const s = { ...paddedSource(g, g.event()), [column]: blank };
      quarantine(s, reason, detailNaming(column, blank));
    }
  }
  for (const blank of ['\t', '\f\v']) {
    const e = g.event();
    keep(e, { ...paddedSource(g, e), brand: blank, category_id: blank }, { brand: 'unknown', category_id: null });
  }

  // 3: garbage times still quarantine, offsets that are not offsets included.
  for (const bad of GARBAGE_TIMES) {
    const s = { ...paddedSource(g, g.event()), event_time: g.pad(bad, true) };
    quarantine(s, 'invalid_event_time', detailNaming('event_time', s.event_time, ' is not a valid timestamp'));
  }

  // 4: every other reason, each with a detail naming what failed.
  const other: [Partial<Source>, Reason, RegExp][] = [
    [{ user_session: '' }, 'valid_user_session', detailNaming('user_session', '')],
    [{ user_session: '   ' }, 'valid_user_session', detailNaming('user_session', '   ')],
    [{ event_type: 'click' }, 'valid_event_type', detailNaming('event_type', 'click')],
    [{ product_id: '0' }, 'valid_product_id', detailNaming('product_id', '0')],
    [{ user_id: '\t-3' }, 'valid_user_id', detailNaming('user_id', '\t-3')],
    [{ price: '-1\t' }, 'valid_price', detailNaming('price', '-1\t')],
    [{ price: '100000.01' }, 'valid_price', detailNaming('price', '100000.01')],
    [{ event_time: '' }, 'valid_event_time', detailNaming('event_time', '')],
    [{ price: 'abc' }, 'invalid_price', /price: value "abc" is not a valid double/],
    [{ product_id: '\t1.5\t' }, 'invalid_product_id', detailNaming('product_id', '\t1.5\t', ' is not a valid bigint')],
    [{ category_id: 'x' }, 'invalid_category_id', /category_id: value "x" is not a valid bigint/],
  ];
  for (const [over, reason, detail] of other) quarantine({ ...paddedSource(g, g.event()), ...over }, reason, detail);
  body.push({ text: csvLine(paddedSource(g, g.event())).split(',').slice(0, 8).join(','), expected: { kind: 'quarantine', reason: 'malformed_row', detail: /expected 9 fields/ } });

  g.shuffle(body);

  // Duplicates after their first occurrence: the same event with other padding, case and time form
  // (an offset form of the same instant is the same event: offsets are converted, not dropped).
  const dups: { text: string; expected: Expected; source?: Source }[] = [];
  for (const e of g.shuffle([...landed]).slice(0, 40)) {
    const off = g.pick(OFFSETS.filter((o) => o !== 0));
    const { d, t } = wall(e.ms, off);
    dups.push({ text: csvLine(paddedSource(g, e, `${d}T${t}${offsetText(off, 'colon')}`)), expected: { kind: 'duplicate' } });
  }
  const all = [...body, ...dups];
  return {
    text: `${[HEADER, ...all.map((x) => x.text)].join('\r\n')}\r\n`,
    lines: all.map((x, i) => ({ line: i + 2, expected: x.expected, source: x.source })),
    landed,
  };
}

function eventId(r: SilverExpectation): string {
  return createHash('sha256').update(`${r.t}.000000Z|${r.user_id}|${r.product_id}|${r.user_session}|${r.event_type}`).digest('hex');
}

function count<T>(xs: T[], f: (x: T) => boolean): number {
  return xs.filter(f).length;
}

function put(p: Platform, file: string, text: string): Promise<unknown> {
  return p.lake.write('bronze', file, Readable.from([Buffer.from(text, 'utf8')]));
}

/** The contract's typed column SQL, evaluated on one source row in a plain DuckDB connection. */
async function typedValues(con: DuckDBConnection, src: Partial<Source>, columns: string[]): Promise<Record<string, unknown>> {
  const lit = (v: string | undefined) => (v === undefined ? 'CAST(NULL AS VARCHAR)' : `'${v.replace(/'/g, "''")}'`);
  const from = `(SELECT ${COLUMNS.map((c) => `${lit(src[c])} AS ${c}`).join(', ')})`;
  const select = columns.map((name) => {
    const c = ecommerce.typed.find((t) => t.name === name)!;
    return c.type === 'timestamp' ? `strftime((${c.sql}), '%Y-%m-%dT%H:%M:%S') AS ${name}, typeof(${c.sql}) AS ${name}_type` : `(${c.sql}) AS ${name}`;
  });
  return (await con.runAndReadAll(`SELECT ${select.join(', ')} FROM ${from}`)).getRowObjectsJson()[0] as Record<string, unknown>;
}

describe('ecommerce_events contract: whitespace, category levels, UTC offsets, quarantine details', () => {
  let platform: Platform;
  let built: Built;
  let ledger: LedgerRow;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;
  let spill: string;

  beforeAll(async () => {
    ({ platform } = await freshPlatform({ datasets: ['ecommerce_events'] }));
    duck = await DuckDBInstance.create(':memory:', { memory_limit: '128MB', threads: '1' });
    con = await duck.connect();
    spill = await mkdtemp(path.join(os.tmpdir(), 'ecom-contract-'));
    built = buildFile(new Gen(SEED));
    await put(platform, 'ecommerce_events/contract/a.csv', built.text);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/contract/a.csv');
    expect(r.outcome).toBe('succeeded');
    ledger = r.ledger!;
  });
  afterAll(async () => {
    con?.closeSync();
    duck?.closeSync();
    await platform?.close();
    if (spill) await rm(spill, { recursive: true, force: true });
    if (previousTz === undefined) delete process.env.TZ;
    else process.env.TZ = previousTz;
  });

  it('runs where the local time zone is not UTC, and the engine session is UTC anyway', async () => {
    // +05:45 in October 2019 (no DST in Nepal): a conversion through local time would be off by it.
    expect(new Date('2019-10-01T00:00:00Z').getTimezoneOffset()).toBe(-345);
    const engine = await openEngine({ memoryLimit: '64MB', spillDir: spill });
    try {
      const tz = (await engine.con.runAndReadAll(`SELECT current_setting('TimeZone') AS tz`)).getRowObjectsJson()[0]!.tz;
      expect(tz).toBe('UTC');
    } finally {
      engine.close();
    }
  });

  it('accounts for every line: rows read = silver + quarantined + duplicates, each as computed here', () => {
    const lines = built.lines;
    const silver = count(lines, (l) => l.expected.kind === 'silver');
    const duplicates = count(lines, (l) => l.expected.kind === 'duplicate');
    const reasons: Record<string, number> = {};
    for (const l of lines) if (l.expected.kind === 'quarantine') reasons[l.expected.reason] = (reasons[l.expected.reason] ?? 0) + 1;
    expect(ledger.rows_read).toBe(lines.length);
    expect(ledger.rows_silver).toBe(silver);
    expect(ledger.duplicates_in_file).toBe(duplicates);
    expect(ledger.duplicates_cross_file).toBe(0);
    expect(ledger.quarantine_reasons).toEqual(reasons);
    expect(ledger.rows_read).toBe(ledger.rows_silver! + ledger.rows_quarantined! + ledger.duplicates_in_file! + ledger.duplicates_cross_file!);
    // The file was built to provoke each defect.
    expect(silver).toBeGreaterThan(250);
    expect(duplicates).toBe(40);
    expect(reasons.invalid_event_time).toBe(GARBAGE_TIMES.length);
  });

  it('every silver row holds the standardised values, exact UTC instant and category levels computed here', async () => {
    const { rows } = await platform.pool.query(
      `SELECT source_line::int AS line, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS t, event_type, product_id::text AS product_id,
              category_id::text AS category_id, category_code, brand, price, user_id::text AS user_id, user_session,
              category_l1, category_l2, category_l3, event_date::text AS d, event_hour, event_id
         FROM silver.ecommerce_events ORDER BY source_line`,
    );
    const expected = built.lines.filter((l) => l.expected.kind === 'silver');
    expect(rows.map((r) => r.line)).toEqual(expected.map((l) => l.line));
    for (const [i, l] of expected.entries()) {
      const want = (l.expected as { row: SilverExpectation }).row;
      expect({ ...rows[i] }, `line ${l.line}: ${JSON.stringify(l.source)}`).toEqual({ line: l.line, ...want, event_id: eventId(want) });
    }
    // The defects' own examples.
    const byLine = new Map(rows.map((r) => [r.line as number, r]));
    const tabbed = expected.find((l) => l.source?.event_type === '\tview' && l.source.product_id === '123\t')!;
    expect(byLine.get(tabbed.line)).toMatchObject({ event_type: 'view', product_id: '123' });
    const moscow = expected.find((l) => l.source?.event_time === '\t2019-10-01 03:00:00+03:00\t')!;
    expect(byLine.get(moscow.line)).toMatchObject({ t: '2019-10-01T00:00:00', d: '2019-10-01', event_hour: 0 });
    for (const code of ['..', '.x', '.', '...']) {
      const l = expected.find((x) => x.source?.category_code.replace(/^[ \t\v\f]+|[ \t\v\f]+$/g, '') === code)!;
      expect(byLine.get(l.line)).toMatchObject({ category_code: code, category_l1: 'unknown' });
    }
    const { rows: empty } = await platform.pool.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events WHERE category_l1 = '' OR category_l2 = '' OR category_l3 = ''`);
    expect(empty[0].n).toBe(0);
  });

  it('every quarantined row has its reason and a detail that names what failed (user_session included)', async () => {
    const { rows } = await platform.pool.query(
      `SELECT source_line::int AS line, quarantine_reason AS reason, quarantine_detail AS detail FROM silver.ecommerce_events_quarantine ORDER BY source_line`,
    );
    const expected = built.lines.filter((l) => l.expected.kind === 'quarantine');
    expect(rows.map((r) => [r.line, r.reason])).toEqual(expected.map((l) => [l.line, (l.expected as { reason: string }).reason]));
    for (const [i, l] of expected.entries()) {
      const { detail } = rows[i]!;
      expect(typeof detail === 'string' && detail.trim().length > 0, `line ${l.line} (${rows[i]!.reason}) has no detail`).toBe(true);
      expect(detail, `line ${l.line}`).toMatch((l.expected as { detail: RegExp }).detail);
    }
    const session = rows.filter((r) => r.reason === 'valid_user_session');
    expect(session.length).toBeGreaterThan(0);
    for (const r of session) expect(r.detail).toMatch(/user_session/);
  });

  it('a second file repeating landed events in other offsets and whitespace adds nothing: cross-file duplicates', async () => {
    const g = new Gen(SEED + 1);
    const again = built.landed.slice(0, 25);
    const lines = again.map((e) => {
      const off = g.pick(OFFSETS.filter((o) => o !== 0));
      const { d, t } = wall(e.ms, off);
      return csvLine(paddedSource(g, e, `${d} ${t}${offsetText(off, 'plain')}`));
    });
    const fresh = g.event();
    lines.push(csvLine(paddedSource(g, fresh)));
    await put(platform, 'ecommerce_events/contract/b.csv', `${[HEADER, ...lines].join('\n')}\n`);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/contract/b.csv');
    expect(r.outcome).toBe('succeeded');
    expect(r.ledger).toMatchObject({ rows_read: 26, rows_silver: 1, rows_quarantined: 0, duplicates_in_file: 0, duplicates_cross_file: 25 });
    const { rows } = await platform.pool.query(`SELECT to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') AS t FROM silver.ecommerce_events WHERE user_session = $1`, [fresh.session]);
    expect(rows).toEqual([{ t: isoUtc(fresh.ms) }]);
  });

  it('a zero price keeps its sign in silver (DuckDB\'s Parquet dictionary would give every zero the first one\'s sign)', async () => {
    // More rows than DuckDB writes without a dictionary (4), signs mixed, keys unique.
    const signs = Array.from({ length: 60 }, (_, i) => ['0', '-0', '-0.0', '0.00', '+0'][i % 5]!);
    const lines = signs.map((p, i) => `2019-10-05 00:00:${String(i % 60).padStart(2, '0')} UTC,view,${700000 + i},1,,zero,${p},990001,zero-${i}`);
    await put(platform, 'ecommerce_events/contract/zeros.csv', `${[HEADER, ...lines].join('\n')}\n`);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/contract/zeros.csv');
    expect(r.ledger).toMatchObject({ rows_read: 60, rows_silver: 60 });
    const { rows } = await platform.pool.query(`SELECT product_id::int - 700000 AS i, price::text AS p FROM silver.ecommerce_events WHERE user_id = 990001 ORDER BY 1`);
    expect(rows.map((x) => x.p)).toEqual(signs.map((p) => (p.startsWith('-') ? '-0' : '0')));
  });

  it("the contract's SQL gives the same UTC instant in any session time zone, and trims \\r and \\n too", async () => {
    const cases: [string, string | null][] = [
      ['2019-10-01 03:00:00+03:00', '2019-10-01T00:00:00'],
      ['2019-10-01T03:00:00+0300', '2019-10-01T00:00:00'],
      ['2019-10-01T03:00:00+03', '2019-10-01T00:00:00'],
      ['2019-10-01T00:00:00Z', '2019-10-01T00:00:00'],
      ['2019-10-01 00:00:00 UTC', '2019-10-01T00:00:00'],
      ['2019-10-01 00:00:00', '2019-10-01T00:00:00'],
      ['2019-10-01 05:45:00+05:45', '2019-10-01T00:00:00'],
      ['2019-09-30 20:00:00-04:00', '2019-10-01T00:00:00'],
      ['\r\n 2019-10-01 03:00:00+03:00 \r\n', '2019-10-01T00:00:00'],
      ['2019-10-01 03:00:00+99:00', null],
      ['2019-10-01 03:00:00 EST', null],
      ['garbage', null],
    ];
    for (const zone of ['UTC', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Kiritimati']) {
      await con.run(`SET TimeZone = '${zone}'`);
      for (const [text, utc] of cases) {
        const v = await typedValues(con, { event_time: text }, ['event_time']);
        expect(v.event_time, `${JSON.stringify(text)} in session ${zone}`).toBe(utc);
        expect(v.event_time_type).toBe('TIMESTAMP');
      }
    }
    await con.run(`SET TimeZone = 'UTC'`);
    const v = await typedValues(
      con,
      { event_type: '\r\n\tVIEW\v\f ', product_id: '\r123\n', category_code: '\n..\r', brand: '\r\n', user_session: '\t\n\v\f\r ', price: '\r1.5\n' },
      ['event_type', 'product_id', 'category_code', 'brand', 'user_session', 'price'],
    );
    expect(v).toEqual({ event_type: 'view', product_id: '123', category_code: '..', brand: 'unknown', user_session: null, price: 1.5 });
  });
});
