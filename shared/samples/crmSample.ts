import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rng } from './ecommerceSample';

/**
 * A generated CRM export in the layout of Maven Analytics' "CRM + Sales Opportunities" (seed 000):
 * accounts.csv, products.csv, sales_teams.csv and sales_pipeline.csv, with that export's quirks
 * (CRLF line endings, the pipeline spelling `GTXPro` for the catalogue's `GTX Pro`, the sector typo
 * `technolgy`, a blank account on many open deals, blank engage dates on prospects, blank close
 * fields on open deals). Reproducible (seeded); accounts have a hidden quality that moves their
 * win rate, so a classifier has something to learn. The demo uses it; tests read the real files.
 */
export interface CrmSampleOptions {
  seed?: number;
  accounts?: number;
  deals?: number;
}

export interface CrmSampleSummary {
  dir: string;
  accounts: number;
  deals: number;
  won: number;
  lost: number;
  open: number;
}

const PRODUCTS: [string, string, number][] = [
  ['GTX Basic', 'GTX', 550],
  ['GTX Pro', 'GTX', 4821],
  ['MG Special', 'MG', 55],
  ['MG Advanced', 'MG', 3393],
  ['GTX Plus Pro', 'GTX', 5482],
  ['GTX Plus Basic', 'GTX', 1096],
  ['GTK 500', 'GTK', 26768],
];
const SECTORS = ['technolgy', 'medical', 'retail', 'software', 'finance', 'marketing', 'entertainment', 'telecommunications', 'services', 'employment'];
const COUNTRIES = ['United States', 'United States', 'United States', 'Kenya', 'Philippines', 'Japan', 'Italy', 'Norway', 'Korea', 'Jordan', 'Brazil', 'Germany', 'Panama', 'Belgium', 'Poland', 'China'];
const SYLLABLES = ['ac', 'me', 'bet', 'ca', 'zen', 'dom', 'ro', 'lan', 'tex', 'pla', 'sun', 'ite', 'gro', 'on', 'cov', 'kin', 'fa', 'max', 'ul', 'tron', 'dal', 'vo', 'nix', 'quo'];
const FIRST = ['Anna', 'Cecily', 'Versie', 'Boris', 'Moses', 'Darcel', 'Zane', 'Reed', 'Corliss', 'Vicki', 'Gladys', 'Donn', 'Jonathan', 'Kami', 'Cassey', 'Violet', 'Hayden', 'Maureen', 'Wilburn', 'Elease', 'Rosalina', 'Garret', 'Lajuana', 'Niesha', 'James', 'Markita', 'Rosie', 'Daniell', 'Kary', 'Marty', 'Simon', 'Hayden', 'Ruth', 'Lena', 'Otto'];
const LAST = ['Snelling', 'Lampkin', 'Hillebrand', 'Faz', 'Frase', 'Schlecht', 'Levis', 'Bojorquez', 'Cason', 'Laflamme', 'Jaramillo', 'Mcgarvey', 'Berger', 'Hetzel', 'Cadwell', 'Mandell', 'Daniel', 'Hollberg', 'Morawitz', 'Krunk', 'Hupp', 'Smith', 'Linney', 'Garbe', 'Snelling', 'Oberon', 'Vaca', 'Brisbin', 'Ono', 'Quinn', 'Hart', 'Pell', 'Moss', 'Rand', 'Stone'];

const DAY = 86_400_000;
const START = Date.UTC(2016, 9, 20);
const END = Date.UTC(2017, 11, 31);
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const csvLine = (fields: (string | number)[]) => fields.map((f) => (/[",\r\n]/.test(String(f)) ? `"${String(f).replace(/"/g, '""')}"` : String(f))).join(',');

function write(dir: string, name: string, header: string, rows: (string | number)[][]): void {
  writeFileSync(path.join(dir, name), [header, ...rows.map(csvLine)].join('\r\n') + '\r\n');
}

/** Writes the four files into `dir` (created when missing). */
export function writeCrmSample(dir: string, options: CrmSampleOptions = {}): CrmSampleSummary {
  const r = rng(options.seed ?? 2016);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  mkdirSync(dir, { recursive: true });

  write(dir, 'products.csv', 'product,series,sales_price', PRODUCTS.map(([p, s, price]) => [p, s, price]));

  const offices = ['Central', 'East', 'West'];
  const managers = Array.from({ length: 6 }, (_, i) => `${FIRST[(i * 5 + 3) % FIRST.length]} ${LAST[(i * 7 + 2) % LAST.length]}son`);
  const agents = Array.from({ length: 35 }, (_, i) => `${FIRST[i % FIRST.length]} ${LAST[(i * 3 + 1) % LAST.length]}`);
  write(dir, 'sales_teams.csv', 'sales_agent,manager,regional_office', agents.map((a, i) => [a, managers[i % managers.length]!, offices[Math.floor((i % managers.length) / 2)]!]));

  const names = new Set<string>();
  while (names.size < (options.accounts ?? 85)) {
    const n = Array.from({ length: 2 + Math.floor(r() * 2) }, () => pick(SYLLABLES)).join('');
    names.add(n[0]!.toUpperCase() + n.slice(1) + (r() < 0.2 ? ' Corporation' : ''));
  }
  const accounts = [...names].map((name) => ({ name, quality: r() }));
  write(
    dir,
    'accounts.csv',
    'account,sector,year_established,revenue,employees,office_location,subsidiary_of',
    accounts.map((a, i) => {
      const employees = Math.round(Math.exp(4 + r() * 6));
      const parent = i > 10 && r() < 0.12 ? accounts[Math.floor(r() * 10)]!.name : '';
      return [a.name, pick(SECTORS), 1979 + Math.floor(r() * 38), (employees * (0.05 + r() * 0.4)).toFixed(2), employees, pick(COUNTRIES), parent];
    }),
  );

  const summary: CrmSampleSummary = { dir, accounts: accounts.length, deals: options.deals ?? 8800, won: 0, lost: 0, open: 0 };
  const ids = new Set<string>();
  const rows: (string | number)[][] = [];
  for (let k = 0; k < summary.deals; k++) {
    let id = '';
    while (!id || ids.has(id)) id = Array.from({ length: 8 }, () => '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'[Math.floor(r() * 36)]).join('');
    ids.add(id);
    const account = pick(accounts);
    const [product, , price] = pick(PRODUCTS);
    const engage = START + Math.floor(r() * (END - START - 30 * DAY));
    const u = r();
    const stage = u < 0.06 ? 'Prospecting' : u < 0.23 ? 'Engaging' : r() < 0.45 + 0.35 * account.quality ? 'Won' : 'Lost';
    const closed = stage === 'Won' || stage === 'Lost';
    const close = closed ? Math.min(END, engage + Math.floor((5 + r() * 120) * DAY)) : 0;
    if (stage === 'Won') summary.won++;
    else if (stage === 'Lost') summary.lost++;
    else summary.open++;
    rows.push([
      id,
      pick(agents),
      product === 'GTX Pro' ? 'GTXPro' : product,
      !closed && r() < 0.62 ? '' : account.name,
      stage,
      stage === 'Prospecting' ? '' : iso(engage),
      closed ? iso(close) : '',
      stage === 'Won' ? Math.round(price * (0.85 + r() * 0.3)) : stage === 'Lost' ? 0 : '',
    ]);
  }
  write(dir, 'sales_pipeline.csv', 'opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value', rows);
  return summary;
}
