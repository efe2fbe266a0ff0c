import { createWriteStream } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

/** A problem with the file as a whole: it is quarantined with this message and not retried. */
export class FileRejectedError extends Error {
  override name = 'FileRejectedError';
}

export interface StagedInput {
  localPath: string;
  /** Bytes of the stored (possibly compressed) file. */
  storedBytes: number;
  /** Bytes after decompression. */
  bytes: number;
  gzip: boolean;
  /** First line of the file (without BOM and line ending), for CSV header checks. */
  firstLine: string;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const SNIFF_BYTES = 64 * 1024;
const MAX_HEADER_BYTES = 1024 * 1024;

/** Watches the (decompressed) bytes as they pass: binary content, the first line, the size. */
class Inspector extends Transform {
  bytes = 0;
  private head: Buffer[] = [];
  private headBytes = 0;
  firstLine: string | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.bytes < SNIFF_BYTES) {
      const slice = chunk.subarray(0, SNIFF_BYTES - this.bytes);
      if (slice.includes(0)) {
        done(new FileRejectedError('the file is binary (it contains NUL bytes), not CSV or JSON text; drop a UTF-8 text export'));
        return;
      }
    }
    if (this.firstLine === undefined) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      const all = Buffer.concat(this.head);
      const nl = all.indexOf(0x0a);
      if (nl >= 0 || this.headBytes > MAX_HEADER_BYTES) {
        this.firstLine = all
          .subarray(0, nl >= 0 ? nl : Math.min(all.length, MAX_HEADER_BYTES))
          .toString('utf8')
          .replace(/^\uFEFF/, '')
          .replace(/\r$/, '');
        this.head = [];
      }
    }
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.firstLine === undefined) {
      this.firstLine = Buffer.concat(this.head).toString('utf8').replace(/^\uFEFF/, '').replace(/\r$/, '');
    }
    done();
  }
}

/** Reads the first chunk (to detect gzip by its magic number) and gives back the whole stream. */
async function peek(stream: Readable): Promise<{ first: Buffer; rest: Readable }> {
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  const firstChunk: Buffer = first.done ? Buffer.alloc(0) : Buffer.isBuffer(first.value) ? first.value : Buffer.from(first.value as Uint8Array);
  async function* rest(): AsyncGenerator<Buffer> {
    if (firstChunk.length) yield firstChunk;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    }
  }
  return { first: firstChunk, rest: Readable.from(rest(), { objectMode: false }) };
}

/**
 * Streams a bronze file to a local file, decompressing gzip on the way, and checks what can be
 * checked without parsing: empty, binary, corrupt gzip. Memory stays constant.
 */
export async function stageInput(source: Readable, localPath: string): Promise<StagedInput> {
  const { first, rest } = await peek(source);
  if (first.length === 0) throw new FileRejectedError('the file is empty (0 bytes); nothing to ingest');
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  let stored = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, done) {
      stored += chunk.length;
      done(null, chunk);
    },
  });
  const inspector = new Inspector();
  try {
    if (gzip) await pipeline(rest, counter, createGunzip(), inspector, createWriteStream(localPath));
    else await pipeline(rest, counter, inspector, createWriteStream(localPath));
  } catch (e) {
    if (e instanceof FileRejectedError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (gzip && (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(String((e as Error).message)))) {
      throw new FileRejectedError(`the gzip stream is corrupt or truncated (${(e as Error).message}); upload the complete .gz file again`);
    }
    throw e;
  }
  if (inspector.bytes === 0) throw new FileRejectedError('the file is empty after decompression; nothing to ingest');
  return { localPath, storedBytes: stored, bytes: inspector.bytes, gzip, firstLine: inspector.firstLine ?? '' };
}

/** Splits a CSV header line (quotes honoured). */
export function parseHeader(line: string, delimiter = ',', quote = '"'): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (inQuotes) {
      if (ch === quote && line[i + 1] === quote) {
        cur += quote;
        i++;
      } else if (ch === quote) inQuotes = false;
      else cur += ch;
    } else if (ch === quote) inQuotes = true;
    else if (ch === delimiter) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((h) => h.trim());
}

/** Normalises a header name for matching: case, spaces, dashes. */
export function normalizeName(name: string): string {
  return name
    .trim()
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[\s\-.]+/g, '_');
}

export interface ColumnMatch {
  /** Position of each contract source column in the header (undefined when absent and optional). */
  positions: Record<string, number | undefined>;
  width: number;
}

/**
 * Matches a CSV header line to a contract's source columns (names normalised, aliases honoured,
 * any order, extra columns ignored). A missing required column rejects the file as a whole.
 */
export function matchColumns(
  source: { name: string; aliases?: string[]; required?: boolean }[],
  firstLine: string,
  delimiter = ',',
): ColumnMatch {
  const header = parseHeader(firstLine, delimiter).map(normalizeName);
  const positions: Record<string, number | undefined> = {};
  const missing: string[] = [];
  for (const s of source) {
    const names = [s.name, ...(s.aliases ?? [])].map(normalizeName);
    const i = header.findIndex((h) => names.includes(h));
    positions[s.name] = i >= 0 ? i : undefined;
    if (i < 0 && s.required !== false) missing.push(s.name);
  }
  if (missing.length) {
    throw new FileRejectedError(
      `missing required column(s): ${missing.join(', ')}. The header has: ${header.join(', ') || '(nothing)'}. ` +
        `Export the file with these columns (names are matched case-insensitively) and drop it into bronze again`,
    );
  }
  return { positions, width: header.length };
}
