/**
 * A small reader of PostgreSQL SELECT text: enough to find a model's inputs and, for the
 * aggregate strategy, its GROUP BY keys and aggregate calls. It tokenizes (strings, quoted
 * identifiers, comments and dollar quotes are opaque) and splits at parenthesis depth 0; it does
 * not validate SQL — PostgreSQL does that when the model runs.
 */

export interface Token {
  kind: 'word' | 'quoted' | 'string' | 'number' | 'op' | 'open' | 'close' | 'comma' | 'dot' | 'semicolon';
  /** Lower-cased for words; the identifier without quotes for quoted ones; raw text otherwise. */
  value: string;
  start: number;
  end: number;
  /** Parenthesis depth of the token (an opening parenthesis has the depth outside it). */
  depth: number;
}

export class SqlTextError extends Error {
  override name = 'SqlTextError';
}

/** Splits SQL into tokens; comments and whitespace are dropped. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let depth = 0;
  let i = 0;
  const push = (kind: Token['kind'], value: string, start: number, end: number) => out.push({ kind, value, start, end, depth });
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (sql.startsWith('/*', i)) {
      const close = sql.indexOf('*/', i + 2);
      if (close < 0) throw new SqlTextError('a /* comment is never closed');
      i = close + 2;
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const start = i;
      i += c === "'" ? 1 : 2;
      for (;;) {
        if (i >= sql.length) throw new SqlTextError('a string literal is never closed');
        if (sql[i] === '\\' && c !== "'") i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      push('string', sql.slice(start, i), start, i);
    } else if (c === '"') {
      const start = i;
      let name = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw new SqlTextError('a quoted identifier is never closed');
        if (sql[i] === '"' && sql[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (sql[i] === '"') break;
        else name += sql[i++];
      }
      i++;
      push('quoted', name, start, i);
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const close = sql.indexOf(tag, i + tag.length);
      if (close < 0) throw new SqlTextError(`a ${tag} quoted string is never closed`);
      push('string', sql.slice(i, close + tag.length), i, close + tag.length);
      i = close + tag.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))![0];
      push('word', m.toLowerCase(), i, i + m.length);
      i += m.length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?/.exec(sql.slice(i))![0];
      push('number', m, i, i + m.length);
      i += m.length;
    } else if (c === '(' || c === '[') {
      // Brackets nest like parentheses (ARRAY[a, b] has commas of its own).
      push('open', c, i, i + 1);
      depth++;
      i++;
    } else if (c === ')' || c === ']') {
      depth--;
      if (depth < 0) throw new SqlTextError('a closing parenthesis has no opening one');
      push('close', c, i, i + 1);
      i++;
    } else if (c === ',') {
      push('comma', c, i, ++i);
    } else if (c === '.') {
      push('dot', c, i, ++i);
    } else if (c === ';') {
      push('semicolon', c, i, ++i);
    } else {
      const m = /^(::|<=|>=|<>|!=|\|\||[-+*/%<>=~!@#^&|`?:])/.exec(sql.slice(i));
      const op = m ? m[0] : c;
      push('op', op, i, i + op.length);
      i += op.length;
    }
  }
  if (depth !== 0) throw new SqlTextError('an opening parenthesis is never closed');
  return out;
}

/** A reference `<schema>.<name>` to a table of one of `schemas` anywhere in the SQL. */
export function tableRefs(tokens: Token[], schemas: string[]): { schema: string; name: string }[] {
  const out: { schema: string; name: string }[] = [];
  for (let i = 0; i + 2 < tokens.length; i++) {
    const a = tokens[i]!;
    const dot = tokens[i + 1]!;
    const b = tokens[i + 2]!;
    if ((a.kind === 'word' || a.kind === 'quoted') && schemas.includes(a.value) && dot.kind === 'dot' && (b.kind === 'word' || b.kind === 'quoted')) {
      if (i > 0 && tokens[i - 1]!.kind === 'dot') continue;
      if (tokens[i + 3]?.kind === 'open') continue; // schema.function(…), not a table
      out.push({ schema: a.value, name: b.value });
    }
  }
  return out;
}

/** Every `<schema>.<name>` right after FROM or JOIN (a table, whatever its schema). */
export function fromRefs(tokens: Token[]): { schema: string; name: string }[] {
  const out: { schema: string; name: string }[] = [];
  for (let i = 1; i + 2 < tokens.length; i++) {
    const before = tokens[i - 1]!;
    if (before.kind !== 'word' || (before.value !== 'from' && before.value !== 'join')) continue;
    const [a, dot, b] = [tokens[i]!, tokens[i + 1]!, tokens[i + 2]!];
    if ((a.kind === 'word' || a.kind === 'quoted') && dot.kind === 'dot' && (b.kind === 'word' || b.kind === 'quoted') && tokens[i + 3]?.kind !== 'open') {
      out.push({ schema: a.value, name: b.value });
    }
  }
  return out;
}

const NOT_ALIAS = new Set(['where', 'join', 'inner', 'left', 'right', 'full', 'cross', 'natural', 'on', 'using', 'group', 'order', 'limit', 'offset', 'union', 'except', 'intersect', 'having', 'window', 'fetch', 'for', 'tablesample']);

/**
 * Replaces every reference to the table `<schema>.<name>` with `replacement` (a parenthesised
 * subquery), keeping its alias, or giving it the table's name as alias when it has none.
 */
export function replaceTableRef(sql: string, schema: string, name: string, replacement: string): string {
  const tokens = tokenize(sql);
  let out = '';
  let at = 0;
  for (let i = 0; i + 2 < tokens.length; i++) {
    const [a, dot, b] = [tokens[i]!, tokens[i + 1]!, tokens[i + 2]!];
    const isName = (t: Token) => t.kind === 'word' || t.kind === 'quoted';
    if (!isName(a) || a.value !== schema || dot.kind !== 'dot' || !isName(b) || b.value !== name) continue;
    if ((i > 0 && tokens[i - 1]!.kind === 'dot') || tokens[i + 3]?.kind === 'open' || tokens[i + 3]?.kind === 'dot') continue;
    const next = tokens[i + 3];
    const aliased = next !== undefined && ((next.kind === 'word' && !NOT_ALIAS.has(next.value)) || next.kind === 'quoted');
    out += sql.slice(at, a.start) + replacement + (aliased ? '' : ` AS "${name.replace(/"/g, '""')}"`);
    at = b.end;
    i += 2;
  }
  return out + sql.slice(at);
}

/** Index of the token that closes the parenthesis opened at `open`. */
export function closing(tokens: Token[], open: number): number {
  const d = tokens[open]!.depth;
  for (let j = open + 1; j < tokens.length; j++) if (tokens[j]!.kind === 'close' && tokens[j]!.depth === d) return j;
  throw new SqlTextError('unbalanced parentheses');
}

/** Splits tokens[from, to) at commas of depth `depth`. */
export function splitCommas(tokens: Token[], from: number, to: number, depth: number): [number, number][] {
  const parts: [number, number][] = [];
  let s = from;
  for (let j = from; j < to; j++) {
    if (tokens[j]!.kind === 'comma' && tokens[j]!.depth === depth) {
      parts.push([s, j]);
      s = j + 1;
    }
  }
  parts.push([s, to]);
  return parts.filter(([a, b]) => b > a);
}

/** The top-level clauses of a SELECT (token index ranges), or undefined when it is not a plain one. */
export interface SelectClauses {
  select: [number, number];
  from: [number, number];
  where?: [number, number];
  groupBy?: [number, number];
  /** Other top-level keywords present (having, order, limit, window, union, ...). */
  others: string[];
  distinct: boolean;
}

const CLAUSE_WORDS = new Set(['select', 'from', 'where', 'group', 'having', 'order', 'limit', 'offset', 'window', 'union', 'intersect', 'except', 'with', 'fetch', 'for']);

export function selectClauses(tokens: Token[]): SelectClauses | undefined {
  const marks: { word: string; at: number; body: number }[] = [];
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.depth !== 0 || t.kind !== 'word' || !CLAUSE_WORDS.has(t.value)) continue;
    if ((t.value === 'group' || t.value === 'order') && tokens[j + 1]?.value === 'by') marks.push({ word: t.value, at: j, body: j + 2 });
    else if (t.value !== 'group' && t.value !== 'order') marks.push({ word: t.value, at: j, body: j + 1 });
  }
  if (marks[0]?.word !== 'select' || marks[0].at !== 0) return undefined;
  const range = (k: number): [number, number] => [marks[k]!.body, k + 1 < marks.length ? marks[k + 1]!.at : tokens.length];
  const find = (w: string) => marks.findIndex((m) => m.word === w);
  const f = find('from');
  if (f < 0) return undefined;
  let select = range(0);
  let distinct = false;
  if (tokens[select[0]]?.value === 'distinct' || tokens[select[0]]?.value === 'all') {
    distinct = tokens[select[0]]!.value === 'distinct';
    select = [select[0] + 1, select[1]];
  }
  const w = find('where');
  const g = find('group');
  return {
    select,
    from: range(f),
    where: w >= 0 ? range(w) : undefined,
    groupBy: g >= 0 ? range(g) : undefined,
    others: marks.map((m) => m.word).filter((x) => !['select', 'from', 'where', 'group'].includes(x)),
    distinct,
  };
}

/** Source text of tokens[from, to). */
export function textOf(sql: string, tokens: Token[], from: number, to: number): string {
  if (to <= from) return '';
  return sql.slice(tokens[from]!.start, tokens[to - 1]!.end);
}
