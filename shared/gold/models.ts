import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Contract, tableOf } from '../contracts/contract';
import { silverTable } from '../db/schema';
import { datasetFolder, resolveDatasetsDir } from '../contracts/load';
import { type Input, MODEL_SCHEMAS, type ModelSchema, type Plan, planModel, selectInputs } from './plan';
import { SqlTextError, type Token, tokenize } from './sqlText';

/**
 * A gold model: one SQL file `shared/datasets/<dataset>/gold/<table>.sql` with its DDL and one
 * SELECT (the convention is in shared/gold/README.md).
 */
export interface GoldModel {
  /** The dataset folder the file sits in: its export goes to gold/<dataset>/<table>.parquet. */
  dataset: string;
  /** Table name (= the file name without .sql). */
  table: string;
  /** 'gold' (exported), 'core' (seed 004's typed star schema), or 'gold_state' for an internal model (not exported). */
  schema: ModelSchema;
  file: string;
  description: string;
  ddl: string;
  select: string;
  population?: string;
  forceRecompute: boolean;
  /**
   * `-- @keyed: <schema>.<table> (<columns>)`: each key of that input (a model or a dataset's table)
   * determines the model's rows with the same values in the same-named columns; only the keys an
   * input change touches are recomputed (the keyed strategy).
   */
  keyed?: { schema: string; name: string; columns: string[] };
  /**
   * What the SELECT reads: datasets (`silver.<x>`, and those whose table it names, e.g.
   * stg_pipedrive.deals_raw → pipedrive_deals) and other models (by table name). `external`: the
   * other tables it reads, as written (resolved to datasets by GoldGraph).
   */
  reads: { silver: string[]; models: string[]; external: string[] };
  /** SHA-256 of the file: a changed model is dropped, recreated and rebuilt. */
  hash: string;
  /** Why the file cannot be read as a model (the graph leaves it out: unavailable). */
  unreadable?: string;
}

export class GoldModelError extends Error {
  override name = 'GoldModelError';
}

export const GOLD_TABLE = /^[a-z][a-z0-9_]{0,62}$/;
const SECTIONS = ['ddl', 'select', 'population'] as const;
type Section = (typeof SECTIONS)[number];

/** Splits a model file into its sections (`-- @ddl`, `-- @select`, `-- @population`) and header flags. */
export function parseGoldModel(dataset: string, file: string, text: string): GoldModel {
  const table = path.basename(file, '.sql');
  const fail = (msg: string): never => {
    throw new GoldModelError(`gold model ${file}: ${msg}`);
  };
  if (!GOLD_TABLE.test(table)) fail(`the file name must be the table name in lower snake_case (got '${table}')`);
  // '<table>__<what>' names the framework's state tables and a model's helper functions.
  if (table.includes('__') || table.endsWith('_')) fail(`the table name '${table}' may not contain '__' or end with '_' (reserved for the framework's state tables and helper functions: <table>__<what>); rename the file`);
  const parts: Partial<Record<Section, string[]>> = {};
  const header: string[] = [];
  let internal = false;
  let forceRecompute = false;
  let keyed: GoldModel['keyed'];
  let current: Section | undefined;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const marker = /^--\s*@([a-z_]+)\s*(?::\s*(.*))?$/i.exec(line.trim());
    if (marker) {
      const name = marker[1]!.toLowerCase();
      const value = marker[2];
      if (!current && name === 'internal') {
        internal = true;
        continue;
      }
      if (!current && name === 'keyed') {
        const k = /^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*\(\s*([a-z_][a-z0-9_]*(?:\s*,\s*[a-z_][a-z0-9_]*)*)\s*\)$/.exec(value?.trim() ?? '');
        if (!k) fail(`'-- @keyed: ${value ?? ''}': write -- @keyed: <schema>.<table> (<key column>, …), e.g. -- @keyed: core.zd_tickets (scope, ticket_id)`);
        keyed = { schema: k![1]!, name: k![2]!, columns: k![3]!.split(',').map((c) => c.trim()) };
        continue;
      }
      if (!current && name === 'strategy') {
        if (value?.trim() !== 'recompute') fail(`'-- @strategy: ${value ?? ''}': the only strategy a model can force is 'recompute'`);
        forceRecompute = true;
        continue;
      }
      if (!(SECTIONS as readonly string[]).includes(name!)) {
        fail(`unknown marker '-- @${name}' (sections: ${SECTIONS.map((s) => `-- @${s}`).join(', ')}; header lines: -- @internal, -- @strategy: recompute, -- @keyed: <input> (<key columns>))`);
      }
      if (parts[name as Section]) fail(`section '-- @${name}' appears twice`);
      current = name as Section;
      parts[current] = [];
      continue;
    }
    if (current) parts[current]!.push(line);
    else header.push(line);
  }
  const body = (s: Section): string | undefined => {
    const sql = endOfStatement(parts[s]?.join('\n') ?? '');
    return sql ? sql : undefined;
  };
  const ddl = body('ddl') ?? fail('missing the -- @ddl section');
  const select = body('select') ?? fail('missing the -- @select section (one SELECT that defines the rows)');
  const statements = (() => {
    try {
      return statementsOf(tokenize(ddl));
    } catch {
      return undefined; // unreadable: no CREATE TABLE found in it, said below
    }
  })();
  const found = statements && createdSchema(statements, table);
  const created = (MODEL_SCHEMAS as readonly string[]).includes(found ?? '') ? (found as ModelSchema) : undefined;
  const schema: ModelSchema = internal ? 'gold_state' : created === 'core' ? 'core' : 'gold';
  if (created !== schema) {
    fail(`the -- @ddl section must contain CREATE TABLE ${internal ? `gold_state.${table} (an -- @internal model lives in gold_state)` : `gold.${table} (or core.${table})`}`);
  }
  const wrong = ddlStatementProblem(statements!, schema, table);
  if (wrong) fail(wrong);
  let reads: GoldModel['reads'];
  try {
    const tokens = tokenize(select);
    const first = tokens.find((t) => t.kind !== 'open');
    if (first && !(first.kind === 'word' && (first.value === 'select' || first.value === 'with'))) fail(`the -- @select section must be one SELECT (it starts with ${first.value.toUpperCase()})`);
    if (tokens.some((t) => t.kind === 'semicolon')) fail('the -- @select section must be one SELECT (it has more than one statement)');
    if (modifies(tokens)) fail('the -- @select section must only read (it has an INSERT, UPDATE, DELETE or MERGE): gold never writes its inputs');
    const inputs = selectInputs(select);
    reads = { silver: inputs.silver, models: inputs.tables.filter((t) => t !== table), external: inputs.external };
  } catch (e) {
    if (e instanceof SqlTextError) fail(`its -- @select cannot be read: ${e.message}`);
    throw e;
  }
  const description = header
    .map((l) => l.replace(/^--\s?/, '').trim())
    .filter(Boolean)
    .join(' ');
  return {
    dataset,
    table,
    schema,
    file,
    description,
    ddl,
    select,
    population: body('population'),
    forceRecompute,
    ...(keyed ? { keyed } : {}),
    reads: reads!,
    hash: createHash('sha256').update(text).digest('hex'),
  };
}

/**
 * A section's SQL without what follows its last token (comments, blank lines) and without one
 * final semicolon: the framework wraps a SELECT in its own statements, where a trailing `--`
 * comment would swallow the rest of the line.
 */
function endOfStatement(sql: string): string {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return sql.trim(); // unreadable: the caller's own reading says why
  }
  const last = tokens.at(-1)?.kind === 'semicolon' ? tokens.at(-2) : tokens.at(-1);
  return last ? sql.slice(0, last.end).trim() : '';
}

/**
 * Whether a SELECT holds a data-modifying statement: `WITH x AS (DELETE FROM …)` (a DML keyword
 * right after an opening parenthesis) or `WITH x AS (…) DELETE FROM …` (at the top level, right
 * after the WITH's last parenthesis; `FOR UPDATE` is a lock, and a column may be named update).
 */
function modifies(tokens: Token[]): boolean {
  const dml = (a: Token | undefined, b: Token | undefined) =>
    a?.kind === 'word' &&
    (((a.value === 'insert' || a.value === 'merge') && b?.kind === 'word' && b.value === 'into') || (a.value === 'delete' && b?.kind === 'word' && b.value === 'from') || (a.value === 'update' && (b?.kind === 'word' || b?.kind === 'quoted')));
  return tokens.some((t, i) => {
    if (t.kind === 'open' && t.value === '(') return dml(tokens[i + 1], tokens[i + 2]);
    // At the top level a statement after WITH follows the closing parenthesis of the last query it names.
    return t.depth === 0 && tokens[i - 1]?.kind === 'close' && dml(t, tokens[i + 1]);
  });
}

/** The statements of SQL text (tokens), split at semicolons outside `BEGIN ATOMIC … END` function bodies. */
function statementsOf(tokens: Token[]): Token[][] {
  const out: Token[][] = [[]];
  let atomic = 0; // open BEGIN ATOMIC / CASE blocks inside a function body
  for (const [i, t] of tokens.entries()) {
    if (t.kind === 'word') {
      if (t.value === 'atomic' && tokens[i - 1]?.kind === 'word' && tokens[i - 1]!.value === 'begin') atomic++;
      else if (atomic && t.value === 'case') atomic++;
      else if (atomic && t.value === 'end') atomic--;
    }
    if (t.kind === 'semicolon' && !atomic) out.push([]);
    else out.at(-1)!.push(t);
  }
  return out.filter((x) => x.length);
}

const isName = (t: Token | undefined): t is Token => t !== undefined && (t.kind === 'word' || t.kind === 'quoted');

/** The schema of the `CREATE TABLE <schema>.<table>` among a DDL section's statements (names quoted or not), or undefined. */
function createdSchema(statements: Token[][], table: string): string | undefined {
  for (const st of statements) {
    if (st[0]?.value !== 'create' || st[0].kind !== 'word' || st[1]?.value !== 'table' || st[1].kind !== 'word') continue;
    const i = st[2]?.kind === 'word' && st[2].value === 'if' ? 5 : 2;
    if (isName(st[i]) && st[i + 1]?.kind === 'dot' && isName(st[i + 2]) && st[i + 2]!.value === table) return st[i]!.value;
  }
  return undefined;
}

/**
 * What the -- @ddl section may hold, statement by statement (anything else is refused: the
 * section runs with the platform's rights): CREATE TABLE of the model's table (not attached to
 * another table: no INHERITS, PARTITION OF or REFERENCES), CREATE [UNIQUE] INDEX … ON it (not
 * CONCURRENTLY: the section runs in a transaction), COMMENT ON TABLE / COLUMN of it, and CREATE
 * [OR REPLACE] FUNCTION gold_state.<table>__<what> declared IMMUTABLE or STABLE (PostgreSQL then
 * refuses any write inside it). Returns the problem, or undefined.
 */
function ddlStatementProblem(statements: Token[][], schema: ModelSchema, table: string): string | undefined {
  const words = (st: Token[], n: number) => st.slice(0, n).map((t) => (t.kind === 'word' ? t.value : `"${t.value}"`));
  const has = (st: Token[], ...ws: string[]) => st.some((_, i) => ws.every((w, j) => st[i + j]?.kind === 'word' && st[i + j]!.value === w));
  // <schema>.<table> at position i (either part may be quoted).
  const ours = (st: Token[], i: number) => isName(st[i]) && st[i]!.value === schema && st[i + 1]?.kind === 'dot' && isName(st[i + 2]) && st[i + 2]!.value === table;
  const allowed = `CREATE TABLE ${schema}.${table}, CREATE INDEX … ON ${schema}.${table}, COMMENT ON TABLE / COLUMN ${schema}.${table}, CREATE OR REPLACE FUNCTION gold_state.${table}__<name> … IMMUTABLE or STABLE`;
  for (const st of statements) {
    const w = words(st, 8);
    let i = -1;
    if (w[0] === 'create' && w[1] === 'table') {
      i = w[2] === 'if' ? 5 : 2;
      if (has(st, 'inherits') || has(st, 'partition', 'of') || has(st, 'references')) return `its -- @ddl section's CREATE TABLE ${schema}.${table} may not attach it to another table (INHERITS, PARTITION OF, REFERENCES): a model's rows are its own`;
    } else if (w[0] === 'create' && (w[1] === 'index' || (w[1] === 'unique' && w[2] === 'index'))) {
      if (has(st, 'concurrently')) return `its -- @ddl section runs in a transaction: drop CONCURRENTLY from its CREATE INDEX`;
      const on = st.findIndex((t) => t.kind === 'word' && t.value === 'on');
      if (on > 0) i = st[on + 1]?.kind === 'word' && st[on + 1]!.value === 'only' ? on + 2 : on + 1;
    } else if (w[0] === 'comment' && w[1] === 'on' && (w[2] === 'table' || w[2] === 'column')) i = 3;
    else if (w[0] === 'create' && (w[1] === 'function' || (w[1] === 'or' && w[2] === 'replace' && w[3] === 'function'))) {
      const at = w[1] === 'function' ? 2 : 4;
      const fn = st[at + 2];
      if (!(st[at]?.value === 'gold_state' && st[at + 1]?.kind === 'dot' && isName(fn) && fn.value.startsWith(`${table}__`) && fn.value.length > table.length + 2)) {
        return `its -- @ddl section may only create functions named gold_state.${table}__<name> (it has: ${st.slice(0, at + 3).map((t) => t.value).join(' ')}); allowed: ${allowed}`;
      }
      if (!has(st, 'immutable') && !has(st, 'stable')) return `its -- @ddl section's function gold_state.${fn.value} must be declared IMMUTABLE or STABLE (then PostgreSQL refuses any write inside it)`;
      if (w[1] !== 'or') return `its -- @ddl section's function gold_state.${fn.value} must be CREATE OR REPLACE FUNCTION (the section runs again whenever the model is edited)`;
      continue;
    }
    if (i < 0 || !ours(st, i)) return `its -- @ddl section may only hold ${allowed} (it has a statement starting ${w.slice(0, 4).join(' ').toUpperCase()} …)`;
  }
  return undefined;
}

/**
 * The dataset's gold folder: next to the contract it was loaded from (source, or the folder
 * MEDALLION_DATASETS_DIR names), so contracts and gold SQL always come from the same root.
 */
export function goldModelsDir(dataset: string): string {
  const folder = datasetFolder(dataset);
  return folder ? path.join(folder, 'gold') : path.join(resolveDatasetsDir(), dataset, 'gold');
}

const fileCache = new Map<string, { stamp: string; models: GoldModel[] }>();

/**
 * The models whose files sit in the dataset's gold folder (none: []), in file order. Re-read only
 * when a file is added, removed or changed (names, sizes and modification times).
 */
export function goldModels(dataset: string, dir = goldModelsDir(dataset)): GoldModel[] {
  const key = `${dataset}\n${dir}`;
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.sql')).sort() : [];
  const stamp = files
    .map((f) => {
      const st = statSync(path.join(dir, f));
      return `${f}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
  const hit = fileCache.get(key);
  if (hit?.stamp === stamp) return hit.models;
  const models = files.map((f) => readModelFile(dataset, path.join(dir, f)));
  fileCache.set(key, { stamp, models });
  return models;
}

/**
 * One model file; a file that cannot be read as a model (half written, wrong table name, bad
 * marker…) is returned as `unreadable` with why, so the graph leaves it out instead of stopping
 * every dataset.
 */
function readModelFile(dataset: string, file: string): GoldModel {
  const text = readFileSync(file, 'utf8');
  try {
    return parseGoldModel(dataset, file, text);
  } catch (e) {
    if (!(e instanceof GoldModelError)) throw e;
    const table = path.basename(file, '.sql');
    const hash = createHash('sha256').update(text).digest('hex');
    return { dataset, table, schema: 'gold', file, description: '', ddl: '', select: '', forceRecompute: false, reads: { silver: [], models: [], external: [] }, hash, unreadable: e.message };
  }
}

/** A model with its derived maintenance plan. */
export interface PlannedModel extends GoldModel {
  plan: Plan;
  /** Position in dependency order (inputs first). */
  order: number;
  /** Models that read this one (direct). */
  readers: string[];
}

/**
 * Every model of every dataset, ordered by dependencies across datasets, each with its plan.
 * A model may read any silver dataset and any other model; cycles, unknown inputs and two
 * models with one name are refused with a one-line message.
 */
export class GoldGraph {
  readonly models: PlannedModel[];
  private readonly byTable: Map<string, PlannedModel>;

  /**
   * Models left out, with why: one reads a dataset whose contract does not load (or no dataset),
   * a model that is left out, or sits in a cycle. The others work as usual: one broken dataset or
   * model never stops the rest of gold.
   */
  readonly unavailable: Map<string, string>;

  /** Every model file read, by table name (the first, for a name declared twice), usable or not. */
  readonly files: Map<string, GoldModel>;

  /** Each dataset's table, qualified and quoted (silver."x", stg_pipedrive."deals_raw"). */
  private readonly tables: Map<string, string>;

  constructor(contracts: readonly Contract[], modelsOf: (dataset: string) => GoldModel[] = goldModels) {
    this.tables = new Map(contracts.map((c) => [c.name, silverTable(c)]));
    // A table a model reads FROM that belongs to a dataset (a staging table) is that dataset.
    const owner = new Map(contracts.map((c) => [`${tableOf(c).schema}.${tableOf(c).name}`, c.name]));
    const datasetOf = (qualified: string) => owner.get(qualified);
    const all = new Map<string, GoldModel>();
    const unavailable = new Map<string, string>();
    const byName = new Map<string, GoldModel[]>();
    for (const c of contracts) for (const found of modelsOf(c.name)) byName.set(found.table, [...(byName.get(found.table) ?? []), found]);
    this.files = new Map([...byName].map(([t, fs]) => [t, fs[0]!]));
    for (const [table, files] of byName) {
      const found = files[0]!;
      if (files.length > 1) {
        // Neither file is the model: all are left out until one remains.
        unavailable.set(table, `gold model '${table}' is declared ${files.length === 2 ? 'twice' : `${files.length} times`}: ${files.map((f) => f.file).join(' and ')}; rename or remove all but one of them`);
        continue;
      }
      if (found.unreadable) {
        unavailable.set(table, found.unreadable);
        continue;
      }
      const resolved = found.reads.external.map(datasetOf).filter((d): d is string => d !== undefined);
      const m = resolved.length ? { ...found, reads: { ...found.reads, silver: [...new Set([...found.reads.silver, ...resolved])].sort() } } : found;
      all.set(m.table, m);
    }
    const known = new Map(contracts.map((c) => [c.name, c]));
    const keyedInput = (m: GoldModel): Input | string => {
      const k = m.keyed!;
      const at = `gold model ${m.file}: its -- @keyed input ${k.schema}.${k.name}`;
      if ((MODEL_SCHEMAS as readonly string[]).includes(k.schema)) return m.reads.models.includes(k.name) ? { kind: 'model', table: k.name } : `${at} is not a model its SELECT reads`;
      const d = k.schema === 'silver' ? k.name : datasetOf(`${k.schema}.${k.name}`);
      return d && m.reads.silver.includes(d) ? { kind: 'silver', dataset: d } : `${at} is not a dataset its SELECT reads`;
    };
    const why = (m: GoldModel): string | undefined => {
      if (m.keyed && m.forceRecompute) return `gold model ${m.file}: -- @keyed and -- @strategy: recompute contradict each other`;
      if (m.keyed) {
        const k = keyedInput(m);
        if (typeof k === 'string') return k;
      }
      const d = m.reads.silver.find((x) => !known.has(x));
      if (d) return `gold model ${m.file}: it reads silver.${d}, but there is no dataset '${d}' (or its contract does not load)`;
      const t = m.reads.models.find((x) => !all.has(x));
      const left = t === undefined ? undefined : unavailable.get(t);
      if (left) return `gold model ${m.file}: it reads ${t}, which is unavailable (${left})`;
      if (t) return `gold model ${m.file}: it reads ${t}, which is no gold model (no file shared/datasets/<dataset>/gold/${t}.sql); add that model or stop reading it`;
      return undefined;
    };
    for (const m of all.values()) {
      const reason = why(m);
      if (reason) unavailable.set(m.table, reason);
    }
    const ordered: GoldModel[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (m: GoldModel, trail: string[]): void => {
      if (state.get(m.table) === 'done') return;
      if (state.get(m.table) === 'visiting') {
        const cycle = [...trail.slice(trail.indexOf(m.table)), m.table];
        for (const t of cycle) unavailable.set(t, `gold models read each other in a cycle: ${cycle.join(' → ')}`);
        return;
      }
      state.set(m.table, 'visiting');
      for (const dep of m.reads.models) {
        const d = all.get(dep);
        if (d) visit(d, [...trail, m.table]);
        const blocked = unavailable.get(dep);
        if (blocked && !unavailable.has(m.table)) unavailable.set(m.table, `gold model ${m.file}: it reads ${dep}, which is unavailable (${blocked})`);
      }
      state.set(m.table, 'done');
      ordered.push(m);
    };
    for (const m of [...all.values()].sort((a, b) => a.table.localeCompare(b.table))) visit(m, []);
    this.unavailable = unavailable;
    const ctx = {
      appendOnly: (d: string) => known.get(d)?.dedup.mode === 'first',
      isModel: (t: string) => all.has(t),
      datasetOf,
    };
    const usable = ordered.filter((m) => !unavailable.has(m.table));
    this.models = usable.map((m, order) => {
      let plan: Plan;
      try {
        const k = m.keyed ? (keyedInput(m) as Input) : undefined;
        plan = k ? { kind: 'keyed', input: k, ref: { schema: m.keyed!.schema, name: m.keyed!.name }, columns: m.keyed!.columns } : planModel(m.select, ctx, { forceRecompute: m.forceRecompute });
      } catch (e) {
        throw new GoldModelError(`gold model ${m.file}: its -- @select cannot be read: ${e instanceof Error ? e.message : String(e)}`);
      }
      return { ...m, plan, order, readers: usable.filter((r) => r.reads.models.includes(m.table)).map((r) => r.table) };
    });
    this.byTable = new Map(this.models.map((m) => [m.table, m]));
  }

  get(table: string): PlannedModel | undefined {
    return this.byTable.get(table);
  }

  /** The table a dataset's rows are in, qualified and quoted (silver."orders", stg_pipedrive."deals_raw"). */
  datasetTable(dataset: string): string {
    const t = this.tables.get(dataset);
    if (!t) throw new GoldModelError(`no dataset '${dataset}' in the gold graph`);
    return t;
  }

  /** Models that read the datasets directly or through other models (already closed over readers), in dependency order. */
  downstreamOf(datasets: readonly string[]): PlannedModel[] {
    const hit = new Set<string>();
    for (const m of this.models) {
      if (m.reads.silver.some((d) => datasets.includes(d)) || m.reads.models.some((t) => hit.has(t))) hit.add(m.table);
    }
    return this.models.filter((m) => hit.has(m.table));
  }

  /** `tables` and every model downstream of them, in dependency order. */
  closure(tables: Iterable<string>): PlannedModel[] {
    const hit = new Set(tables);
    for (const m of this.models) if (m.reads.models.some((t) => hit.has(t))) hit.add(m.table);
    return this.models.filter((m) => hit.has(m.table));
  }

  /** Datasets whose models are exported (folders with at least one non-internal model). */
  exportGroups(): Map<string, PlannedModel[]> {
    const out = new Map<string, PlannedModel[]>();
    for (const m of this.models) if (m.schema === 'gold') out.set(m.dataset, [...(out.get(m.dataset) ?? []), m]);
    return out;
  }
}

const graphCache = new Map<string, { models: GoldModel[][]; graph: GoldGraph }>();

/** The gold graph of these contracts (rebuilt when a model file changes). */
export function goldGraph(contracts: readonly Contract[]): GoldGraph {
  const sorted = [...contracts].sort((a, b) => a.name.localeCompare(b.name));
  const key = sorted.map((c) => `${c.name}:${c.dedup.mode}:${goldModelsDir(c.name)}`).join('\n');
  const models = sorted.map((c) => goldModels(c.name));
  const hit = graphCache.get(key);
  if (hit && hit.models.every((m, i) => m === models[i])) return hit.graph;
  const graph = new GoldGraph(sorted, (d) => models[sorted.findIndex((c) => c.name === d)] ?? []);
  graphCache.set(key, { models, graph });
  return graph;
}
