import { createWriteStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { literal } from './sql';

/**
 * PostgreSQL rows handed to DuckDB as CSV (`COPY … TO STDOUT (FORMAT csv)` into a local file, then
 * DuckDB's `read_csv`): the one way the gold code moves rows between the engines.
 *
 * Two traps are handled here, once:
 * - DuckDB drops a byte-order mark at the start of a file, which would eat one from the first value
 *   (a text starting with U+FEFF): every line starts with a constant column, read and left out.
 * - DuckDB refuses a record longer than its `max_line_size` (2 MB by default): the writer measures
 *   the longest record and the reader is given room for it.
 */
export interface PgCsv {
  file: string;
  /** Data rows written. */
  rows: number;
  /** Bytes of the longest record (its quoted newlines included). */
  longest: number;
}

/** DuckDB's default `max_line_size`. */
const DUCKDB_MAX_LINE = 2_097_152;

/** Counts the records of PostgreSQL CSV output and measures the longest (a newline inside quotes does not end one). */
class RecordMeter extends Transform {
  rows = 0;
  longest = 0;
  private length = 0;
  private quoted = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let i = 0;
    let quote = chunk.indexOf(0x22);
    let newline = chunk.indexOf(0x0a);
    while (i < chunk.length) {
      if (quote >= 0 && quote < i) quote = chunk.indexOf(0x22, i);
      if (newline >= 0 && newline < i) newline = chunk.indexOf(0x0a, i);
      const ends = !this.quoted && newline >= 0 && (quote < 0 || newline < quote);
      const next = ends ? newline : quote;
      if (next < 0) {
        this.length += chunk.length - i;
        break;
      }
      this.length += next + 1 - i;
      i = next + 1;
      if (ends) {
        this.rows++;
        this.longest = Math.max(this.longest, this.length);
        this.length = 0;
      } else {
        this.quoted = !this.quoted; // a doubled quote inside a value toggles twice
      }
    }
    done(null, chunk);
  }
}

/** Writes the rows of `sql` as CSV into `file` (each line led by a constant column). */
export async function copyToCsv(db: Pick<pg.PoolClient, 'query'>, sql: string, file: string): Promise<PgCsv> {
  const meter = new RecordMeter();
  await pipeline(db.query(copyTo(`COPY (SELECT 0 AS __lead, * FROM (${sql}) __q) TO STDOUT (FORMAT csv)`)), meter, createWriteStream(file));
  return { file, rows: meter.rows, longest: meter.longest };
}

/** DuckDB's reading of a `copyToCsv` file as a subquery: its columns (name → DuckDB type), the lead column left out. */
export function readPgCsv(csv: PgCsv, columns: [string, string][]): string {
  const cols = ([['__lead', 'INTEGER'], ...columns] as [string, string][]).map(([c, t]) => `${literal(c)}: ${literal(t)}`).join(', ');
  // Room for the longest record; DuckDB's buffer must hold two of them (its default would be 16).
  const room = csv.longest + 64;
  const size = room > DUCKDB_MAX_LINE ? `, max_line_size = ${room}, buffer_size = ${2 * room}` : '';
  return (
    `(SELECT * EXCLUDE (__lead) FROM read_csv(${literal(csv.file)}, columns = {${cols}}, header = false, auto_detect = false, ` +
    `delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, new_line = '\\n'${size}))`
  );
}
