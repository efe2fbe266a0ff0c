import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { datasetFolder, resolveDatasetsDir } from '../contracts/load';

/**
 * A gold model: one SQL file `shared/datasets/<dataset>/gold/<table>.sql` that builds
 * `gold.<table>` (the convention is in shared/gold/README.md).
 */
export interface GoldModel {
  dataset: string;
  /** Table name in schema gold (= the file name without .sql). */
  table: string;
  file: string;
  description: string;
  /** Other gold tables of the dataset this model reads (run before it). */
  after: string[];
  ddl: string;
  full: string;
  incremental: string;
  finalize?: string;
  /** SHA-256 of the file: a changed model is dropped, recreated and rebuilt. */
  hash: string;
}

export class GoldModelError extends Error {
  override name = 'GoldModelError';
}

export const GOLD_TABLE = /^[a-z][a-z0-9_]{0,62}$/;
const SECTIONS = ['ddl', 'full', 'incremental', 'finalize'] as const;
type Section = (typeof SECTIONS)[number];

/** Splits a model file into its sections (`-- @ddl`, `-- @full`, `-- @incremental`, `-- @finalize`). */
export function parseGoldModel(dataset: string, file: string, text: string): GoldModel {
  const table = path.basename(file, '.sql');
  const fail = (msg: string): never => {
    throw new GoldModelError(`gold model ${file}: ${msg}`);
  };
  if (!GOLD_TABLE.test(table)) fail(`the file name must be the table name in lower snake_case (got '${table}')`);
  const parts: Partial<Record<Section, string[]>> = {};
  const header: string[] = [];
  const after: string[] = [];
  let current: Section | undefined;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    const marker = /^--\s*@([a-z_]+)\s*(?::\s*(.*))?$/.exec(line.trim());
    if (marker) {
      const [, name, value] = marker;
      if (name === 'after') {
        for (const t of (value ?? '').split(/[,\s]+/).filter(Boolean)) after.push(t);
        continue;
      }
      if (!(SECTIONS as readonly string[]).includes(name!)) fail(`unknown marker '-- @${name}' (sections: ${SECTIONS.map((s) => `-- @${s}`).join(', ')}; header: -- @after: <table>)`);
      if (parts[name as Section]) fail(`section '-- @${name}' appears twice`);
      current = name as Section;
      parts[current] = [];
      continue;
    }
    if (current) parts[current]!.push(line);
    else header.push(line);
  }
  const body = (s: Section): string | undefined => {
    const sql = parts[s]?.join('\n').trim();
    return sql ? sql : undefined;
  };
  const ddl = body('ddl') ?? fail('missing the -- @ddl section');
  const full = body('full') ?? fail('missing the -- @full section');
  const incremental = body('incremental') ?? fail('missing the -- @incremental section');
  if (!new RegExp(`create\\s+table\\s+if\\s+not\\s+exists\\s+gold\\.${table}\\b`, 'i').test(ddl)) {
    fail(`the -- @ddl section must contain CREATE TABLE IF NOT EXISTS gold.${table}`);
  }
  const description = header
    .map((l) => l.replace(/^--\s?/, '').trim())
    .filter(Boolean)
    .join(' ');
  return {
    dataset,
    table,
    file,
    description,
    after,
    ddl,
    full,
    incremental,
    finalize: body('finalize'),
    hash: createHash('sha256').update(text).digest('hex'),
  };
}

/**
 * The dataset's gold folder: next to the contract it was loaded from (source, or the folder
 * MEDALLION_DATASETS_DIR names), so contracts and gold SQL always come from the same root.
 */
export function goldModelsDir(dataset: string): string {
  const folder = datasetFolder(dataset);
  return folder ? path.join(folder, 'gold') : path.join(resolveDatasetsDir(), dataset, 'gold');
}

/** Orders models so that each one runs after the tables it names in `-- @after:`. */
function ordered(models: GoldModel[]): GoldModel[] {
  const byTable = new Map(models.map((m) => [m.table, m]));
  const out: GoldModel[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: GoldModel, trail: string[]) => {
    if (state.get(m.table) === 'done') return;
    if (state.get(m.table) === 'visiting') throw new GoldModelError(`gold models of '${m.dataset}' depend on each other in a cycle: ${[...trail, m.table].join(' → ')}`);
    state.set(m.table, 'visiting');
    for (const dep of m.after) {
      const d = byTable.get(dep);
      if (!d) throw new GoldModelError(`gold model ${m.file}: '-- @after: ${dep}' names no gold model of dataset '${m.dataset}'`);
      visit(d, [...trail, m.table]);
    }
    state.set(m.table, 'done');
    out.push(m);
  };
  for (const m of models) visit(m, []);
  return out;
}

const cache = new Map<string, GoldModel[]>();

/** The dataset's gold models (none: []), in run order. Read once per process. */
export function goldModels(dataset: string, dir = goldModelsDir(dataset)): GoldModel[] {
  const key = `${dataset}\n${dir}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let models: GoldModel[] = [];
  if (existsSync(dir)) {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort();
    models = ordered(files.map((f) => parseGoldModel(dataset, path.join(dir, f), readFileSync(path.join(dir, f), 'utf8'))));
  }
  cache.set(key, models);
  return models;
}

/** Every dataset's models; fails when two datasets declare the same gold table. */
export function allGoldModels(datasets: string[]): Map<string, GoldModel[]> {
  const out = new Map<string, GoldModel[]>();
  const owner = new Map<string, string>();
  for (const d of datasets) {
    const models = goldModels(d);
    for (const m of models) {
      const other = owner.get(m.table);
      if (other) throw new GoldModelError(`gold.${m.table} is declared by two datasets: '${other}' and '${d}'`);
      owner.set(m.table, d);
    }
    if (models.length) out.set(d, models);
  }
  return out;
}
