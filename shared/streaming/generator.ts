import type { CustomerProfile, CustomerRecord, YesNo } from './records';

export { rng } from '../samples/ecommerceSample';
import { rng } from '../samples/ecommerceSample';

export interface StreamOptions {
  /** Records to send in all (new customers + updates). */
  count: number;
  /** Fraction 0..1 of the records that are updates of earlier customers. */
  updates: number;
  seed?: number;
  /** updated_at of the first record (default: count × stepMs before now, so the stream ends about now). */
  start?: Date;
  /** Event time between two consecutive records (default 1000 ms). */
  stepMs?: number;
  /** Real customers to start from (e.g. the Telco CSV), in order; otherwise generated. */
  base?: CustomerProfile[];
  /** Fraction of updates held back and sent later than records generated after them (default 0.3). */
  outOfOrder?: number;
  /** Longest hold-back, in records (default 900, i.e. 15 minutes at one record a second). */
  maxDelay?: number;
  /** Fraction of records sent without total_charges (default 0.1). */
  missingTotal?: number;
  /** Fraction of new customers with a malformed e-mail address (default 0.02). */
  badEmail?: number;
}

/** What the generator did, for logs and for tests that want to double-check themselves. */
export interface StreamSummary {
  records: number;
  newCustomers: number;
  updates: number;
  /** Updates sent after records generated later than them. */
  delayed: number;
  missingTotal: number;
  badEmails: number;
}

const FIRST = ['Ana', 'Ben', 'Chloe', 'David', 'Emma', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Keiko', 'Liam', 'Maya', 'Noah', 'Olga', 'Pablo', 'Rosa', 'Sam', 'Tara', 'Umar'];
const LAST = ['Smith', 'Garcia', 'Okafor', 'Nguyen', 'Müller', 'Rossi', 'Kowalski', 'Haddad', 'Silva', 'Tanaka', 'Dubois', 'Jensen', 'Ivanova', 'Cohen', 'Patel', 'Murphy'];
const CONTRACTS = ['Month-to-month', 'One year', 'Two year'];
const INTERNET = ['DSL', 'Fiber optic', 'No'];

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const cents = (x: number) => Math.round(x * 100) / 100;

/** A yes/no in one of the spellings producers use (the contract normalises them all). */
function yesNo(r: () => number, value: boolean): YesNo {
  const style = Math.floor(r() * 3);
  if (style === 0) return value ? 'Yes' : 'No';
  if (style === 1) return value;
  return value ? 1 : 0;
}

function customerId(r: () => number, taken: Set<string>): string {
  for (;;) {
    const digits = String(Math.floor(r() * 10000)).padStart(4, '0');
    let letters = '';
    for (let i = 0; i < 5; i++) letters += String.fromCharCode(65 + Math.floor(r() * 26));
    const id = `${digits}-${letters}`;
    if (!taken.has(id)) {
      taken.add(id);
      return id;
    }
  }
}

function syntheticProfile(r: () => number, taken: Set<string>): CustomerProfile {
  const tenure = Math.floor(r() * 73);
  const internet = pick(r, INTERNET);
  const monthly = cents(18 + r() * (internet === 'Fiber optic' ? 100 : 70));
  return {
    customer_id: customerId(r, taken),
    gender: r() < 0.5 ? 'Female' : 'Male',
    senior_citizen: r() < 0.16 ? 1 : 0,
    partner: yesNo(r, r() < 0.48),
    dependents: yesNo(r, r() < 0.3),
    tenure,
    phone_service: yesNo(r, r() < 0.9),
    internet_service: internet,
    contract: pick(r, CONTRACTS),
    monthly_charges: monthly,
    total_charges: cents(monthly * tenure),
  };
}

/**
 * A customer stream in send order, produced lazily (memory: the customers so far and the held-back
 * updates, not the stream): new customers (from `base` first, then generated) and, for a fraction
 * `updates` of the records, later versions of earlier customers (tenure up, charges and contract
 * changed). Some updates are held back and sent after newer records (out of order, some beyond
 * the lateness window, some after a newer version of the same customer), some records lack
 * total_charges, a few e-mails are malformed. Deterministic for a given seed. `summary` is filled
 * in as records are taken.
 */
export function customerStream(options: StreamOptions, summary: StreamSummary = emptySummary()): Generator<CustomerRecord> {
  return run(options, summary);
}

export function emptySummary(): StreamSummary {
  return { records: 0, newCustomers: 0, updates: 0, delayed: 0, missingTotal: 0, badEmails: 0 };
}

function* run(options: StreamOptions, summary: StreamSummary): Generator<CustomerRecord> {
  const r = rng(options.seed ?? 42);
  const stepMs = options.stepMs ?? 1000;
  const start = options.start ?? new Date(Date.now() - options.count * stepMs);
  const outOfOrder = options.outOfOrder ?? 0.3;
  const maxDelay = Math.max(1, Math.floor(options.maxDelay ?? 900));
  const missingTotal = options.missingTotal ?? 0.1;
  const badEmail = options.badEmail ?? 0.02;
  const base = options.base ?? [];
  const taken = new Set(base.map((b) => b.customer_id));
  const customers: CustomerRecord[] = [];
  const held: { releaseAt: number; record: CustomerRecord }[] = [];
  let nextBase = 0;
  let sent = 0;

  const emit = function* (rec: CustomerRecord): Generator<CustomerRecord> {
    sent++;
    summary.records++;
    yield rec;
    // Held-back records whose time has come go right after.
    for (let i = 0; i < held.length; ) {
      if (held[i]!.releaseAt <= sent) {
        const h = held.splice(i, 1)[0]!;
        sent++;
        summary.records++;
        yield h.record;
      } else i++;
    }
  };

  for (let i = 0; i < options.count; i++) {
    const at = new Date(start.getTime() + i * stepMs).toISOString();
    const isUpdate = customers.length > 0 && r() < options.updates;
    let rec: CustomerRecord;
    if (!isUpdate) {
      const profile = nextBase < base.length ? { ...base[nextBase++]! } : syntheticProfile(r, taken);
      const first = pick(r, FIRST);
      const last = pick(r, LAST);
      const local = `${first}.${last}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase();
      const bad = r() < badEmail;
      if (bad) summary.badEmails++;
      rec = { ...profile, updated_at: at, first_name: first, last_name: last, email: bad ? `${local}.example.com` : `${local}${i}@example.com` };
      customers.push(rec);
      summary.newCustomers++;
    } else {
      const k = Math.floor(r() * customers.length);
      const prev = customers[k]!;
      const months = 1 + Math.floor(r() * 3);
      const monthly = cents(Math.max(18, prev.monthly_charges + (r() - 0.4) * 10));
      const total = cents((prev.total_charges ?? prev.monthly_charges * prev.tenure) + monthly * months);
      rec = {
        ...prev,
        tenure: prev.tenure + months,
        monthly_charges: monthly,
        total_charges: total,
        contract: r() < 0.15 ? pick(r, CONTRACTS) : prev.contract,
        partner: r() < 0.1 ? yesNo(r, r() < 0.5) : prev.partner,
        updated_at: at,
      };
      customers[k] = rec;
      summary.updates++;
    }
    if (r() < missingTotal) {
      rec = { ...rec };
      if (r() < 0.5) rec.total_charges = null;
      else delete rec.total_charges;
      summary.missingTotal++;
    }
    if (isUpdate && r() < outOfOrder) {
      held.push({ releaseAt: sent + 1 + Math.floor(r() * maxDelay), record: rec });
      summary.delayed++;
    } else {
      yield* emit(rec);
    }
  }
  held.sort((a, b) => a.releaseAt - b.releaseAt);
  for (const h of held) {
    summary.records++;
    yield h.record;
  }
}

/** The whole stream at once (tests, small runs). */
export function generateCustomerStream(options: StreamOptions): { records: CustomerRecord[]; summary: StreamSummary } {
  const summary = emptySummary();
  const records = [...customerStream(options, summary)];
  return { records, summary };
}
