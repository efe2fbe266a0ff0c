import pg from 'pg';
import { parseArgs, stringFlag, UsageError } from '../args';
import type { CliCommand } from '../command';
import { withPlatform } from '../context';
import { ExactJson, jsonRows, table } from '../format';

/** The statements `medallion sql` runs: queries that only read (the database enforces it too). */
export const READ_ONLY_KEYWORDS = ['select', 'with', 'values', 'table', 'explain', 'show'] as const;

/**
 * Splits SQL text at top-level semicolons, the way PostgreSQL's lexer sees them: quoted
 * strings ('…', E'…'), quoted identifiers ("…"), dollar quotes ($$…$$, $tag$…$tag$) and
 * comments (-- …, nested /* … *\/) are skipped. Comments are removed; empty statements dropped.
 */
export function sqlStatements(text: string): string[] {
  const statements: string[] = [];
  let current = '';
  let i = 0;
  const n = text.length;
  const identChar = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      while (i < n && text[i] !== '\n') i++;
      current += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      current += ' ';
      continue;
    }
    if (c === "'" || c === '"') {
      // E'…' strings take backslash escapes; standard strings and identifiers double the quote.
      const backslashes = c === "'" && /[eE]/.test(text[i - 1] ?? '') && !identChar(text[i - 2]);
      let j = i + 1;
      while (j < n) {
        if (backslashes && text[j] === '\\') j += 2;
        else if (text[j] === c && text[j + 1] === c) j += 2;
        else if (text[j] === c) break;
        else j++;
      }
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === '$' && !identChar(text[i - 1])) {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(i));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        const stop = end < 0 ? n : end + tag[0].length;
        current += text.slice(i, stop);
        i = stop;
        continue;
      }
    }
    if (c === ';') {
      if (current.trim()) statements.push(current.trim());
      current = '';
      i++;
      continue;
    }
    current += c;
    i++;
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}

/**
 * Refuses what `medallion sql` does not run, before anything reaches the database: more than one
 * statement, or a statement that is not a query (transaction control, SET, DDL, DML, DO, CALL, …).
 */
export function checkReadOnlyQuery(text: string): void {
  const statements = sqlStatements(text);
  if (statements.length === 0) throw new UsageError('give a query, e.g. medallion sql "SELECT * FROM gold.daily_sales_summary"');
  if (statements.length > 1) {
    throw new UsageError(`medallion sql runs exactly one statement; this input has ${statements.length} (separated by ';'): run them one at a time`);
  }
  const keyword = /^[\s(]*([A-Za-z_]+)/.exec(statements[0]!)?.[1]?.toLowerCase() ?? '';
  if (!(READ_ONLY_KEYWORDS as readonly string[]).includes(keyword)) {
    throw new UsageError(
      `medallion sql is read-only: it runs ${READ_ONLY_KEYWORDS.map((k) => k.toUpperCase()).join(', ')} queries, not ${keyword ? `'${keyword.toUpperCase()}'` : 'this statement'}`,
    );
  }
}

const JSON_OID = 114;
const JSONB_OID = 3802;
/** Types whose JavaScript value is exact: booleans and 16/32-bit integers. */
const NATIVE: Record<number, (value: string) => unknown> = { 16: (v) => v === 't', 21: Number, 23: Number };

/**
 * Every value exactly as PostgreSQL prints it: json and jsonb kept as their text (numbers exact),
 * booleans and 16/32-bit integers as JSON booleans and numbers, everything else as PostgreSQL's
 * text (bigint, numeric, float — '-0', 'Infinity' —, times with their microseconds and offset,
 * intervals, bytea as \x…, arrays as {…}).
 */
function exactParser(oid: number): (value: string) => unknown {
  if (oid === JSON_OID || oid === JSONB_OID) return (value) => new ExactJson(value);
  return NATIVE[oid] ?? ((value) => value);
}

export class ReadOnlyViolation extends Error {
  override name = 'ReadOnlyViolation';
}

/**
 * Runs one statement in a READ ONLY transaction with a statement timeout, and throws away the
 * connection afterwards. The guarantees come from PostgreSQL, not from inspecting the text:
 *  - the extended query protocol (Parse/Bind/Execute) accepts exactly one statement, so nothing
 *    can be chained after a ';';
 *  - a snapshot is taken before the query runs, so SET TRANSACTION READ WRITE (or
 *    set_config('transaction_read_only', 'off')) is refused; every write, writable CTE,
 *    SELECT INTO, nextval() … fails with "cannot execute … in a read-only transaction";
 *  - if the statement ends the transaction (COMMIT, ROLLBACK) the result is refused;
 *  - session settings the query may change die with the connection (release(true)).
 */
export async function readOnlyQuery(pool: pg.Pool, text: string, options: { timeoutMs?: number } = {}): Promise<pg.QueryResult> {
  const timeoutMs = Math.max(1, Math.round(options.timeoutMs ?? 120_000));
  const client = await pool.connect();
  try {
    await client.query('BEGIN TRANSACTION READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
    // Takes the transaction's snapshot: from here on it can no longer become READ WRITE.
    const before = await client.query<{ t: string }>('SELECT now()::text AS t');
    const res = await client.query({
      text,
      values: [],
      queryMode: 'extended',
      // Arrays, not objects: two columns with one name (count(*), count(*) FILTER …) both survive.
      rowMode: 'array',
      // Values stay PostgreSQL's text (see exactParser): nothing is rounded or reformatted.
      types: { getTypeParser: exactParser },
      // A client-side backstop in case the server-side timeout was switched off by the query.
      query_timeout: Math.min(timeoutMs + 10_000, 2_147_483_647), // Node's timers hold at most 2^31-1 ms
    } as pg.QueryConfig);
    if (client.getTransactionStatus() !== 'T') throw new ReadOnlyViolation('the statement ended the read-only transaction (COMMIT, ROLLBACK, … are not allowed)');
    const after = await client.query<{ t: string; ro: string }>(`SELECT now()::text AS t, current_setting('transaction_read_only') AS ro`);
    if (after.rows[0]!.t !== before.rows[0]!.t || after.rows[0]!.ro !== 'on') throw new ReadOnlyViolation('the statement changed the read-only transaction');
    await client.query('ROLLBACK');
    return res;
  } finally {
    // Never hand this connection back to the pool: the query may have changed session settings.
    client.release(true);
  }
}

/** Rows as objects; a repeated column name gets a suffix (count, count_2) instead of hiding the first. */
export function namedRows(res: pg.QueryResult): Record<string, unknown>[] {
  const seen = new Map<string, number>();
  const names = res.fields.map((f) => {
    const n = (seen.get(f.name) ?? 0) + 1;
    seen.set(f.name, n);
    return n === 1 ? f.name : `${f.name}_${n}`;
  });
  return (res.rows as unknown[][]).map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
}

export const sqlCommand: CliCommand = {
  name: 'sql',
  usage: 'medallion sql [--json] [--timeout <seconds>] "<query>"',
  summary: "run one read-only query (SELECT, WITH, VALUES, TABLE, EXPLAIN, SHOW) against the platform's PostgreSQL (silver, gold, core, stg_*, ops schemas)",
  async run(argv, ctx) {
    const args = parseArgs(argv, { command: 'medallion sql', flags: { json: 'boolean', timeout: 'value' } });
    const query = args.positional.join(' ').trim();
    if (!query) throw new UsageError('give a query, e.g. medallion sql "SELECT * FROM gold.daily_sales_summary"');
    const timeoutText = stringFlag(args, 'timeout');
    const timeout = timeoutText === undefined ? 120 : Number(timeoutText);
    // PostgreSQL's statement_timeout is at most 2^31-1 ms (about 24.8 days).
    if (!(timeout > 0 && timeout * 1000 <= 2_147_483_647)) throw new UsageError(`--timeout must be a number of seconds above 0 and at most 2147483 (about 24 days), got '${timeoutText}'`);
    checkReadOnlyQuery(query);
    return withPlatform(ctx, async (p) => {
      let res: pg.QueryResult;
      try {
        res = await readOnlyQuery(p.pool, query, { timeoutMs: timeout * 1000 });
      } catch (e) {
        if (e instanceof ReadOnlyViolation) {
          ctx.err(`query refused: ${e.message}`);
          return 1;
        }
        // Errors of the query itself (syntax, permissions, read-only, timeout); others go up to main.
        if (!(e instanceof pg.DatabaseError) || /^(08|28|3D|57P)/.test(e.code ?? '')) throw e;
        const pgError = e;
        let line = `query failed: ${pgError.message}`;
        if (pgError.code === '25006' || pgError.code === '25001') line += ' (medallion sql is read-only)';
        else if (pgError.code === '57014') line += ` (limit: --timeout ${timeout} s)`;
        if (pgError.hint) line += `; hint: ${pgError.hint}`;
        ctx.err(line);
        return 1;
      }
      const rows = namedRows(res);
      ctx.out(args.flags.json ? jsonRows(rows) : table(rows));
      return 0;
    });
  },
};
