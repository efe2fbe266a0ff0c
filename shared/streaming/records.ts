import { readFile } from 'node:fs/promises';
import { normalizeName, parseHeader } from '../pipeline/stageInput';

/** A yes/no value as producers send it: the stream mixes the spellings the contract normalises. */
export type YesNo = boolean | 'Yes' | 'No' | 0 | 1;

/**
 * One customer record of the stream (seed 002 schema). `total_charges` may be null or absent
 * (the contract then computes monthly_charges × tenure); `updated_at` is ISO-8601 UTC.
 */
export interface CustomerRecord {
  customer_id: string;
  gender: string;
  senior_citizen: YesNo;
  partner: YesNo;
  dependents: YesNo;
  tenure: number;
  phone_service: YesNo;
  internet_service: string;
  contract: string;
  monthly_charges: number;
  total_charges?: number | null;
  updated_at: string;
  first_name: string;
  last_name: string;
  email: string;
}

export const CUSTOMER_FIELDS = [
  'customer_id',
  'gender',
  'senior_citizen',
  'partner',
  'dependents',
  'tenure',
  'phone_service',
  'internet_service',
  'contract',
  'monthly_charges',
  'total_charges',
  'updated_at',
  'first_name',
  'last_name',
  'email',
] as const;

/** The subscription part of a customer (what a Telco row gives; names and time come from the generator). */
export type CustomerProfile = Omit<CustomerRecord, 'updated_at' | 'first_name' | 'last_name' | 'email'>;

function yesNoOf(v: string): YesNo {
  return v.trim().toLowerCase() === 'yes' ? 'Yes' : 'No';
}

/**
 * Reads a Telco churn CSV (IBM layout: customerID, gender, SeniorCitizen, Partner, ...) into
 * customer profiles, in file order. Values keep the Telco spellings (Yes/No, 0/1); a blank
 * TotalCharges (the tenure-0 customers) becomes a missing total_charges.
 */
export async function readTelcoProfiles(csvPath: string): Promise<CustomerProfile[]> {
  const text = (await readFile(csvPath, 'utf8')).replace(/^\uFEFF/, '');
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = parseHeader(lines[0] ?? '').map(normalizeName);
  const at = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${csvPath}: no '${name}' column (header: ${header.join(', ')})`);
    return i;
  };
  const idx = {
    id: at('customer_id'),
    gender: at('gender'),
    senior: at('senior_citizen'),
    partner: at('partner'),
    dependents: at('dependents'),
    tenure: at('tenure'),
    phone: at('phone_service'),
    internet: at('internet_service'),
    contract: at('contract'),
    monthly: at('monthly_charges'),
    total: at('total_charges'),
  };
  const out: CustomerProfile[] = [];
  for (const line of lines.slice(1)) {
    const f = parseHeader(line);
    const get = (i: number) => f[i] ?? '';
    const total = get(idx.total).trim();
    const profile: CustomerProfile = {
      customer_id: get(idx.id),
      gender: get(idx.gender),
      senior_citizen: get(idx.senior).trim() === '1' ? 1 : 0,
      partner: yesNoOf(get(idx.partner)),
      dependents: yesNoOf(get(idx.dependents)),
      tenure: Number(get(idx.tenure)),
      phone_service: yesNoOf(get(idx.phone)),
      internet_service: get(idx.internet),
      contract: get(idx.contract),
      monthly_charges: Number(get(idx.monthly)),
    };
    if (total !== '') profile.total_charges = Number(total);
    out.push(profile);
  }
  return out;
}
