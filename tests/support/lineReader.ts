import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';

/**
 * An INDEPENDENT reading of docs/ingestion.md for the `ecommerce_events` contract: it never calls
 * the platform's code. Raw bytes in, the accounting the platform must report out. Lines are split
 * by hand, every data line is parsed on its own with `csv-parse` (strict: no relax options), and
 * the contract's rules (shared/datasets/ecommerce_events/contract.ts) are applied in plain JS.
 */

export const MAX_LINE_BYTES = 1024 * 1024;
export const RAW_KEEP_BYTES = 64 * 1024;

export type LineReason = 'nul_byte' | 'invalid_utf8' | 'line_too_long' | 'unclosed_quote' | 'malformed_row';

export interface ExpectedQuarantine {
  line: number;
  reason: string;
  /** The physical line's bytes (after decoding to UTF-8) for raw_line checks. */
  raw: Buffer;
}

export interface ExpectedSilver {
  line: number;
  /** The dedup key as canonical text (event_time|user_id|product_id|user_session|event_type). */
  key: string;
  brand: string;
  price: number;
}

export interface Refusal {
  kind: 'duplicate_column' | 'missing_columns' | 'binary_header' | 'header_too_long' | 'empty';
  /** What the platform's message must say. */
  message: RegExp;
}

export interface ExpectedFile {
  refused?: Refusal;
  gzip: boolean;
  encoding: 'utf-8' | 'utf-16le' | 'utf-16be';
  /** Physical lines, header included. */
  lines: number;
  rowsRead: number;
  blankLines: number;
  quarantined: ExpectedQuarantine[];
  quarantineReasons: Record<string, number>;
  duplicatesInFile: number;
  duplicatesCrossFile: number;
  silver: ExpectedSilver[];
  warnings: Record<string, number>;
}

export interface ReadOptions {
  /** Start of the ingestion run: event times after runStart + 1 day are invalid. */
  runStart: Date;
  /** Dedup keys of rows already in silver (cross-file duplicates); updated with this file's rows. */
  seen?: Set<string>;
}

/** The source columns of ecommerce_events, in contract order. */
export const COLUMNS = ['event_time', 'event_type', 'product_id', 'category_id', 'category_code', 'brand', 'price', 'user_id', 'user_session'] as const;
type Column = (typeof COLUMNS)[number];

const EVENT_TYPES = new Set(['view', 'cart', 'remove_from_cart', 'purchase']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------------------------------------
// Bytes → lines

/** gzip by magic bytes, then BOM detection: UTF-8 bytes of the content and its encoding. */
export function decodeContent(stored: Buffer): { text: Buffer; gzip: boolean; encoding: ExpectedFile['encoding'] } {
  const gzip = stored.length >= 2 && stored[0] === 0x1f && stored[1] === 0x8b;
  const b = gzip ? gunzipSync(stored) : stored;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return { text: b.subarray(3), gzip, encoding: 'utf-8' };
  if (b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) return { text: Buffer.from(utf16(b.subarray(2), true), 'utf8'), gzip, encoding: 'utf-16le' };
  if (b.length >= 2 && b[0] === 0xfe && b[1] === 0xff) return { text: Buffer.from(utf16(b.subarray(2), false), 'utf8'), gzip, encoding: 'utf-16be' };
  return { text: b, gzip, encoding: 'utf-8' };
}

/** UTF-16 code units to a JS string, by hand (little or big endian). */
function utf16(b: Buffer, little: boolean): string {
  const units: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) units.push(little ? b[i]! | (b[i + 1]! << 8) : (b[i]! << 8) | b[i + 1]!);
  let out = '';
  for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096));
  return out;
}

/** Physical lines: each of \r\n, \n and a lone \r ends one line; the last line needs no ending. */
export function splitLines(b: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x0a || c === 0x0d) {
      lines.push(b.subarray(start, i));
      if (c === 0x0d && b[i + 1] === 0x0a) i++;
      start = i + 1;
    }
  }
  if (start < b.length) lines.push(b.subarray(start));
  return lines;
}

export function isBlankLine(b: Buffer): boolean {
  for (const c of b) if (c !== 0x20 && c !== 0x09) return false;
  return true;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
function validUtf8(b: Buffer): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

const CSV_OPTIONS = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  bom: false,
  relax_quotes: false,
  relax_column_count: false,
  skip_empty_lines: false,
  skip_records_with_error: false,
  trim: false,
  ltrim: false,
  rtrim: false,
  record_delimiter: '\n',
} as const;

/**
 * One data line (no line ending) → its fields, or the line-level defect (spec order: length, NUL,
 * UTF-8, unclosed quote, malformed). A quote inside an unquoted value is a literal character
 * (csv-parse's relax_quotes); a quoted field must start right after the delimiter and end right
 * before the next one: blanks before its opening quote or after its closing quote are malformed.
 */
export function classifyLine(b: Buffer, width: number): { reason: LineReason } | { fields: string[] } {
  if (b.length > MAX_LINE_BYTES) return { reason: 'line_too_long' };
  if (b.includes(0)) return { reason: 'nul_byte' };
  if (!validUtf8(b)) return { reason: 'invalid_utf8' };
  const text = b.toString('utf8');
  const code = (e: unknown) => String((e as { code?: string }).code ?? '');
  let records: string[][];
  try {
    records = parse(text, CSV_OPTIONS) as string[][];
  } catch (e) {
    if (code(e) === 'CSV_QUOTE_NOT_CLOSED') return { reason: 'unclosed_quote' };
    // Only a quote inside an unquoted value is allowed (a literal): read again with relax_quotes.
    if (!code(e).includes('OPENING_QUOTE')) return { reason: 'malformed_row' };
    try {
      records = parse(text, { ...CSV_OPTIONS, relax_quotes: true }) as string[][];
    } catch (e2) {
      return { reason: code(e2) === 'CSV_QUOTE_NOT_CLOSED' ? 'unclosed_quote' : 'malformed_row' };
    }
  }
  if (records.length !== 1 || records[0]!.length !== width) return { reason: 'malformed_row' };
  // relax_quotes reads ` "x"` as an unquoted value: by the spec, blanks before a quote are misplaced.
  if (records[0]!.some((f) => /^[ \t]+"/.test(f))) return { reason: 'malformed_row' };
  return { fields: records[0]! };
}

// ---------------------------------------------------------------------------------------------
// Header

/** Header name → comparable form: trimmed, camelCase split, lower case, spaces/dashes/dots as '_'. */
export function normalizeHeaderName(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[\s\-.]+/g, '_');
}

function readHeader(b: Buffer): { positions: Record<Column, number>; width: number } | Refusal {
  if (b.length > MAX_LINE_BYTES) return { kind: 'header_too_long', message: /longer than/ };
  if (b.includes(0) || !validUtf8(b)) return { kind: 'binary_header', message: /binary or not text/ };
  let names: string[];
  try {
    names = (parse(b.toString('utf8'), CSV_OPTIONS) as string[][])[0] ?? [''];
  } catch {
    names = b.toString('utf8').split(',');
  }
  const norm = names.map(normalizeHeaderName);
  const seen = new Set<string>();
  for (const n of norm) {
    if (seen.has(n)) return { kind: 'duplicate_column', message: new RegExp(`'${n}' twice`) };
    seen.add(n);
  }
  const missing = COLUMNS.filter((c) => !norm.includes(c));
  if (missing.length) return { kind: 'missing_columns', message: new RegExp(`missing required column\\(s\\): ${missing.join(', ')}`) };
  const positions = Object.fromEntries(COLUMNS.map((c) => [c, norm.indexOf(c)])) as Record<Column, number>;
  return { positions, width: names.length };
}

// ---------------------------------------------------------------------------------------------
// Typing (contract SQL: trim() removes spaces only)

function trimSpaces(s: string): string {
  return s.replace(/^ +| +$/g, '');
}

/** undefined = blank (NULL); null = invalid; else the value. */
function parseInt64(raw: string): bigint | undefined | null {
  const t = trimSpaces(raw);
  if (t === '') return undefined;
  if (!/^[+-]?[0-9]+$/.test(t)) return null;
  const v = BigInt(t);
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

function parseDouble(raw: string): number | undefined | null {
  const t = trimSpaces(raw);
  if (t === '') return undefined;
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

const TIME_PATTERNS = [
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC$/,
  /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/,
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/,
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/,
];

/** Milliseconds since the epoch (UTC) of one of the contract's formats; undefined = blank; null = invalid. */
function parseTime(raw: string): number | undefined | null {
  const t = trimSpaces(raw);
  if (t === '') return undefined;
  for (const re of TIME_PATTERNS) {
    const m = re.exec(t);
    if (!m) continue;
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
    const date = new Date(0);
    date.setUTCFullYear(y, mo - 1, d);
    date.setUTCHours(h, mi, s, 0);
    if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
    return date.getTime();
  }
  return null;
}

const MIN_TIME = Date.UTC(1900, 0, 1);

interface Typed {
  reason?: string;
  key?: string;
  brand?: string;
  price?: number;
}

/** Strict typing then expectations, in the spec's order; a kept row gets its dedup key. */
export function typeRow(values: Record<Column, string>, runStart: Date): Typed {
  const eventTime = parseTime(values.event_time);
  const maxTime = runStart.getTime() + 24 * 3600 * 1000;
  const eventType = trimSpaces(values.event_type).toLowerCase();
  const productId = parseInt64(values.product_id);
  const categoryId = parseInt64(values.category_id);
  const price = parseDouble(values.price);
  const userId = parseInt64(values.user_id);
  const brand = trimSpaces(values.brand).toLowerCase() || 'unknown';
  const session = trimSpaces(values.user_session);
  // invalid_<column>, typed columns in contract order
  if (eventTime === null || (eventTime !== undefined && (eventTime < MIN_TIME || eventTime > maxTime))) return { reason: 'invalid_event_time' };
  if (productId === null) return { reason: 'invalid_product_id' };
  if (categoryId === null) return { reason: 'invalid_category_id' };
  if (price === null) return { reason: 'invalid_price' };
  if (userId === null) return { reason: 'invalid_user_id' };
  // drop expectations, in contract order
  if (eventTime === undefined) return { reason: 'valid_event_time' };
  if (!EVENT_TYPES.has(eventType)) return { reason: 'valid_event_type' };
  if (productId === undefined || productId <= 0n) return { reason: 'valid_product_id' };
  if (userId === undefined || userId <= 0n) return { reason: 'valid_user_id' };
  if (price === undefined || !(price >= 0 && price <= 100000)) return { reason: 'valid_price' };
  if (session === '') return { reason: 'valid_user_session' };
  const key = [new Date(eventTime).toISOString(), userId.toString(), productId.toString(), session, eventType].join('|');
  return { key, brand, price };
}

// ---------------------------------------------------------------------------------------------
// The file

function bump(r: Record<string, number>, k: string, n = 1): void {
  r[k] = (r[k] ?? 0) + n;
}

function emptyResult(gzip: boolean, encoding: ExpectedFile['encoding']): ExpectedFile {
  return { gzip, encoding, lines: 0, rowsRead: 0, blankLines: 0, quarantined: [], quarantineReasons: {}, duplicatesInFile: 0, duplicatesCrossFile: 0, silver: [], warnings: {} };
}

/** What the platform must report for one bronze file of ecommerce_events. */
export function readExpected(stored: Buffer, options: ReadOptions): ExpectedFile {
  if (stored.length === 0) return { ...emptyResult(false, 'utf-8'), refused: { kind: 'empty', message: /empty/ } };
  const { text, gzip, encoding } = decodeContent(stored);
  const res = emptyResult(gzip, encoding);
  const lines = splitLines(text);
  res.lines = lines.length;
  const header = readHeader(lines[0] ?? Buffer.alloc(0));
  if ('kind' in header) return { ...res, refused: header };
  const seenHere = new Set<string>();
  const seenBefore = options.seen ?? new Set<string>();
  const quarantine = (line: number, reason: string, raw: Buffer) => {
    res.quarantined.push({ line, reason, raw });
    bump(res.quarantineReasons, reason);
  };
  for (let i = 1; i < lines.length; i++) {
    const b = lines[i]!;
    const n = i + 1;
    if (isBlankLine(b)) {
      res.blankLines++;
      continue;
    }
    res.rowsRead++;
    const c = classifyLine(b, header.width);
    if ('reason' in c) {
      quarantine(n, c.reason, b);
      continue;
    }
    const values = Object.fromEntries(COLUMNS.map((col) => [col, c.fields[header.positions[col]]!])) as Record<Column, string>;
    const t = typeRow(values, options.runStart);
    if (t.reason) {
      quarantine(n, t.reason, b);
      continue;
    }
    if (seenHere.has(t.key!)) {
      res.duplicatesInFile++;
      continue;
    }
    seenHere.add(t.key!);
    if (seenBefore.has(t.key!)) {
      res.duplicatesCrossFile++;
      continue;
    }
    res.silver.push({ line: n, key: t.key!, brand: t.brand!, price: t.price! });
    if (t.brand === 'unknown') bump(res.warnings, 'known_brand');
    if (t.price === 0) bump(res.warnings, 'nonzero_price');
  }
  for (const k of seenHere) seenBefore.add(k);
  return res;
}

/** The text raw_line must hold for a quarantined line, or a check for the lines the spec bounds loosely. */
export function rawLineMatches(expected: ExpectedQuarantine, actual: string | null): boolean {
  if (actual === null || actual === undefined) return false;
  const b = expected.raw;
  if (expected.reason === 'line_too_long') {
    // The first 64 KiB as text, NUL shown as ␀ (PostgreSQL text holds no NUL).
    return actual.startsWith(b.subarray(0, RAW_KEEP_BYTES - 4).toString('utf8').replace(/\u0000/g, '\u2400')) && Buffer.byteLength(actual) <= RAW_KEEP_BYTES + 3;
  }
  const text = b.toString('utf8'); // invalid bytes → U+FFFD (the spec's raw_line)
  if (expected.reason === 'nul_byte') {
    // PostgreSQL text holds no NUL: any one character may stand for it, the rest is the line.
    if ([...actual].length !== [...text].length) return false;
    const a = [...actual];
    return [...text].every((ch, i) => ch === '\u0000' || ch === a[i]);
  }
  return actual === text;
}

export function sumValues(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

/** Drops zero counts (the ledger may list a warning that never fired). */
export function nonZero(r: Record<string, number> | null | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(r ?? {}).filter(([, v]) => Number(v) !== 0).map(([k, v]) => [k, Number(v)]));
}
