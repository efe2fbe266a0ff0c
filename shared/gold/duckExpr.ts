import { ident } from '../engine/sql';
import { tokenize, type Token } from './sqlText';

/**
 * PostgreSQL → DuckDB for the small part of SQL whose meaning is the same in both engines, so a
 * run's distinct-set values can be read by DuckDB from the run's own silver Parquet instead of
 * being copied out of PostgreSQL (distinctSets.ts, RunExtract). Anything outside it gives
 * undefined and the caller keeps PostgreSQL: a wrong "yes" here would be a wrong count in gold.
 *
 * Columns: integers, text, boolean and date only, each stored in the Parquet with the matching
 * DuckDB type (text equality is byte equality in both engines under a deterministic collation;
 * ordering of text depends on the collation, so only = and <> compare texts).
 * Conditions: column or literal operands; = <> != (and < <= > >= for integers and dates); IS
 * [NOT] NULL; [NOT] IN (literals); AND, OR, NOT, parentheses, TRUE, FALSE. Literals: plain
 * '…' strings without backslashes (their meaning would depend on standard_conforming_strings),
 * integers of at most 18 digits. No casts, no functions, no arithmetic.
 */

export type ColumnClass = 'int' | 'text' | 'bool' | 'date';

/** The class of a PostgreSQL type OID, when DuckDB's text of the value is PostgreSQL's (canonical(), distinctSets.ts). */
export function pgClass(oid: number): ColumnClass | undefined {
  switch (oid) {
    case 20:
    case 21:
    case 23:
      return 'int';
    case 25:
    case 1043:
      return 'text';
    case 16:
      return 'bool';
    case 1082:
      return 'date';
    default:
      return undefined;
  }
}

/** The class a DuckDB column type holds (as DESCRIBE prints it). */
export function duckClass(type: string): ColumnClass | undefined {
  if (/^U?(TINYINT|SMALLINT|INTEGER|BIGINT)$|^HUGEINT$/.test(type)) return 'int';
  if (type === 'VARCHAR') return 'text';
  if (type === 'BOOLEAN') return 'bool';
  if (type === 'DATE') return 'date';
  return undefined;
}

/**
 * DuckDB's value of a column of the class from PostgreSQL's text of it (COPY's output, read as
 * VARCHAR), or an error for a text DuckDB would read differently: DuckDB takes '0044-03-15 BC'
 * for year 44 AD, so a date must be exactly YYYY-MM-DD; a boolean is PostgreSQL's t or f.
 */
export function duckFromPgText(column: string, cls: ColumnClass): string {
  const c = ident(column);
  switch (cls) {
    case 'text':
      return c;
    case 'int':
      return `CAST(${c} AS BIGINT)`;
    case 'bool':
      return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} = 't' THEN true WHEN ${c} = 'f' THEN false ELSE error('a boolean text other than t or f') END`;
    case 'date':
      return `CASE WHEN ${c} IS NULL THEN NULL WHEN regexp_full_match(${c}, '[0-9]{4}-[0-9]{2}-[0-9]{2}') THEN CAST(${c} AS DATE) ELSE error('a date text other than YYYY-MM-DD') END`;
  }
}

/** Columns both engines read alike: name → class (PostgreSQL's and the Parquet's agree). */
export type Columns = Map<string, ColumnClass>;

type Operand = { sql: string; cls: ColumnClass | 'null'; column: boolean };

class Refused extends Error {}

const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'null', 'in', 'true', 'false']);

class Reader {
  private i = 0;

  constructor(
    private readonly sql: string,
    private readonly tokens: Token[],
    private readonly columns: Columns,
    private readonly alias: string,
    private readonly used: Set<string>,
  ) {}

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  private peek(): Token | undefined {
    return this.tokens[this.i];
  }

  private word(w: string): boolean {
    const t = this.peek();
    if (t?.kind === 'word' && t.value === w) {
      this.i++;
      return true;
    }
    return false;
  }

  private take(): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new Refused();
    return t;
  }

  /** or := and (OR and)* */
  or(): string {
    const parts = [this.and()];
    while (this.word('or')) parts.push(this.and());
    return parts.length === 1 ? parts[0]! : `(${parts.join(' OR ')})`;
  }

  private and(): string {
    const parts = [this.not()];
    while (this.word('and')) parts.push(this.not());
    return parts.length === 1 ? parts[0]! : `(${parts.join(' AND ')})`;
  }

  private not(): string {
    if (this.word('not')) return `(NOT ${this.not()})`;
    return this.predicate();
  }

  private predicate(): string {
    const t = this.peek();
    // A parenthesised condition (a parenthesised operand is not supported: no arithmetic).
    if (t?.kind === 'open') {
      if (this.sql[t.start] !== '(') throw new Refused();
      this.i++;
      const inner = this.or();
      const c = this.take();
      if (c.kind !== 'close' || this.sql[c.start] !== ')') throw new Refused();
      return `(${inner})`;
    }
    const left = this.operand();
    if (this.word('is')) {
      const not = this.word('not');
      if (!this.word('null')) throw new Refused();
      return `(${left.sql} IS ${not ? 'NOT ' : ''}NULL)`;
    }
    const notIn = this.word('not');
    if (this.word('in')) return this.inList(left, notIn);
    if (notIn) throw new Refused();
    const op = this.peek();
    if (op?.kind !== 'op' || !['=', '<>', '!=', '<', '<=', '>', '>='].includes(op.value)) {
      // A boolean column (or TRUE / FALSE) alone.
      if (left.cls !== 'bool') throw new Refused();
      return left.sql;
    }
    this.i++;
    const right = this.operand();
    if (!comparable(left, right)) throw new Refused();
    const ordered = !['=', '<>', '!='].includes(op.value);
    if (ordered && left.cls !== 'int' && left.cls !== 'date') throw new Refused();
    return `(${left.sql} ${op.value === '!=' ? '<>' : op.value} ${right.sql})`;
  }

  private inList(left: Operand, not: boolean): string {
    const open = this.take();
    if (open.kind !== 'open' || this.sql[open.start] !== '(') throw new Refused();
    const items: string[] = [];
    for (;;) {
      const item = this.operand();
      if (item.column || !comparable(left, item) || item.cls === 'null') throw new Refused();
      items.push(item.sql);
      const t = this.take();
      if (t.kind === 'close' && this.sql[t.start] === ')') break;
      if (t.kind !== 'comma') throw new Refused();
    }
    return `(${left.sql} ${not ? 'NOT IN' : 'IN'} (${items.join(', ')}))`;
  }

  private operand(): Operand {
    const t = this.take();
    if (t.kind === 'string') {
      const raw = this.sql.slice(t.start, t.end);
      if (!raw.startsWith("'") || raw.includes('\\')) throw new Refused();
      const next = this.peek();
      if (next?.kind === 'string') throw new Refused(); // 'a' 'b' continues the literal in PostgreSQL
      return { sql: raw, cls: 'text', column: false };
    }
    if (t.kind === 'op' && t.value === '-') {
      const n = this.take();
      if (n.kind !== 'number') throw new Refused();
      return this.number(n, '-');
    }
    if (t.kind === 'number') return this.number(t, '');
    if (t.kind === 'word' && (t.value === 'true' || t.value === 'false')) return { sql: t.value.toUpperCase(), cls: 'bool', column: false };
    if (t.kind === 'word' && t.value === 'null') return { sql: 'NULL', cls: 'null', column: false };
    if (t.kind === 'word' || t.kind === 'quoted') {
      if (t.kind === 'word' && KEYWORDS.has(t.value)) throw new Refused();
      let name = t.value;
      if (this.peek()?.kind === 'dot') {
        if (name !== this.alias) throw new Refused();
        this.i++;
        const c = this.take();
        if (c.kind !== 'word' && c.kind !== 'quoted') throw new Refused();
        name = c.value;
      }
      if (this.peek()?.kind === 'open' || this.peek()?.kind === 'dot') throw new Refused(); // a function call, or schema.table.column
      const cls = this.columns.get(name);
      if (!cls) throw new Refused();
      this.used.add(name);
      return { sql: ident(name), cls, column: true };
    }
    throw new Refused();
  }

  private number(t: Token, sign: string): Operand {
    if (!/^[0-9]{1,18}$/.test(t.value)) throw new Refused();
    const next = this.peek();
    if (next?.kind === 'op' && next.value === '::') throw new Refused();
    return { sql: `${sign}${t.value}`, cls: 'int', column: false };
  }
}

function comparable(a: Operand, b: Operand): boolean {
  if (a.cls === 'null' || b.cls === 'null') return false; // = NULL is never true: refused, not worth translating
  return a.cls === b.cls && (a.column || b.column);
}

/**
 * A PostgreSQL boolean condition over `alias`'s columns as DuckDB SQL with the same value on every
 * row, or undefined. The columns it reads are added to `used`.
 */
export function duckCondition(sql: string, columns: Columns, alias: string, used = new Set<string>()): string | undefined {
  try {
    const tokens = tokenize(sql);
    if (tokens.some((t) => t.kind === 'semicolon')) return undefined;
    const found = new Set<string>();
    const r = new Reader(sql, tokens, columns, alias, found);
    const out = r.or();
    if (!r.done()) return undefined;
    for (const c of found) used.add(c);
    return out;
  } catch {
    return undefined;
  }
}

/**
 * DuckDB's canonical text of a bare column (optionally qualified by `alias`, optionally in
 * parentheses), equal to PostgreSQL's `canonical()` of it (texts over `longText` bytes as
 * `sha256:<hex>`), or undefined. The column is added to `used`. A date outside years
 * 1–9999 (where the two engines print it differently) raises, and the caller falls back.
 */
export function duckCanonical(expr: string, columns: Columns, alias: string, longText: number, used = new Set<string>()): string | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(expr);
  } catch {
    return undefined;
  }
  while (tokens.length >= 2 && tokens[0]!.kind === 'open' && tokens.at(-1)!.kind === 'close' && expr[tokens[0]!.start] === '(' && tokens.slice(1, -1).every((t) => t.depth > tokens[0]!.depth)) tokens = tokens.slice(1, -1);
  const isName = (t: Token | undefined) => t !== undefined && (t.kind === 'quoted' || (t.kind === 'word' && !KEYWORDS.has(t.value)));
  let name: string | undefined;
  if (tokens.length === 1 && isName(tokens[0])) name = tokens[0]!.value;
  else if (tokens.length === 3 && isName(tokens[0]) && tokens[0]!.value === alias && tokens[1]!.kind === 'dot' && isName(tokens[2])) name = tokens[2]!.value;
  const cls = name === undefined ? undefined : columns.get(name);
  if (!cls) return undefined;
  used.add(name!);
  const c = ident(name!);
  switch (cls) {
    case 'int':
    case 'bool':
      return `CAST(${c} AS VARCHAR)`;
    case 'text':
      return `CASE WHEN strlen(${c}) > ${longText} THEN 'sha256:' || sha256(${c}) ELSE ${c} END`;
    case 'date':
      return `CASE WHEN ${c} IS NULL THEN NULL WHEN ${c} BETWEEN DATE '0001-01-01' AND DATE '9999-12-31' THEN CAST(${c} AS VARCHAR) ELSE error('a date outside years 1-9999') END`;
  }
}
