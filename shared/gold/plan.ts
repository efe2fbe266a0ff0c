import { closing, fromRefs, selectClauses, splitCommas, tableRefs, textOf, tokenize, type Token } from './sqlText';

/**
 * How a model is maintained, derived from its one SELECT (shared/gold/README.md):
 *  - aggregate: GROUP BY over one input with decomposable aggregates: per-key partial state;
 *  - rows: a row-wise projection of one input (no GROUP BY, no aggregate, no join): the changed
 *    input rows are re-projected;
 *  - latest: SELECT DISTINCT ON (<input key>) … ORDER BY … over one dataset (the latest version of
 *    each business key, e.g. core over staging): only the keys the new rows carry are recomputed;
 *  - keyed: declared in the file (-- @keyed): the rows of the input keys that changed are recomputed;
 *  - recompute: anything else: the SELECT is computed in full and merged when an input changed.
 */

export type Plan = AggregatePlan | RowsPlan | LatestPlan | KeyedPlan | RecomputePlan;

/** The model's one input for the aggregate and rows strategies. */
export type Input = { kind: 'silver'; dataset: string } | { kind: 'model'; table: string };

export interface Aggregate {
  fn: 'count' | 'sum' | 'min' | 'max' | 'bool_or' | 'bool_and' | 'count_distinct';
  /** Argument text (undefined for count(*)). */
  arg?: string;
  /** The input column the argument is, when it is a bare column reference (`x` or `alias.x`). */
  argColumn?: string;
  /** FILTER (WHERE …) condition text. */
  filter?: string;
  /** State column: __a<i>. */
  column: string;
  /** The call's source span in the SELECT text (replaced by the state in the output). */
  span: [number, number];
}

export interface AggregatePlan {
  kind: 'aggregate';
  input: Input;
  /** Alias the SELECT gives its input (or the input's table name). */
  alias: string;
  keys: string[];
  where?: string;
  aggregates: Aggregate[];
  /** Output column → expression over the state (alias.<key>, alias.__a<i>). */
  outputs: { column: string; expr: string }[];
}

export interface RowsPlan {
  kind: 'rows';
  input: Input;
  alias: string;
  /** The SELECT with its input replaced by `{{input}}`. */
  template: string;
  /** Output columns, in SELECT order. */
  columns: string[];
  /** Output column → the input column it copies (for the model's primary key). */
  passthrough: Map<string, string>;
}

export interface LatestPlan {
  kind: 'latest';
  /** A dataset (the strategy keys on the new rows of a run). */
  input: Input & { kind: 'silver' };
  alias: string;
  /** The DISTINCT ON columns of the input (its business key), in order. */
  inputKey: string[];
  /** The output column each of them is copied to (the model's primary key). */
  outputKey: string[];
  /** The SELECT with its input replaced by `{{input}}`. */
  template: string;
}

/** Declared by the model (`-- @keyed: <input> (<columns>)`): recompute the keys an input change touches. */
export interface KeyedPlan {
  kind: 'keyed';
  input: Input;
  /** How the SELECT names the input (its references are restricted to the touched keys). */
  ref: { schema: string; name: string };
  /** Key columns: in the input, and (same names) in the model. */
  columns: string[];
}

export interface RecomputePlan {
  kind: 'recompute';
  reason: string;
}

const AGGREGATES = new Set(['count', 'sum', 'min', 'max', 'bool_or', 'bool_and']);
/** Aggregates the aggregate strategy cannot merge (their presence means recompute). */
const OTHER_AGGREGATES = new Set([
  'avg', 'array_agg', 'string_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'jsonb_object_agg', 'every', 'stddev', 'stddev_pop', 'stddev_samp',
  'variance', 'var_pop', 'var_samp', 'percentile_cont', 'percentile_disc', 'mode', 'corr', 'covar_pop', 'covar_samp', 'regr_slope', 'bit_and', 'bit_or', 'xmlagg', 'range_agg',
]);

interface PlanContext {
  /** Whether a silver dataset only ever gains rows (dedup mode 'first'). */
  appendOnly: (dataset: string) => boolean;
  /** Whether gold.<table> / gold_state.<table> / core.<table> is another model. */
  isModel: (table: string) => boolean;
  /** The dataset whose table `<schema>.<name>` is (a staging table), if any. */
  datasetOf?: (qualified: string) => string | undefined;
}

/** Schemas of models: `gold` (business tables), `gold_state` (internal), `core` (seed 004's typed star schema). */
export const MODEL_SCHEMAS = ['gold', 'gold_state', 'core'] as const;
export type ModelSchema = (typeof MODEL_SCHEMAS)[number];
const isModelSchema = (s: string): s is ModelSchema => (MODEL_SCHEMAS as readonly string[]).includes(s);

const isName = (t: Token | undefined) => t !== undefined && (t.kind === 'word' || t.kind === 'quoted');

/** `<name>` or `<alias>.<name>` spanning tokens[a, b): the column name, else undefined. */
function columnRef(tokens: Token[], a: number, b: number): string | undefined {
  if (b - a === 1 && isName(tokens[a])) return tokens[a]!.value;
  if (b - a === 3 && isName(tokens[a]) && tokens[a + 1]!.kind === 'dot' && isName(tokens[a + 2])) return tokens[a + 2]!.value;
  return undefined;
}

/** Reads `<schema>.<table> [[AS] alias]` (the whole FROM clause), else undefined. */
function singleInput(tokens: Token[], [a, b]: [number, number], ctx: PlanContext): { input: Input; alias: string; appendOnly: boolean } | { reason: string } {
  const t = tokens.slice(a, b);
  if (t.length < 3 || !isName(t[0]) || t[1]!.kind !== 'dot' || !isName(t[2])) return { reason: 'its FROM is not a single table' };
  const schema = t[0]!.value;
  const name = t[2]!.value;
  let rest = t.slice(3);
  if (rest[0]?.value === 'as') rest = rest.slice(1);
  if (rest.length > 1 || (rest.length === 1 && !isName(rest[0]))) return { reason: 'its FROM joins or has more than one table' };
  const alias = rest[0]?.value ?? name;
  if (schema === 'silver') return { input: { kind: 'silver', dataset: name }, alias, appendOnly: ctx.appendOnly(name) };
  if (isModelSchema(schema) && ctx.isModel(name)) return { input: { kind: 'model', table: name }, alias, appendOnly: false };
  const dataset = ctx.datasetOf?.(`${schema}.${name}`);
  if (dataset) return { input: { kind: 'silver', dataset }, alias, appendOnly: ctx.appendOnly(dataset) };
  return { reason: `it reads ${schema}.${name}, which is neither a dataset's table nor a gold model` };
}

/** Output column name of a SELECT item tokens[a, b): `expr AS name` or a bare column. */
function itemName(tokens: Token[], a: number, b: number): { name: string; exprEnd: number } | undefined {
  if (b - a >= 3 && tokens[b - 2]!.value === 'as' && tokens[b - 2]!.kind === 'word' && isName(tokens[b - 1]) && tokens[b - 2]!.depth === tokens[a]!.depth) return { name: tokens[b - 1]!.value, exprEnd: b - 2 };
  const col = columnRef(tokens, a, b);
  return col ? { name: col, exprEnd: b } : undefined;
}

/** Derives the maintenance plan of a model from its SELECT. */
export function planModel(select: string, ctx: PlanContext, options: { forceRecompute?: boolean } = {}): Plan {
  if (options.forceRecompute) return { kind: 'recompute', reason: 'the model asks for it (-- @strategy: recompute)' };
  const tokens = tokenize(select);
  const c = selectClauses(tokens);
  if (!c) return { kind: 'recompute', reason: 'it is not a single SELECT … FROM …' };
  const on = c.distinct && tokens[c.select[0]]?.value === 'on' && tokens[c.select[0] + 1]?.kind === 'open' ? c.select[0] + 1 : undefined;
  if (on !== undefined) return latestPlan(select, tokens, c, on, ctx);
  if (c.others.length) return { kind: 'recompute', reason: `it uses ${c.others.map((o) => o.toUpperCase()).join(', ')}` };
  if (c.distinct) return { kind: 'recompute', reason: 'it uses SELECT DISTINCT' };
  if (tokens.some((t, i) => i > 0 && t.kind === 'word' && t.value === 'select')) return { kind: 'recompute', reason: 'it has a subquery' };
  if (tokens.some((t) => t.kind === 'word' && t.value === 'over')) return { kind: 'recompute', reason: 'it uses a window function' };
  const src = singleInput(tokens, c.from, ctx);
  if ('reason' in src) return { kind: 'recompute', reason: src.reason };
  const items = splitCommas(tokens, c.select[0], c.select[1], 0);
  const where = c.where ? textOf(select, tokens, c.where[0], c.where[1]) : undefined;
  if (!c.groupBy) return rowsPlan(select, tokens, items, src);
  return aggregatePlan(select, tokens, items, c.groupBy, where, src);
}

/**
 * `SELECT DISTINCT ON (k1, k2) … FROM <dataset> [alias] [WHERE …] ORDER BY k1, k2, …`: every output
 * row depends on the input rows of one key only, so a run's new rows name the keys to recompute.
 * The DISTINCT ON columns must be input columns copied to outputs (which form the primary key).
 */
function latestPlan(select: string, tokens: Token[], c: NonNullable<ReturnType<typeof selectClauses>>, open: number, ctx: PlanContext): Plan {
  const recompute = (reason: string): Plan => ({ kind: 'recompute', reason });
  const others = c.others.filter((o) => o !== 'order');
  if (others.length) return recompute(`it uses DISTINCT ON with ${others.map((o) => o.toUpperCase()).join(', ')}`);
  if (c.groupBy) return recompute('it uses DISTINCT ON with GROUP BY');
  if (tokens.some((t, i) => i > 0 && t.kind === 'word' && t.value === 'select')) return recompute('it has a subquery');
  if (tokens.some((t) => t.kind === 'word' && t.value === 'over')) return recompute('it uses a window function');
  const src = singleInput(tokens, c.from, ctx);
  if ('reason' in src) return recompute(src.reason);
  if (src.input.kind !== 'silver') return recompute('DISTINCT ON over another model is recomputed');
  const close = closing(tokens, open);
  const inputKey: string[] = [];
  for (const [a, b] of splitCommas(tokens, open + 1, close, tokens[open]!.depth + 1)) {
    const col = columnRef(tokens, a, b);
    if (!col) return recompute(`its DISTINCT ON has an expression (${textOf(select, tokens, a, b)}), not a column`);
    inputKey.push(col);
  }
  const outputKey: string[] = [];
  const copies = new Map<string, string>();
  for (const [a, b] of splitCommas(tokens, close + 1, c.select[1], 0)) {
    const named = itemName(tokens, a, b);
    if (!named) return recompute(`an output has no name (write <expr> AS <column>): ${textOf(select, tokens, a, b)}`);
    const col = columnRef(tokens, a, named.exprEnd);
    if (col && !copies.has(col)) copies.set(col, named.name);
  }
  for (const k of inputKey) {
    const out = copies.get(k);
    if (!out) return recompute(`its DISTINCT ON column ${k} is not an output`);
    outputKey.push(out);
  }
  const template = select.slice(0, tokens[c.from[0]]!.start) + `{{input}} AS ${quoteIdent(src.alias)}` + select.slice(tokens[c.from[1] - 1]!.end);
  return { kind: 'latest', input: src.input, alias: src.alias, inputKey, outputKey, template };
}

function rowsPlan(select: string, tokens: Token[], items: [number, number][], src: { input: Input; alias: string }): Plan {
  const passthrough = new Map<string, string>();
  const columns: string[] = [];
  for (const [a, b] of items) {
    const named = itemName(tokens, a, b);
    if (!named) return { kind: 'recompute', reason: `an output has no name (write <expr> AS <column>): ${textOf(select, tokens, a, b)}` };
    columns.push(named.name);
    for (let j = a; j < named.exprEnd; j++) {
      const t = tokens[j]!;
      if (t.kind === 'word' && (AGGREGATES.has(t.value) || OTHER_AGGREGATES.has(t.value)) && tokens[j + 1]?.kind === 'open' && tokens[j - 1]?.kind !== 'dot') {
        return { kind: 'recompute', reason: `it aggregates (${t.value}) without GROUP BY` };
      }
    }
    const col = columnRef(tokens, a, named.exprEnd);
    if (col) passthrough.set(named.name, col);
  }
  if (src.input.kind === 'model') return { kind: 'recompute', reason: 'a row-wise model over another model is recomputed' };
  const c = selectClauses(tokens)!;
  const template = select.slice(0, tokens[c.from[0]]!.start) + `{{input}} AS ${quoteIdent(src.alias)}` + select.slice(tokens[c.from[1] - 1]!.end);
  return { kind: 'rows', input: src.input, alias: src.alias, template, columns, passthrough };
}

function aggregatePlan(
  select: string,
  tokens: Token[],
  items: [number, number][],
  groupBy: [number, number],
  where: string | undefined,
  src: { input: Input; alias: string; appendOnly: boolean },
): Plan {
  if (src.input.kind === 'silver' && !src.appendOnly) return { kind: 'recompute', reason: `silver.${src.input.dataset} is updated in place (dedup mode 'latest'): its partial aggregates cannot take a row back` };
  const keys: string[] = [];
  for (const [a, b] of splitCommas(tokens, groupBy[0], groupBy[1], 0)) {
    const col = columnRef(tokens, a, b);
    if (!col) return { kind: 'recompute', reason: `it groups by an expression (${textOf(select, tokens, a, b)}), not a column` };
    keys.push(col);
  }
  const aggregates: Aggregate[] = [];
  const outputs: AggregatePlan['outputs'] = [];
  for (const [a, b] of items) {
    const named = itemName(tokens, a, b);
    if (!named) return { kind: 'recompute', reason: `an output has no name (write <expr> AS <column>): ${textOf(select, tokens, a, b)}` };
    const found: Aggregate[] = [];
    const fresh: Aggregate[] = [];
    for (let j = a; j < named.exprEnd; j++) {
      const t = tokens[j]!;
      if (t.kind !== 'word' || tokens[j + 1]?.kind !== 'open' || tokens[j - 1]?.kind === 'dot') continue;
      if (OTHER_AGGREGATES.has(t.value)) return { kind: 'recompute', reason: `${t.value}() cannot be merged from partial results` };
      if (!AGGREGATES.has(t.value)) continue;
      const agg = readAggregate(select, tokens, j, `__a${aggregates.length + fresh.length + 1}`);
      if ('reason' in agg) return { kind: 'recompute', reason: agg.reason };
      // The same aggregate written twice (count(*) FILTER … in a count and in a rate) is one state column.
      const same = [...aggregates, ...fresh].find((x) => sameAggregate(x, agg.aggregate));
      found.push(same ? { ...same, span: agg.aggregate.span } : agg.aggregate);
      if (!same) fresh.push(agg.aggregate);
      j = agg.end - 1;
    }
    const exprStart = tokens[a]!.start;
    const exprEnd = tokens[named.exprEnd - 1]!.end;
    let expr = '';
    let at = exprStart;
    for (const f of found) {
      expr += select.slice(at, f.span[0]) + stateRef(f, src.alias);
      at = f.span[1];
    }
    expr += select.slice(at, exprEnd);
    // An output without aggregates is an expression over the keys (to_char(event_date, 'FMDay')):
    // the state row has the keys under their names, so it reads them as it is.
    aggregates.push(...fresh);
    outputs.push({ column: named.name, expr });
  }
  if (src.input.kind === 'model') {
    const bad = aggregates.find((x) => x.fn !== 'count' && x.fn !== 'sum');
    if (bad) return { kind: 'recompute', reason: `${bad.fn}() over another model cannot take back a changed row (only count and sum can)` };
  }
  return { kind: 'aggregate', input: src.input, alias: src.alias, keys, where, aggregates, outputs };
}

const squash = (s: string | undefined) => (s ?? '').replace(/\s+/g, ' ').trim();

function sameAggregate(a: Aggregate, b: Aggregate): boolean {
  return a.fn === b.fn && squash(a.arg) === squash(b.arg) && squash(a.filter) === squash(b.filter);
}

/** The state expression that replaces an aggregate call in an output. */
function stateRef(a: Aggregate, alias: string): string {
  const col = `${quoteIdent(alias)}.${a.column}`;
  if (a.fn === 'sum') return `(CASE WHEN ${quoteIdent(alias)}.${a.column}n > 0 THEN ${col} END)`;
  return col;
}

/** Words that read like a bare column but are not one (SQL's constants and niladic functions). */
const NOT_COLUMNS = new Set(['true', 'false', 'null', 'current_date', 'current_time', 'current_timestamp', 'localtime', 'localtimestamp', 'current_user', 'session_user', 'user', 'current_role', 'current_catalog', 'current_schema']);

/** Whether tokens[a, b) are a row constructor: `ROW(…)` or a parenthesised list `(x, y, …)`. */
function isRowValue(tokens: Token[], a: number, b: number): boolean {
  const t = tokens[a];
  if (t?.kind === 'word' && t.value === 'row' && tokens[a + 1]?.kind === 'open' && closing(tokens, a + 1) === b - 1) return true;
  return t?.kind === 'open' && closing(tokens, a) === b - 1 && splitCommas(tokens, a + 1, b - 1, t.depth + 1).length > 1;
}

/** Reads `fn ( [DISTINCT] arg | * ) [FILTER ( WHERE cond )]` starting at tokens[j]. */
function readAggregate(select: string, tokens: Token[], j: number, column: string): { aggregate: Aggregate; end: number } | { reason: string } {
  const fn = tokens[j]!.value;
  const open = j + 1;
  const close = closing(tokens, open);
  let argFrom = open + 1;
  let distinct = false;
  if (tokens[argFrom]?.value === 'distinct' && tokens[argFrom]!.kind === 'word') {
    distinct = true;
    argFrom++;
  }
  const star = close - argFrom === 1 && tokens[argFrom]!.value === '*';
  if (tokens.slice(argFrom, close).some((t) => t.kind === 'word' && t.value === 'order' && t.depth === tokens[open]!.depth + 1)) return { reason: `${fn}(… ORDER BY …) is ordered` };
  if (splitCommas(tokens, argFrom, close, tokens[open]!.depth + 1).length > 1) return { reason: `${fn}() has several arguments` };
  for (let k = argFrom; k < close; k++) {
    const t = tokens[k]!;
    if (t.kind === 'word' && (AGGREGATES.has(t.value) || OTHER_AGGREGATES.has(t.value)) && tokens[k + 1]?.kind === 'open') return { reason: `${fn}() nests another aggregate` };
  }
  let end = close + 1;
  let filter: string | undefined;
  if (tokens[end]?.value === 'filter' && tokens[end + 1]?.kind === 'open' && tokens[end + 2]?.value === 'where') {
    const fclose = closing(tokens, end + 1);
    filter = textOf(select, tokens, end + 3, fclose);
    end = fclose + 1;
  }
  if (tokens[end]?.value === 'over') return { reason: 'it uses a window function' };
  if (distinct && fn !== 'count') return { reason: `${fn}(DISTINCT …) cannot be merged` };
  if (distinct && isRowValue(tokens, argFrom, close)) return { reason: `count(DISTINCT …) of a row value (a, b) has no column type to keep its values in (ARRAY[a, b] has one)` };
  if (star && fn !== 'count') return { reason: `${fn}(*) is not an aggregate` };
  const arg = star ? undefined : textOf(select, tokens, argFrom, close);
  const ref = star ? undefined : columnRef(tokens, argFrom, close);
  const aggregate: Aggregate = {
    fn: distinct ? 'count_distinct' : (fn as Aggregate['fn']),
    arg,
    ...(ref && !(tokens[argFrom]!.kind === 'word' && NOT_COLUMNS.has(ref)) ? { argColumn: ref } : {}),
    filter,
    column,
    span: [tokens[j]!.start, tokens[end - 1]!.end],
  };
  return { aggregate, end };
}

export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * What a SELECT reads: silver datasets (`silver.<x>`), models (`gold.<x>`, `gold_state.<x>`,
 * `core.<x>`), and the other tables it reads FROM or JOINs (`stg_pipedrive.deals_raw`), which
 * the graph resolves to the datasets they belong to.
 */
export function selectInputs(sql: string): { silver: string[]; tables: string[]; external: string[] } {
  const tokens = tokenize(sql);
  const refs = tableRefs(tokens, ['silver', ...MODEL_SCHEMAS]);
  const silver = [...new Set(refs.filter((r) => r.schema === 'silver').map((r) => r.name))].sort();
  const tables = [...new Set(refs.filter((r) => r.schema !== 'silver').map((r) => r.name))].sort();
  const known = new Set(['silver', ...MODEL_SCHEMAS, 'pg_temp']);
  const external = [...new Set(fromRefs(tokens).filter((r) => !known.has(r.schema)).map((r) => `${r.schema}.${r.name}`))].sort();
  return { silver, tables, external };
}

/** One line on why a model has its strategy (`medallion gold models`). */
export function strategyWhy(plan: Plan): string {
  switch (plan.kind) {
    case 'recompute':
      return plan.reason;
    case 'aggregate':
      return `${plan.aggregates.length} aggregate(s) by ${plan.keys.join(', ')}`;
    case 'latest':
      return `latest row per ${plan.inputKey.join(', ')}: the keys of each run's rows are recomputed`;
    case 'keyed':
      return `declared keyed on ${plan.ref.schema}.${plan.ref.name} (${plan.columns.join(', ')}): the keys an input change touches are recomputed`;
    case 'rows':
      return 'row-wise';
  }
}
