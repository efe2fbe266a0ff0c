import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGzip, type Gzip, type ZlibOptions } from 'node:zlib';
import type { SourceName } from '../config';
import type { Lake } from '../lake/lake';
import { safeLakePath } from '../lake/paths';

/**
 * Bronze files of the API sources, in the pattern of seed 004:
 *
 *   bronze/{source}/scope={scope}/entity={entity}/ingestion_date={YYYY-MM-DD}/run_id={timestamp}/part-{N}.jsonl.gz
 *
 * (`bronze` is the lake zone; the lake path starts at {source}.) run_id is the UTC start of the
 * run as YYYYMMDDTHHMMSSmmmZ, ingestion_date its UTC day, N the part number from 00000. Each line
 * is one record as the API returned it (shared/sources/rawJson.ts), gzip-compressed; a part is
 * closed once its uncompressed size would pass EXTRACT_PART_MAX_BYTES, so a blob-triggered ingest
 * reads each file line by line in bounded memory. Files are only ever added (a run never
 * rewrites a path another run wrote: the run_id differs) and each appears complete or not at all
 * (Lake.write raises one BlobCreated for the finished file).
 */

export const BRONZE_PATTERN = /^(pipedrive|zendesk)\/scope=([a-z0-9][a-z0-9_-]*)\/entity=([a-z_]+)\/ingestion_date=(\d{4}-\d{2}-\d{2})\/run_id=(\d{8}T\d{9}Z)\/part-(\d{5,})\.jsonl\.gz$/;

export function runIdFor(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** The start of a run from its run_id (inverse of runIdFor). */
export function runIdTime(runId: string): number {
  const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)(\d{3})Z$/.exec(runId);
  if (!m) throw new Error(`'${runId}' is not a run id`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

export function bronzePrefix(source: SourceName, scope: string, entity?: string): string {
  return `${source}/scope=${scope}/${entity ? `entity=${entity}/` : ''}`;
}

export function bronzePartPath(args: { source: SourceName; scope: string; entity: string; runId: string; part: number }): string {
  const day = new Date(runIdTime(args.runId)).toISOString().slice(0, 10);
  return safeLakePath(`${bronzePrefix(args.source, args.scope, args.entity)}ingestion_date=${day}/run_id=${args.runId}/part-${String(args.part).padStart(5, '0')}.jsonl.gz`);
}

export interface PartWritten {
  path: string;
  part: number;
  records: number;
  bytes: number;
  /** Newest record time (ms) in the part; undefined when no record has one. */
  maxTimestamp?: number;
}

interface OpenPart {
  part: number;
  file: string;
  gzip: Gzip;
  out: WriteStream;
  records: number;
  bytes: number;
  maxTimestamp?: number;
  /** Lines not yet handed to gzip (zlib works chunk by chunk: one write per line would be slow). */
  pending: string[];
  pendingBytes: number;
}

/** A record larger than this is written as a part of its own. */
export const LARGE_RECORD_BYTES = 1024 * 1024;

/** Lines are handed to gzip in batches of about this many bytes. */
const BATCH_BYTES = 1024 * 1024;

/**
 * Writes the records of one entity run into size-capped gzip parts: each part is built in a
 * local file (the work folder), then uploaded whole, and `onPart` is told (the caller records it
 * and may advance the watermark). Memory stays bounded whatever the run's size.
 */
export class BronzePartWriter {
  private current?: OpenPart;
  private nextPart = 0;
  readonly written: PartWritten[] = [];

  constructor(
    private readonly lake: Lake,
    private readonly workDir: string,
    private readonly target: { source: SourceName; scope: string; entity: string; runId: string },
    private readonly maxBytes: number,
    private readonly onPart: (p: PartWritten) => Promise<void>,
  ) {}

  /** Appends one record (its JSON text, one line). */
  async add(json: string, timestamp: number | undefined): Promise<void> {
    const size = Buffer.byteLength(json, 'utf8') + 1;
    // A large record (over 1 MiB) is a part of its own: staging holds few such lines in memory at
    // once, and should it refuse one, the other records are in other parts.
    const large = size > LARGE_RECORD_BYTES;
    if (this.current && this.current.records > 0 && (large || this.current.bytes + size > this.maxBytes)) await this.close();
    const p = this.current ?? (await this.open());
    p.records++;
    p.bytes += size;
    if (timestamp !== undefined && (p.maxTimestamp === undefined || timestamp > p.maxTimestamp)) p.maxTimestamp = timestamp;
    p.pending.push(json);
    p.pendingBytes += size;
    if (p.pendingBytes >= BATCH_BYTES) await this.drain(p);
    if (large) await this.close();
  }

  private async drain(p: OpenPart): Promise<void> {
    if (!p.pending.length) return;
    const chunk = Buffer.from(`${p.pending.join('\n')}\n`, 'utf8');
    p.pending = [];
    p.pendingBytes = 0;
    if (!p.gzip.write(chunk)) await once(p.gzip, 'drain');
  }

  /** Uploads the part being written (if it holds records). */
  async flush(): Promise<void> {
    if (this.current && this.current.records > 0) await this.close();
  }

  /** Drops the local file of an unfinished part (after a failure): nothing of it reaches the lake. */
  async discard(): Promise<void> {
    const p = this.current;
    this.current = undefined;
    if (!p) return;
    p.gzip.destroy();
    p.out.destroy();
    await rm(p.file, { force: true });
  }

  private async open(): Promise<OpenPart> {
    await mkdir(this.workDir, { recursive: true });
    const file = path.join(this.workDir, `extract-${randomUUID()}.jsonl.gz`);
    // A generous write buffer lets zlib compress (on the thread pool) while the next page is fetched.
    // (ZlibBase hands its options to the Transform it is, so the stream option applies.)
    const options: ZlibOptions & { writableHighWaterMark: number } = { level: 6, writableHighWaterMark: 8 * BATCH_BYTES };
    const gzip = createGzip(options);
    const out = createWriteStream(file);
    gzip.pipe(out);
    this.current = { part: this.nextPart++, file, gzip, out, records: 0, bytes: 0, pending: [], pendingBytes: 0 };
    return this.current;
  }

  private async close(): Promise<void> {
    const p = this.current!;
    this.current = undefined;
    await this.drain(p);
    p.gzip.end();
    await finished(p.out);
    const lakePath = bronzePartPath({ ...this.target, part: p.part });
    try {
      await this.lake.writeFile('bronze', lakePath, p.file, {
        contentType: 'application/gzip',
        metadata: {
          source: this.target.source,
          scope: this.target.scope,
          entity: this.target.entity,
          run_id: this.target.runId,
          part: String(p.part),
          records: String(p.records),
          format: 'jsonl',
        },
      });
    } finally {
      await rm(p.file, { force: true });
    }
    const written: PartWritten = { path: lakePath, part: p.part, records: p.records, bytes: p.bytes, maxTimestamp: p.maxTimestamp };
    this.written.push(written);
    await this.onPart(written);
  }
}
