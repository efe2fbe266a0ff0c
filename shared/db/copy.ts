import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { qi } from './schema';

/** Streams a CSV file (no header) into `table (columns)` with COPY; returns the rows copied. */
export async function copyCsvInto(client: pg.PoolClient, table: string, columns: string[], csvPath: string): Promise<number> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.map(qi).join(', ')}) FROM STDIN WITH (FORMAT csv)`));
  await pipeline(createReadStream(csvPath, { highWaterMark: 1024 * 1024 }), stream);
  return Number(stream.rowCount ?? 0);
}

/** Streams the result of `COPY (select) TO STDOUT` into a local file (text format, one row per line). */
export async function copyQueryToFile(client: pg.PoolClient, select: string, filePath: string): Promise<void> {
  const stream = client.query(copyTo(`COPY (${select}) TO STDOUT`));
  await pipeline(stream, createWriteStream(filePath));
}
