/**
 * The customers gold tables computed in plain JS from raw inputs (the Telco CSV text, or the
 * stream's records in arrival order), with the definitions written in the contract and in the
 * model files' column comments. Never reads silver or gold. Money in integer cents; rows come
 * out in the text form PostgreSQL returns (numeric as strings, double precision as numbers).
 */
export type Row = Record<string, string | number | boolean | null>;

/** A customer's current version, as the contract types it. */
export interface RefCustomer {
  customer_id: string;
  gender: string;
  senior_citizen: boolean;
  partner: boolean;
  dependents: boolean;
  tenure: number;
  phone_service: boolean;
  internet_service: string;
  contract: string;
  monthly_cents: number;
  total_cents: number;
  total_imputed: boolean;
  churn: boolean | null;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  email_valid: boolean;
  updated_at_ms: number;
}

export function money(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

export function yes(v: unknown): boolean | null {
  if (v === undefined || v === null || String(v).trim() === '') return null;
  const s = String(v).trim().toLowerCase();
  if (['yes', 'y', 'true', 't', '1'].includes(s)) return true;
  if (['no', 'n', 'false', 'f', '0', 'no phone service', 'no internet service'].includes(s)) return false;
  throw new Error(`not a yes/no value: ${String(v)}`);
}

const EMAIL = /^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/;

/** A raw record (stream JSON or Telco row mapped to the seed names) typed as the contract does. */
export function typeRecord(r: Record<string, unknown>, ingestedAtMs: number): RefCustomer {
  const str = (k: string) => (r[k] === undefined || r[k] === null || String(r[k]).trim() === '' ? null : String(r[k]).trim());
  const monthlyCents = Math.round(Number(r.monthly_charges) * 100);
  const tenure = str('tenure') === null ? 0 : Number(r.tenure);
  const total = str('total_charges');
  // DuckDB: round(monthly_charges * tenure, 2) on doubles.
  const totalCents = total === null ? Math.round(Number(r.monthly_charges) * tenure * 100) : Math.round(Number(total) * 100);
  const email = str('email')?.toLowerCase() ?? null;
  const updated = str('updated_at');
  const canon = (v: string | null, map: Record<string, string>) => (v === null ? 'Unknown' : (map[v.toLowerCase()] ?? v));
  return {
    customer_id: str('customer_id')!,
    gender: canon(str('gender'), { female: 'Female', f: 'Female', male: 'Male', m: 'Male' }),
    senior_citizen: yes(r.senior_citizen) ?? false,
    partner: yes(r.partner) ?? false,
    dependents: yes(r.dependents) ?? false,
    tenure,
    phone_service: yes(r.phone_service) ?? false,
    internet_service: canon(str('internet_service'), { dsl: 'DSL', 'fiber optic': 'Fiber optic', no: 'No' }),
    contract: canon(str('contract'), { 'month-to-month': 'Month-to-month', 'one year': 'One year', 'two year': 'Two year' }),
    monthly_cents: monthlyCents,
    total_cents: totalCents,
    total_imputed: total === null,
    churn: yes(r.churn),
    first_name: str('first_name'),
    last_name: str('last_name'),
    email,
    email_valid: email !== null && EMAIL.test(email),
    updated_at_ms: updated === null ? ingestedAtMs : Date.parse(updated),
  };
}

/** The Telco CSV rows, mapped to the seed's names (customerID → customer_id...). */
export function telcoRows(csv: string): Record<string, string>[] {
  const lines = csv.split(/\r?\n/).filter((l) => l !== '');
  const snake = (h: string) => h.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const header = lines[0]!.split(',').map(snake);
  return lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i]!, v])));
}

export function tenureBand(t: number): string {
  return t <= 12 ? '0-12' : t <= 24 ? '13-24' : t <= 48 ? '25-48' : t <= 72 ? '49-72' : '73+';
}

function maskEmail(e: string | null, valid: boolean, show: boolean): string | null {
  if (e === null || !valid) return null;
  if (show) return e;
  const [local, domain] = e.split('@');
  return `${local!.slice(0, 1)}***@${domain}`;
}

const maskName = (n: string | null, show: boolean) => (n === null ? null : show ? n : `${[...n][0]}.`);

/** gold.customers rows (without lineage columns), ordered by customer_id. */
export function goldCustomers(current: Iterable<RefCustomer>, show = false): Row[] {
  return [...current]
    .sort((a, b) => (a.customer_id < b.customer_id ? -1 : a.customer_id > b.customer_id ? 1 : 0))
    .map((c) => ({
      customer_id: c.customer_id,
      gender: c.gender,
      senior_citizen: c.senior_citizen,
      partner: c.partner,
      dependents: c.dependents,
      tenure: c.tenure,
      tenure_band: tenureBand(c.tenure),
      phone_service: c.phone_service,
      internet_service: c.internet_service,
      contract: c.contract,
      monthly_charges: money(c.monthly_cents),
      total_charges: money(c.total_cents),
      total_charges_imputed: c.total_imputed,
      churn: c.churn,
      first_name: maskName(c.first_name, show),
      last_name: maskName(c.last_name, show),
      email: maskEmail(c.email, c.email_valid, show),
      email_valid: c.email_valid,
      updated_at: new Date(c.updated_at_ms).toISOString(),
    }));
}

/** gold.customer_churn_summary rows, ordered by (contract, tenure_band). */
export function goldChurnSummary(current: Iterable<RefCustomer>): Row[] {
  const groups = new Map<string, { contract: string; band: string; n: number; known: number; churned: number; monthly: number; total: number }>();
  for (const c of current) {
    const band = tenureBand(c.tenure);
    const key = `${c.contract}\u0000${band}`;
    const g = groups.get(key) ?? { contract: c.contract, band, n: 0, known: 0, churned: 0, monthly: 0, total: 0 };
    g.n++;
    if (c.churn !== null) g.known++;
    if (c.churn) g.churned++;
    g.monthly += c.monthly_cents;
    g.total += c.total_cents;
    groups.set(key, g);
  }
  return [...groups.values()]
    .sort((a, b) => (a.contract < b.contract ? -1 : a.contract > b.contract ? 1 : a.band < b.band ? -1 : a.band > b.band ? 1 : 0))
    .map((g) => ({
      contract: g.contract,
      tenure_band: g.band,
      customers: String(g.n),
      customers_churn_known: String(g.known),
      churned: String(g.churned),
      churn_rate: g.known > 0 ? (100 * g.churned) / g.known : null,
      avg_monthly_charges: money(Math.round(g.monthly / g.n)),
      monthly_charges_sum: money(g.monthly),
      total_charges: money(g.total),
    }));
}

/** SQL reading gold.customers in the shape goldCustomers() returns. */
export const GOLD_CUSTOMERS_SQL = `SELECT customer_id, gender, senior_citizen, partner, dependents, tenure, tenure_band, phone_service, internet_service, contract,
  monthly_charges::text AS monthly_charges, total_charges::text AS total_charges, total_charges_imputed, churn, first_name, last_name, email, email_valid,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at
FROM gold.customers ORDER BY customer_id COLLATE "C"`;

export const GOLD_SUMMARY_SQL = `SELECT contract, tenure_band, customers::text AS customers, customers_churn_known::text AS customers_churn_known, churned::text AS churned,
  churn_rate, avg_monthly_charges::text AS avg_monthly_charges, monthly_charges_sum::text AS monthly_charges_sum, total_charges::text AS total_charges
FROM gold.customer_churn_summary ORDER BY contract COLLATE "C", tenure_band COLLATE "C"`;
