import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { BadFileError } from './failures';
import { checkJsonLine } from './jsonLine';

/** @deprecated the old name of BadFileError (a problem with the file as a whole). */
export const FileRejectedError = BadFileError;

/**
 * The staging pass: the one place a bronze file's bytes are read. It streams the file to a local
 * file of records for the engine, one record per line, each prefixed with its PHYSICAL line
 * number, and decides line by line what the engine may see (docs/ingestion.md is the spec):
 * - line endings: CRLF, LF and lone CR each end one line, so mixed files read like any other;
 * - gzip (by magic bytes), UTF-8 BOM, UTF-16 (BOM) transcoded to UTF-8;
 * - row-level defects (NUL byte, invalid UTF-8, overlong line, unclosed quote, wrong number of
 *   fields, text after a closing quote) go to a rejects file with their line and raw text;
 * - blank lines are counted, not staged.
 * Memory is bounded by the chunk size and MAX_LINE_BYTES whatever the file (a 5 GB line of zeros
 * costs 64 KiB).
 */
export interface StageFormat {
  type: 'csv' | 'jsonl';
  /** CSV field delimiter (one character). */
  delimiter: string;
  /** CSV quote character ('' = none). */
  quote: string;
  /** Physical lines one CSV record may span (1 = a record never spans lines). */
  maxRecordLines: number;
  /**
   * JSON lines whose record lands in a PostgreSQL jsonb column (staging datasets): each line is
   * checked against RFC 8259 and what jsonb can hold (shared/pipeline/jsonLine.ts); a line that
   * fails is refused here as `malformed_row` or `unsupported_json`.
   */
  strictJson?: boolean;
  /** A line longer than this is quarantined as line_too_long (default MAX_LINE_BYTES). */
  maxLineBytes?: number;
}

export interface StagedInput {
  /** Records, one per line: `<line><sep><record>` (sep: the delimiter for CSV, \u0001 for JSON lines). */
  localPath: string;
  /** JSON lines of LineReject. */
  rejectsPath: string;
  /** Bytes of the stored (possibly compressed) file. */
  storedBytes: number;
  /** Bytes after decompression. */
  bytes: number;
  gzip: boolean;
  encoding: 'utf-8' | 'utf-16le' | 'utf-16be';
  /** SHA-256 (hex) of the decompressed content: the identity of a re-delivery under any name. */
  contentHash: string;
  /** CSV: the header line (line 1). */
  header?: string;
  /** Non-blank data records (CSV: after the header). */
  rowsRead: number;
  /** Physical lines, header included. */
  lines: number;
  blankLines: number;
  /** Records written to localPath. */
  staged: number;
  rejected: number;
  rejectReasons: Record<string, number>;
}

export interface LineReject {
  line: number;
  reason: LineRejectReason;
  detail: string;
  raw: string;
}

export type LineRejectReason = 'nul_byte' | 'invalid_utf8' | 'line_too_long' | 'unclosed_quote' | 'malformed_row' | 'unsupported_json';

/** A line longer than this is quarantined as line_too_long; a header longer than this refuses the file. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Raw text kept of an overlong line. */
export const RAW_KEEP_BYTES = 64 * 1024;
/** Separator between the line number and a JSON-lines record: a byte valid JSON text never holds raw. */
export const JSONL_SEPARATOR = '\u0001';

/** Output buffer of the staging pass (handed on per input chunk, or when full). */
const OUT_BYTES = 1 << 20;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

/** Result of scanning one CSV line segment (module scratch: no allocation per line). */
const scan = { fields: 1, open: false, bad: '' };

/**
 * Scans one physical line of CSV with RFC 4180 quoting as DuckDB applies it: a quote opens a
 * quoted field only as the field's first character, `""` inside is a quote, and a quote in the
 * middle of an unquoted value is a literal (as DuckDB and Spark read it). Counts fields; `open`
 * when the line ends inside quotes; `bad` when a quote is misplaced: blanks before an opening
 * quote (DuckDB would drop them silently) or anything but the delimiter after a closing quote.
 */
function scanCsv(b: Buffer, start: number, end: number, d: number, q: number, inQuotes: boolean): void {
  let fields = 1;
  let atStart = !inQuotes;
  let blanks = false;
  let quoted = inQuotes;
  let closed = false;
  scan.bad = '';
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (quoted) {
      if (c === q) {
        if (i + 1 < end && b[i + 1] === q) i++;
        else {
          quoted = false;
          closed = true;
        }
      }
      continue;
    }
    if (c === d) {
      fields++;
      atStart = true;
      blanks = false;
      closed = false;
    } else if (closed) {
      scan.bad = `text after the closing quote of field ${fields}`;
      break;
    } else if (c === q && atStart) {
      if (blanks) {
        scan.bad = `blanks before the opening quote of field ${fields}`;
        break;
      }
      quoted = true;
      atStart = false;
    } else if (atStart && (c === SPACE || c === TAB)) blanks = true;
    else atStart = false;
  }
  scan.fields = fields;
  scan.open = quoted && !scan.bad;
}

function isBlank(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== SPACE && b[i] !== TAB) return false;
  return true;
}

/** Text of a rejected line for the quarantine (PostgreSQL text holds no NUL: shown as ␀). */
function rawText(b: Buffer): string {
  return b.toString('utf8').replace(/\u0000/g, '\u2400');
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
    } else if (quote && ch === quote) inQuotes = true;
    else if (ch === delimiter) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((h) => h.trim());
}

interface OpenRecord {
  line: number;
  parts: Buffer[];
  bytes: number;
  lines: number;
  fields: number;
}

/** The line-by-line state machine of the staging pass (see the file comment). */
class LineStager extends Transform {
  lines = 0;
  rowsRead = 0;
  blankLines = 0;
  staged = 0;
  rejected = 0;
  readonly rejectReasons: Record<string, number> = {};
  header: string | undefined;
  private width = 0;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private overflow = false;
  private pendingCR = false;
  private record: OpenRecord | undefined;
  /** Lines of the current chunk are known NUL-free valid UTF-8 (checked once per chunk). */
  private chunkClean = false;
  /** The current chunk has no quote character: fields are counted by delimiters alone. */
  private chunkUnquoted = false;
  private buf = Buffer.allocUnsafe(OUT_BYTES);
  private len = 0;
  private readonly d: number;
  private readonly q: number;
  private readonly sep: Buffer;
  private readonly maxLine: number;

  constructor(
    private readonly format: StageFormat,
    private readonly onReject: (r: LineReject) => void,
  ) {
    super();
    this.d = format.delimiter.charCodeAt(0);
    this.q = format.quote ? format.quote.charCodeAt(0) : -1;
    this.sep = Buffer.from(format.type === 'csv' ? format.delimiter : JSONL_SEPARATOR);
    this.maxLine = format.maxLineBytes ?? MAX_LINE_BYTES;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk);
      this.flushOut();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (this.partialBytes > 0 || this.overflow) this.takeLine(Buffer.alloc(0), 0, 0);
      this.closeRecordAtEnd();
      this.flushOut();
      done();
    } catch (e) {
      done(e as Error);
    }
  }

  private flushOut(): void {
    if (this.len > 0) {
      this.push(this.buf.subarray(0, this.len));
      this.buf = Buffer.allocUnsafe(OUT_BYTES);
      this.len = 0;
    }
  }

  /** Room for `n` more output bytes (a full buffer is handed on first). */
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    this.flushOut();
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
  }

  private consume(chunk: Buffer): void {
    let pos = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk.length && chunk[0] === LF) pos = 1;
    }
    const lastTerm = Math.max(chunk.lastIndexOf(LF), chunk.lastIndexOf(CR));
    // A valid multi-byte sequence holds no ASCII byte, so a region of whole lines that is valid
    // UTF-8 has only valid lines: one native check per chunk instead of one per line.
    const nul = chunk.indexOf(0, pos);
    this.chunkClean = lastTerm > pos && (nul === -1 || nul >= lastTerm) && isUtf8(chunk.subarray(pos, lastTerm));
    this.chunkUnquoted = this.q < 0 || chunk.indexOf(this.q, pos) === -1;
    let nextCR = chunk.indexOf(CR, pos);
    while (pos < chunk.length) {
      if (nextCR !== -1 && nextCR < pos) nextCR = chunk.indexOf(CR, pos);
      const nl = chunk.indexOf(LF, pos);
      const term = nextCR === -1 ? nl : nl === -1 ? nextCR : Math.min(nl, nextCR);
      if (term === -1) {
        this.append(chunk, pos, chunk.length);
        return;
      }
      let next = term + 1;
      if (chunk[term] === CR) {
        if (next < chunk.length) {
          if (chunk[next] === LF) next++;
        } else this.pendingCR = true;
      }
      this.takeLine(chunk, pos, term);
      pos = next;
    }
  }

  /** Keeps the start of a line that continues in the next chunk (only RAW_KEEP_BYTES of an overlong one). */
  private append(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    if (this.overflow) return;
    if (this.partialBytes + (end - start) > this.maxLine) {
      const all = Buffer.concat([...this.partial, chunk.subarray(start, end)]);
      this.partial = [Buffer.from(all.subarray(0, RAW_KEEP_BYTES))];
      this.partialBytes = RAW_KEEP_BYTES;
      this.overflow = true;
      // A header that never ends: refuse now instead of reading the rest of the file.
      if (this.lines === 0 && this.format.type === 'csv') this.onHeader(Buffer.alloc(0), true);
      return;
    }
    this.partial.push(Buffer.from(chunk.subarray(start, end)));
    this.partialBytes += end - start;
  }

  private takeLine(chunk: Buffer, start: number, end: number): void {
    let line: Buffer;
    let overflow = this.overflow;
    let trusted = false;
    if (this.partialBytes > 0 || overflow) {
      if (!overflow) this.append(chunk, start, end);
      overflow = this.overflow;
      line = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial);
      this.partial = [];
      this.partialBytes = 0;
      this.overflow = false;
    } else {
      line = chunk.subarray(start, end);
      trusted = this.chunkClean;
      if (line.length > this.maxLine) {
        overflow = true;
        line = line.subarray(0, RAW_KEEP_BYTES);
      }
    }
    this.lines++;
    this.onLine(line, this.lines, overflow, trusted);
  }

  private reject(line: number, reason: LineRejectReason, detail: string, raw: Buffer): void {
    this.rejected++;
    this.rejectReasons[reason] = (this.rejectReasons[reason] ?? 0) + 1;
    this.onReject({ line, reason, detail, raw: rawText(raw) });
  }

  /** Writes one record to the output: `<line><sep><content>\n`. */
  private stage(line: number, content: Buffer[]): void {
    this.staged++;
    let size = 22 + this.sep.length;
    for (const c of content) size += c.length;
    this.ensure(size);
    const b = this.buf;
    let digits = 1;
    for (let v = line; v >= 10; v = Math.floor(v / 10)) digits++;
    for (let i = digits - 1, v = line; i >= 0; i--, v = Math.floor(v / 10)) b[this.len + i] = 0x30 + (v % 10);
    this.len += digits;
    this.len += this.sep.copy(b, this.len);
    for (const c of content) this.len += c.copy(b, this.len);
    b[this.len++] = LF;
  }

  private onLine(b: Buffer, n: number, overflow: boolean, trusted = false): void {
    if (n === 1 && this.format.type === 'csv') return this.onHeader(b, overflow);
    if (this.record) return this.continueRecord(b, n, overflow);
    if (!overflow && isBlank(b)) {
      this.blankLines++;
      return;
    }
    this.rowsRead++;
    if (overflow) return this.reject(n, 'line_too_long', `the line is longer than ${this.maxLine} bytes; its first ${RAW_KEEP_BYTES} bytes are kept`, b);
    if (!trusted && b.indexOf(0) !== -1) return this.reject(n, 'nul_byte', 'the line contains a NUL byte (shown as ␀)', b);
    if (!trusted && !isUtf8(b)) return this.reject(n, 'invalid_utf8', 'the line is not valid UTF-8 (bad bytes shown as U+FFFD)', b);
    if (this.format.type === 'jsonl') {
      const problem = this.format.strictJson ? checkJsonLine(b) : undefined;
      if (problem) return this.reject(n, problem.reason, problem.detail, b);
      return this.stage(n, [b]);
    }
    if (trusted && this.chunkUnquoted) {
      let fields = 1;
      const d = this.d;
      for (let i = 0; i < b.length; i++) if (b[i] === d) fields++;
      if (fields !== this.width) return this.reject(n, 'malformed_row', `expected ${this.width} fields (the header's), found ${fields}`, b);
      return this.stage(n, [b]);
    }
    scanCsv(b, 0, b.length, this.d, this.q, false);
    if (scan.bad) return this.reject(n, 'malformed_row', scan.bad, b);
    if (scan.open) {
      if (this.format.maxRecordLines > 1) {
        this.record = { line: n, parts: [b], bytes: b.length, lines: 1, fields: scan.fields };
        return;
      }
      return this.reject(n, 'unclosed_quote', 'a quoted field is not closed on this line (records do not span lines)', b);
    }
    if (scan.fields !== this.width) return this.reject(n, 'malformed_row', `expected ${this.width} fields (the header's), found ${scan.fields}`, b);
    this.stage(n, [b]);
  }

  private onHeader(b: Buffer, overflow: boolean): void {
    if (overflow) throw new BadFileError(`the first line (the CSV header) is longer than ${this.maxLine} bytes: this is not a CSV export with a header`);
    if (b.indexOf(0) !== -1 || !isUtf8(b)) {
      throw new BadFileError('the file is binary or not text (its first line has NUL bytes or is not UTF-8/UTF-16); drop a text export');
    }
    this.header = b.toString('utf8');
    this.width = parseHeader(this.header, this.format.delimiter, this.format.quote).length;
  }

  /** A line of a multi-line record (contract opt-in): inside quotes until they close or the cap is reached. */
  private continueRecord(b: Buffer, n: number, overflow: boolean): void {
    const r = this.record!;
    const bad = overflow || b.indexOf(0) !== -1 || !isUtf8(b) || r.bytes + b.length > this.maxLine;
    if (!bad) scanCsv(b, 0, b.length, this.d, this.q, true);
    if (bad || scan.bad) {
      // The record cannot be completed: its first line is the defect; rescan the rest on their own.
      this.record = undefined;
      this.reject(r.line, 'unclosed_quote', `a quoted field opened here is not closed by a well-formed line (line ${n})`, r.parts[0]!);
      this.replay(r.parts.slice(1), r.line + 1);
      this.onLine(b, n, overflow);
      return;
    }
    r.parts.push(b);
    r.bytes += b.length + 1;
    r.lines++;
    r.fields += scan.fields - 1;
    if (scan.open) {
      if (r.lines >= this.format.maxRecordLines) {
        this.record = undefined;
        this.reject(r.line, 'unclosed_quote', `a quoted field is still open after ${this.format.maxRecordLines} lines (the contract's multiLine.maxLines)`, r.parts[0]!);
        this.replay(r.parts.slice(1), r.line + 1);
      }
      return;
    }
    this.record = undefined;
    if (r.fields !== this.width) {
      this.reject(r.line, 'malformed_row', `expected ${this.width} fields (the header's), found ${r.fields} (record of ${r.lines} lines)`, Buffer.from(r.parts.join('\n')));
      return;
    }
    const content: Buffer[] = [];
    r.parts.forEach((p, i) => content.push(...(i ? [Buffer.from('\n'), p] : [p])));
    this.stage(r.line, content);
  }

  /** Lines that were held for a record that never closed, read again as lines of their own. */
  private replay(parts: Buffer[], firstLine: number): void {
    parts.forEach((p, i) => this.onLine(p, firstLine + i, false));
  }

  private closeRecordAtEnd(): void {
    const r = this.record;
    if (!r) return;
    this.record = undefined;
    this.reject(r.line, 'unclosed_quote', 'a quoted field opened here is not closed before the end of the file', r.parts[0]!);
    this.replay(r.parts.slice(1), r.line + 1);
  }
}

/** Detects the text encoding by BOM and hands on UTF-8 bytes (BOM removed); hashes the content. */
class Decoder extends Transform {
  bytes = 0;
  encoding: StagedInput['encoding'] = 'utf-8';
  private readonly hash = createHash('sha256');
  private head: Buffer | undefined = Buffer.alloc(0);
  private utf16: TextDecoder | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    if (this.head) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < 3) return done();
      chunk = this.start(this.head);
      this.head = undefined;
    }
    done(null, this.decode(chunk, false));
  }

  override _flush(done: TransformCallback): void {
    if (this.head) {
      const rest = this.start(this.head);
      this.head = undefined;
      this.push(this.decode(rest, false));
    }
    const tail = this.decode(Buffer.alloc(0), true);
    if (tail.length) this.push(tail);
    done();
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  private start(b: Buffer): Buffer {
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return b.subarray(3);
    if (b[0] === 0xff && b[1] === 0xfe) {
      this.encoding = 'utf-16le';
      this.utf16 = new TextDecoder('utf-16le');
      return b.subarray(2);
    }
    if (b[0] === 0xfe && b[1] === 0xff) {
      this.encoding = 'utf-16be';
      this.utf16 = new TextDecoder('utf-16be');
      return b.subarray(2);
    }
    return b;
  }

  private decode(b: Buffer, end: boolean): Buffer {
    if (!this.utf16) return b;
    return Buffer.from(this.utf16.decode(b, { stream: !end }), 'utf8');
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];

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

/** Buffered writer of the rejects file (JSON lines), synchronous so memory stays bounded. */
function rejectsWriter(file: string): { write: (r: LineReject) => void; close: () => void } {
  const fd = openSync(file, 'w');
  let buf: string[] = [];
  let size = 0;
  const flush = () => {
    if (buf.length) writeSync(fd, buf.join(''));
    buf = [];
    size = 0;
  };
  return {
    write: (r) => {
      const line = `${JSON.stringify(r)}\n`;
      buf.push(line);
      size += line.length;
      if (size > 1 << 20) flush();
    },
    close: () => {
      flush();
      closeSync(fd);
    },
  };
}

/**
 * Streams a bronze file through the staging pass into `localPath` (records) and `rejectsPath`
 * (row-level defects). Refuses, as a whole, only what is not a text file at all: empty, corrupt
 * gzip, binary header.
 */
export async function stageInput(source: Readable, localPath: string, format: StageFormat, rejectsPath = `${localPath}.rejects.jsonl`): Promise<StagedInput> {
  const { first, rest } = await peek(source);
  if (first.length === 0) throw new BadFileError('the file is empty (0 bytes); nothing to ingest');
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  let stored = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, done) {
      stored += chunk.length;
      done(null, chunk);
    },
  });
  const decoder = new Decoder();
  const rejects = rejectsWriter(rejectsPath);
  const stager = new LineStager(format, rejects.write);
  try {
    const stages = gzip ? [counter, createGunzip(), decoder, stager] : [counter, decoder, stager];
    await pipeline(rest, ...(stages as [Transform]), createWriteStream(localPath));
  } catch (e) {
    if (e instanceof BadFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (gzip && (code.startsWith('Z_') || /unexpected end of file|incorrect header check|invalid/i.test(String((e as Error).message)))) {
      throw new BadFileError(`the gzip stream is corrupt or truncated (${(e as Error).message}); upload the complete .gz file again`);
    }
    throw e;
  } finally {
    rejects.close();
  }
  if (decoder.bytes === 0) throw new BadFileError('the file is empty after decompression; nothing to ingest');
  return {
    localPath,
    rejectsPath,
    storedBytes: stored,
    bytes: decoder.bytes,
    gzip,
    encoding: decoder.encoding,
    contentHash: decoder.digest(),
    header: stager.header,
    rowsRead: stager.rowsRead,
    lines: stager.lines,
    blankLines: stager.blankLines,
    staged: stager.staged,
    rejected: stager.rejected,
    rejectReasons: { ...stager.rejectReasons },
  };
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
  /** Header columns no contract source column names: position and header text. */
  unknown: { position: number; name: string }[];
}

/**
 * Matches a CSV header line to a contract's source columns (names normalised, aliases honoured,
 * any order). A missing required column, or two header columns with the same (normalised) name,
 * refuses the file as a whole.
 */
export function matchColumns(
  source: { name: string; aliases?: string[]; required?: boolean }[],
  firstLine: string,
  delimiter = ',',
  quote = '"',
): ColumnMatch {
  const raw = parseHeader(firstLine, delimiter, quote);
  const header = raw.map(normalizeName);
  const seen = new Map<string, number>();
  for (const [i, h] of header.entries()) {
    const before = seen.get(h);
    if (before !== undefined) {
      throw new BadFileError(
        `the header names column '${h}' twice (columns ${before + 1} '${raw[before]}' and ${i + 1} '${raw[i]}'); rename or remove one and drop the file again`,
      );
    }
    seen.set(h, i);
  }
  const positions: Record<string, number | undefined> = {};
  const missing: string[] = [];
  const used = new Set<number>();
  for (const s of source) {
    const names = [s.name, ...(s.aliases ?? [])].map(normalizeName);
    const i = header.findIndex((h) => names.includes(h));
    positions[s.name] = i >= 0 ? i : undefined;
    if (i >= 0) used.add(i);
    if (i < 0 && s.required !== false) missing.push(s.name);
  }
  if (missing.length) {
    throw new BadFileError(
      `missing required column(s): ${missing.join(', ')}. The header has: ${header.join(', ') || '(nothing)'}. ` +
        `Export the file with these columns (names are matched case-insensitively) and drop it into bronze again`,
    );
  }
  const unknown = raw.map((name, position) => ({ position, name })).filter((u) => !used.has(u.position));
  return { positions, width: header.length, unknown };
}

/**
 * The first line of a (possibly gzip, possibly UTF-16) text stream, reading at most `maxBytes`
 * of decompressed content whatever the file holds (a 5 GB gzip of zeros costs `maxBytes`).
 * Returns undefined when there is no line end within the limit. The stream is destroyed.
 */
export async function readFirstLine(source: Readable, maxBytes = MAX_LINE_BYTES): Promise<string | undefined> {
  const { first, rest } = await peek(source);
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  const decoder = new Decoder();
  // Errors of every stage end the read (a corrupt gzip is a file without a first line, not a crash).
  const gunzip = gzip ? createGunzip() : undefined;
  const fail = (e: Error) => decoder.destroy(e);
  rest.on('error', fail);
  gunzip?.on('error', fail);
  const input = gunzip ? rest.pipe(gunzip).pipe(decoder) : rest.pipe(decoder);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const end = [chunk.indexOf(LF), chunk.indexOf(CR)].filter((i) => i >= 0).sort((a, b) => a - b)[0];
      chunks.push(end === undefined ? chunk : chunk.subarray(0, end));
      size += chunk.length;
      if (end !== undefined) return Buffer.concat(chunks).toString('utf8');
      if (size > maxBytes) return undefined;
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch {
    return undefined;
  } finally {
    source.destroy();
    rest.destroy();
    gunzip?.destroy();
    input.destroy();
  }
}
