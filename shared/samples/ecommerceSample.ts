import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';

/**
 * Generates REES46-layout e-commerce event exports ("eCommerce behavior data from multi category
 * store") with the quirks of the real files: CRLF line endings, ` UTC` timestamps, 19-digit
 * category ids, blank category_code / brand, prices of 0.00, exact duplicate rows, a few bad
 * rows of every kind the silver expectations catch, and optionally a last line cut off mid-row.
 * Deterministic for a given seed, streamed (constant memory whatever the row count).
 */
export interface EcommerceSampleOptions {
  rows: number;
  seed?: number;
  /** First event time (UTC). */
  start?: Date;
  /** Days the events span. */
  days?: number;
  /** Fraction of rows that repeat an earlier row exactly. */
  duplicateRate?: number;
  /** Fraction of rows that break an expectation. */
  badRate?: number;
  /** End the file with a row cut off mid-way and no newline (like the real sample). */
  truncateLastLine?: boolean;
  /** Distinct users / products to draw from. */
  users?: number;
  products?: number;
  /** Start ids here, so two generated files can be made to overlap or not. */
  userIdBase?: number;
  gzip?: boolean;
}

export interface EcommerceSampleSummary {
  /** Data lines written, including duplicates, bad rows and the cut-off line. */
  lines: number;
  duplicates: number;
  bad: Record<string, number>;
  truncated: number;
}

export const EVENT_HEADER = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

const CATEGORIES: [string, string][] = [
  ['2053013555631882655', 'electronics.smartphone'],
  ['2053013554415534427', 'electronics.video.tv'],
  ['2053013553559896355', ''],
  ['2053013558920217191', 'computers.notebook'],
  ['2053013563810775923', 'appliances.kitchen.washer'],
  ['2053013565983425517', 'appliances.environment.vacuum'],
  ['2232732093077520756', 'construction.tools.light'],
  ['2053013552326770905', 'appliances.environment.water_heater'],
  ['2103807459595387724', ''],
  ['2053013561579406073', 'electronics.clocks'],
  ['2053013566100866035', 'appliances.kitchen.refrigerators'],
  ['2053013557418656265', 'apparel.shoes'],
];
const BRANDS = ['samsung', 'apple', 'xiaomi', 'huawei', 'lucente', 'cordiant', 'sony', 'lg', 'bosch', 'acer', '', 'Apple ', 'SAMSUNG'];

/** Small, fast, seedable PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

function uuid(r: () => number): string {
  // r() has 32 random bits: draw at most 6 hex digits per call.
  const h = (n: number): string => (n > 6 ? h(6) + h(n - 6) : Math.floor(r() * 16 ** n).toString(16).padStart(n, '0'));
  return `${h(8)}-${h(4)}-4${h(3)}-${(8 + Math.floor(r() * 4)).toString(16)}${h(3)}-${h(12)}`;
}

const BAD_KINDS = ['negative_price', 'invalid_event_type', 'missing_user_id', 'bad_event_time', 'price_too_high', 'bad_product_id'] as const;

/** Writes a sample file to `path`; returns what it put in. */
export async function writeEcommerceSample(path: string, options: EcommerceSampleOptions): Promise<EcommerceSampleSummary> {
  const r = rng(options.seed ?? 46);
  const start = (options.start ?? new Date('2019-10-01T00:00:00Z')).getTime();
  const span = (options.days ?? 7) * 86_400_000;
  const users = options.users ?? Math.max(50, Math.floor(options.rows / 15));
  const products = options.products ?? Math.max(30, Math.floor(options.rows / 40));
  const userBase = options.userIdBase ?? 512_000_000;
  const dupRate = options.duplicateRate ?? 0.004;
  const badRate = options.badRate ?? 0.003;
  const summary: EcommerceSampleSummary = { lines: 0, duplicates: 0, bad: {}, truncated: 0 };

  const file = createWriteStream(path);
  const gzip = options.gzip ? createGzip({ level: 1 }) : undefined;
  if (gzip) gzip.pipe(file);
  const out = gzip ?? file;
  const sessions = new Map<number, string>();
  const recent: string[] = [];
  let buf: string[] = [EVENT_HEADER];

  const flush = async () => {
    if (!out.write(buf.join('\r\n') + '\r\n')) await once(out, 'drain');
    buf = [];
  };

  const dataRows = options.truncateLastLine ? options.rows - 1 : options.rows;
  for (let i = 0; i < dataRows; i++) {
    if (recent.length > 0 && r() < dupRate) {
      buf.push(recent[Math.floor(r() * recent.length)]!);
      summary.duplicates++;
    } else {
      const t = start + Math.floor((i / options.rows) * span) + Math.floor(r() * 1000);
      const user = Math.floor(r() ** 2 * users);
      let session = sessions.get(user);
      if (!session || r() < 0.05) {
        session = uuid(r);
        sessions.set(user, session);
      }
      const p = Math.floor(r() ** 1.5 * products);
      const [categoryId, categoryCode] = CATEGORIES[p % CATEGORIES.length]!;
      const brand = BRANDS[(p * 7) % BRANDS.length]!;
      const price = p % 97 === 0 ? '0.00' : ((p % 500) * 3.17 + 1.99).toFixed(2);
      const x = r();
      let type = x < 0.9 ? 'view' : x < 0.96 ? 'cart' : x < 0.975 ? 'remove_from_cart' : 'purchase';
      let fields = [formatTime(t), type, String(1_000_000 + p * 13), categoryId, categoryCode, brand, price, String(userBase + user), session];
      if (r() < badRate) {
        const kind = BAD_KINDS[Math.floor(r() * BAD_KINDS.length)]!;
        summary.bad[kind] = (summary.bad[kind] ?? 0) + 1;
        fields = [...fields];
        if (kind === 'negative_price') fields[6] = `-${price}`;
        if (kind === 'invalid_event_type') fields[1] = type = 'clickk';
        if (kind === 'missing_user_id') fields[7] = '';
        if (kind === 'bad_event_time') fields[0] = '2019-13-45 99:00:00 UTC';
        if (kind === 'price_too_high') fields[6] = '250000.00';
        if (kind === 'bad_product_id') fields[2] = 'N/A';
      }
      const line = fields.join(',');
      buf.push(line);
      if (recent.length < 256) recent.push(line);
      else recent[Math.floor(r() * 256)] = line;
    }
    summary.lines++;
    if (buf.length >= 4096) await flush();
  }
  await flush();
  if (options.truncateLastLine) {
    out.write(`${formatTime(start + span - 1000)},view,1000013,2053013555631882655,electronics.smartphone,apple,199.99,5120`);
    summary.lines++;
    summary.truncated = 1;
  }
  out.end();
  await once(file, 'close');
  return summary;
}
