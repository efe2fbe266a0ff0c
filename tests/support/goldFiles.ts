import { readFileSync } from 'node:fs';
import path from 'node:path';
import { rng, writeEcommerceSample } from '../../shared/samples/ecommerceSample';

export const HEADER = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

/** Data lines of a CSV file (header dropped; CRLF or LF). */
export function dataLines(file: string): string[] {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(1);
}

/**
 * Generated exports over four months (users shared between them, products shared by all) with
 * duplicates, bad rows and a cut-off line, plus hand-made rows that pin down every definition:
 * each segment, churn risk at exactly 30/31/90/91 days, a zero-revenue day, a gap before the last
 * day, a free (0.00) purchase, a blank category/brand, a revenue tie, and a latest-event tie.
 */
export async function goldInput(dir: string): Promise<string[]> {
  const a = path.join(dir, 'june.csv');
  const b = path.join(dir, 'august.csv');
  const c = path.join(dir, 'october.csv');
  await writeEcommerceSample(a, { rows: 1200, seed: 11, start: new Date('2019-06-01T00:00:00Z'), days: 4, users: 90, products: 40, userIdBase: 512_000_000, duplicateRate: 0.01, badRate: 0.01 });
  await writeEcommerceSample(b, { rows: 1200, seed: 12, start: new Date('2019-08-20T00:00:00Z'), days: 4, users: 90, products: 40, userIdBase: 512_000_040, duplicateRate: 0.01, badRate: 0.01 });
  await writeEcommerceSample(c, {
    rows: 2200,
    seed: 13,
    start: new Date('2019-09-28T00:00:00Z'),
    days: 10,
    users: 120,
    products: 40,
    userIdBase: 512_000_020,
    duplicateRate: 0.01,
    badRate: 0.01,
    truncateLastLine: true,
  });
  // The cut-off last line of `c` must stay last in its file to be a cut-off line; anywhere else
  // it is simply a malformed row (8 fields): both are quarantined, neither reaches gold.
  return [...dataLines(a), ...dataLines(b), ...dataLines(c), ...handMadeLines()];
}

const SMARTPHONE = ['2053013555631882655', 'electronics.smartphone', 'apple'];

function row(time: string, type: string, product: number, user: number, session: string, price: string, category = SMARTPHONE): string {
  return [`${time} UTC`, type, String(product), category[0], category[1], category[2], price, String(user), session].join(',');
}

export const HAND = {
  champion: 900_000_001,
  loyal: 900_000_002,
  potential: 900_000_003,
  newCustomer: 900_000_004,
  cartAbandoner: 900_000_005,
  visitor: 900_000_006,
  removeOnly: 900_000_007,
  churn30: 900_000_011,
  churn31: 900_000_012,
  churn90: 900_000_013,
  churn91: 900_000_014,
  tieA: 2_000_002,
  tieB: 2_000_003,
  latestTie: 2_000_009,
};

export function handMadeLines(): string[] {
  const h = HAND;
  const out: string[] = [];
  for (let i = 0; i < 10; i++) out.push(row(`2019-10-31 20:00:${String(i).padStart(2, '0')}`, 'purchase', 2_000_001, h.champion, 'c0ffee00-0000-4000-8000-000000000001', '10.00'));
  for (let i = 0; i < 5; i++) out.push(row(`2019-10-31 21:00:${String(i).padStart(2, '0')}`, 'purchase', 2_000_001, h.loyal, 'c0ffee00-0000-4000-8000-000000000002', '10.00'));
  out.push(row('2019-10-31 22:00:00', 'purchase', h.tieA, h.potential, 'c0ffee00-0000-4000-8000-000000000003', '55.55'));
  out.push(row('2019-10-31 22:00:01', 'purchase', 2_000_004, h.potential, 'c0ffee00-0000-4000-8000-000000000003', '0.00')); // a free item
  out.push(row('2019-10-30 12:00:00', 'view', h.tieB, h.newCustomer, 'c0ffee00-0000-4000-8000-000000000004', '55.55'));
  out.push(row('2019-10-30 12:00:05', 'purchase', h.tieB, h.newCustomer, 'c0ffee00-0000-4000-8000-000000000004', '55.55'));
  out.push(row('2019-10-31 10:00:00', 'view', 2_000_005, h.cartAbandoner, 'c0ffee00-0000-4000-8000-000000000005', '99.99'));
  out.push(row('2019-10-31 10:00:30', 'cart', 2_000_005, h.cartAbandoner, 'c0ffee00-0000-4000-8000-000000000005', '99.99'));
  // A day with views only (zero revenue) right before a day with sales: no day-over-day % there.
  out.push(row('2019-10-29 09:00:00', 'view', 2_000_006, h.visitor, 'c0ffee00-0000-4000-8000-000000000006', '5.00', ['2053013553559896355', '', '']));
  out.push(row('2019-10-31 09:00:00', 'remove_from_cart', 2_000_006, h.removeOnly, 'c0ffee00-0000-4000-8000-000000000007', '5.00', ['2053013553559896355', '', '']));
  // Buyers whose last activity is 30, 31, 90 and 91 days before the newest event (2019-10-31 23:59:59).
  out.push(row('2019-10-01 08:00:00', 'purchase', 2_000_007, h.churn30, 'c0ffee00-0000-4000-8000-000000000011', '7.00'));
  out.push(row('2019-09-30 08:00:00', 'purchase', 2_000_007, h.churn31, 'c0ffee00-0000-4000-8000-000000000012', '7.00'));
  out.push(row('2019-08-02 08:00:00', 'purchase', 2_000_007, h.churn90, 'c0ffee00-0000-4000-8000-000000000013', '7.00'));
  out.push(row('2019-08-01 08:00:00', 'purchase', 2_000_007, h.churn91, 'c0ffee00-0000-4000-8000-000000000014', '7.00'));
  // Two events of one product in the same second with different attributes: the event_id breaks the tie.
  out.push(row('2019-10-31 23:59:59', 'view', h.latestTie, h.visitor, 'c0ffee00-0000-4000-8000-000000000006', '1.00', ['2232732093077520756', 'construction.tools.light', 'bosch']));
  out.push(row('2019-10-31 23:59:59', 'view', h.latestTie, h.cartAbandoner, 'c0ffee00-0000-4000-8000-000000000005', '1.00', ['2053013561579406073', 'electronics.clocks', 'casio']));
  return out;
}

/**
 * Splits the input into `files` contiguous pieces at random cut points, copies a few random lines
 * of other pieces into each (exact duplicates across files), and shuffles the arrival order.
 */
export function splitInput(lines: string[], files: number, seed: number): string[][] {
  const r = rng(seed);
  const cuts = new Set<number>();
  while (cuts.size < files - 1) cuts.add(1 + Math.floor(r() * (lines.length - 1)));
  const bounds = [0, ...[...cuts].sort((x, y) => x - y), lines.length];
  const pieces = bounds.slice(1).map((end, i) => lines.slice(bounds[i], end));
  for (let i = 0; i < pieces.length; i++) {
    for (let k = 0; k < 15; k++) {
      const j = Math.floor(r() * pieces.length);
      if (j === i || pieces[j]!.length === 0) continue;
      const src = pieces[j]!;
      pieces[i]!.splice(Math.floor(r() * (pieces[i]!.length + 1)), 0, src[Math.floor(r() * src.length)]!);
    }
  }
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [pieces[i], pieces[j]] = [pieces[j]!, pieces[i]!];
  }
  return pieces;
}

export function csv(lines: string[]): string {
  return [HEADER, ...lines].join('\r\n') + '\r\n';
}
