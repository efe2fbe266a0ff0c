import { readFileSync } from 'node:fs';

/**
 * An independent, plain-JS reading of a REES46 export with the seed-001 silver rules, used by
 * tests to compute expected numbers from the raw file (never from what the platform produced).
 */
export interface ReferenceEvent {
  line: number;
  eventTime: string; // ISO seconds, UTC
  eventType: string;
  productId: string;
  categoryId: string;
  categoryCode: string;
  brand: string;
  price: number;
  userId: string;
  session: string;
}

export interface ReferenceResult {
  rowsRead: number;
  malformed: number;
  dropped: Record<string, number>;
  duplicates: number;
  kept: ReferenceEvent[];
  unknownBrand: number;
  zeroPrice: number;
}

const TYPES = new Set(['view', 'cart', 'remove_from_cart', 'purchase']);

function parseTime(raw: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})( UTC|Z)?$/.exec(raw.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, +s!));
  if (date.getUTCMonth() !== +mo! - 1 || date.getUTCDate() !== +d! || +h! > 23 || +mi! > 59 || +s! > 59) return undefined;
  return date.toISOString().replace('.000Z', 'Z');
}

function positiveInt(raw: string): string | undefined {
  const t = raw.trim();
  return /^[+-]?\d+$/.test(t) && BigInt(t) > 0n ? BigInt(t).toString() : undefined;
}

/** Applies the rules to lines of text (first line = header). `seen` carries ids across files. */
export function referenceSilver(text: string, seen: Set<string> = new Set()): ReferenceResult {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.at(-1) === '') lines.pop();
  const res: ReferenceResult = { rowsRead: 0, malformed: 0, dropped: {}, duplicates: 0, kept: [], unknownBrand: 0, zeroPrice: 0 };
  const drop = (r: string) => (res.dropped[r] = (res.dropped[r] ?? 0) + 1);
  for (let i = 1; i < lines.length; i++) {
    res.rowsRead++;
    const f = lines[i]!.split(',');
    if (f.length !== 9) {
      res.malformed++;
      continue;
    }
    // Strict typing first (docs/ingestion.md): a non-blank value that does not parse is
    // invalid_<column>, in contract order; then the drop expectations on blank/invalid values.
    const blank = (v: string) => v.trim() === '';
    const timeText = f[0]!;
    const eventTime = parseTime(timeText);
    const eventType = f[1]!.trim().toLowerCase();
    const intText = (v: string) => /^[+-]?\d+$/.test(v.trim()) && BigInt(v.trim()) <= 9223372036854775807n && BigInt(v.trim()) >= -9223372036854775808n;
    const productId = positiveInt(f[2]!);
    const userId = positiveInt(f[7]!);
    const priceText = f[6]!.trim();
    const priceOk = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(priceText);
    const price = priceOk ? Number(priceText) : NaN;
    const session = f[8]!.trim();
    if (!blank(timeText) && (!eventTime || eventTime < '1900-01-01' || eventTime > new Date(Date.now() + 86400e3).toISOString())) drop('invalid_event_time');
    else if (!blank(f[2]!) && !intText(f[2]!)) drop('invalid_product_id');
    else if (!blank(f[3]!) && !intText(f[3]!)) drop('invalid_category_id');
    else if (!blank(priceText) && !priceOk) drop('invalid_price');
    else if (!blank(f[7]!) && !intText(f[7]!)) drop('invalid_user_id');
    else if (!eventTime) drop('valid_event_time');
    else if (!TYPES.has(eventType)) drop('valid_event_type');
    else if (!productId) drop('valid_product_id');
    else if (!userId) drop('valid_user_id');
    else if (!(price >= 0 && price <= 100000)) drop('valid_price');
    else if (!session) drop('valid_user_session');
    else {
      const brand = f[5]!.trim().toLowerCase() || 'unknown';
      const key = [eventTime, userId, productId, session, eventType].join('|');
      if (seen.has(key)) {
        res.duplicates++;
        continue;
      }
      seen.add(key);
      // Warnings count the rows that land in silver (after dedup), so they reconcile with it.
      if (brand === 'unknown') res.unknownBrand++;
      if (price === 0) res.zeroPrice++;
      res.kept.push({
        line: i + 1,
        eventTime,
        eventType,
        productId,
        categoryId: f[3]!.trim() === '' ? '' : BigInt(f[3]!.trim()).toString(),
        categoryCode: f[4]!.trim() || 'unknown',
        brand,
        price,
        userId,
        session,
      });
    }
  }
  return res;
}

export function referenceFromFile(file: string, seen?: Set<string>): ReferenceResult {
  return referenceSilver(readFileSync(file, 'utf8'), seen);
}

export function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}
