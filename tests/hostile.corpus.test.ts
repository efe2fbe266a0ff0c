import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSmall } from '../shared/lake/lake';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { LedgerRow } from '../shared/pipeline/ledger';
import type { Platform } from '../shared/platform';
import { HEADER, hostileCorpus } from './support/hostileCorpus';
import { decodeContent, type ExpectedFile, nonZero, rawLineMatches, readExpected, splitLines, sumValues } from './support/lineReader';
import { freshPlatform } from './support/platform';

/**
 * Every hostile file of the seeded corpus goes through the real pipeline (Azurite + PostgreSQL +
 * DuckDB) and is checked against the independent reader of docs/ingestion.md: the ledger, the
 * quarantine rows (line, reason, raw text), silver's lines, and the silver Parquet the run wrote.
 * Files share one platform; each uses its own sessions, so no two files share a dedup key, and
 * the reader carries the keys that landed across files anyway.
 *
 * The five disagreements found when this was first run (misplaced quotes, the order of the line
 * checks, `1e400`, raw_line rebuilt from fields, a 900 KiB brand failing gold) were settled in
 * docs/ingestion.md and fixed in the engine; a quote inside an unquoted value is a literal there.
 * Run with HOSTILE_REPORT=<file> to get every differing line as JSON lines.
 */
const corpus = hostileCorpus(20191001, new Date());
const PREFIX = 'ecommerce_events/hostile/';

/** Text of physical line `n` (1-based) of a stored file, for failure messages. */
function textOfLine(stored: Buffer, n: number): string {
  return splitLines(decodeContent(stored).text)[n - 1]?.toString('utf8') ?? '';
}

function put(p: Platform, file: string, bytes: Buffer): Promise<unknown> {
  return p.lake.write('bronze', file, Readable.from([bytes]));
}

describe('hostile corpus: every file read line by line as docs/ingestion.md says (real Azurite + PostgreSQL)', () => {
  let platform: Platform;
  let dir: string;
  let duck: DuckDBInstance;
  let con: DuckDBConnection;
  /** Dedup keys that landed in silver so far (the reader's view of cross-file duplicates). */
  const seen = new Set<string>();
  /** Per corpus file: the ledger row and what the reader expected, for the re-delivery cases. */
  const landed = new Map<string, { ledger: LedgerRow; expected: ExpectedFile; bytes: Buffer }>();

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    dir = await mkdtemp(path.join(os.tmpdir(), 'hostile-'));
    duck = await DuckDBInstance.create(':memory:', { memory_limit: '256MB', threads: '2' });
    con = await duck.connect();
  });
  afterAll(async () => {
    con?.closeSync();
    duck?.closeSync();
    await platform?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Rows (and their source lines) of the lake Parquet files a run wrote to `zone`. */
  async function lakeRows(ledger: LedgerRow, zone: 'silver' | 'quarantine'): Promise<{ n: number; lines: number[] }> {
    const files = ledger.outputs.filter((o) => o.zone === zone);
    const local: string[] = [];
    for (const f of files) {
      const file = path.join(dir, `${zone}-${local.length}-${Date.now()}.parquet`);
      await writeFile(file, await readSmall(await platform.lake.read(zone, f.path), 256 * 1024 * 1024));
      local.push(file);
    }
    if (!local.length) return { n: 0, lines: [] };
    const list = local.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ');
    const rows = (await con.runAndReadAll(`SELECT CAST(source_line AS BIGINT) AS l FROM read_parquet([${list}], hive_partitioning = false) ORDER BY 1`)).getRowObjects();
    for (const f of local) await rm(f, { force: true });
    return { n: rows.length, lines: rows.map((r) => Number(r.l)) };
  }

  async function quarantineOf(runId: string): Promise<{ source_line: number; quarantine_reason: string; raw_line: string | null }[]> {
    const q = await platform.pool.query(
      'SELECT source_line::int AS source_line, quarantine_reason, raw_line FROM silver.ecommerce_events_quarantine WHERE ingestion_run_id = $1 ORDER BY source_line',
      [runId],
    );
    return q.rows;
  }

  async function silverLinesOf(runId: string): Promise<number[]> {
    const s = await platform.pool.query('SELECT source_line::int AS l FROM silver.ecommerce_events WHERE ingestion_run_id = $1 ORDER BY 1', [runId]);
    return s.rows.map((r) => r.l);
  }

  /** Ingests one file and checks everything the platform reports against the reader. */
  async function ingestAndCheck(name: string, bytes: Buffer): Promise<{ ledger: LedgerRow; expected: ExpectedFile }> {
    const bronze = `${PREFIX}${name}`;
    await put(platform, bronze, bytes);
    const expected = readExpected(bytes, { runStart: new Date(), seen });
    expect(expected.refused, 'the reader refuses this file').toBeUndefined();
    const r = await ingestBronzeFile(platform, bronze);
    expect(r.message ?? '', 'the platform refused a file the spec reads').toBe('');
    expect(r.outcome).toBe('succeeded');
    const l = r.ledger!;
    expect(l.redelivery_of).toBeNull();
    // Soft: every difference of the file is reported, not only the first.
    expect.soft({
      rows_read: l.rows_read,
      blank_lines: l.blank_lines,
      rows_silver: l.rows_silver,
      rows_quarantined: l.rows_quarantined,
      duplicates_in_file: l.duplicates_in_file,
      duplicates_cross_file: l.duplicates_cross_file,
      quarantine_reasons: nonZero(l.quarantine_reasons),
      warnings: nonZero(l.warnings),
    }).toEqual({
      rows_read: expected.rowsRead,
      blank_lines: expected.blankLines,
      rows_silver: expected.silver.length,
      rows_quarantined: expected.quarantined.length,
      duplicates_in_file: expected.duplicatesInFile,
      duplicates_cross_file: expected.duplicatesCrossFile,
      quarantine_reasons: expected.quarantineReasons,
      warnings: expected.warnings,
    });
    // Line by line: what the spec says happens to each data line, against what the platform did.
    const q = await quarantineOf(l.run_id);
    const silverLines = await silverLinesOf(l.run_id);
    const got = new Map<number, string>([...q.map((x) => [x.source_line, x.quarantine_reason] as const), ...silverLines.map((n) => [n, 'silver'] as const)]);
    const want = new Map<number, string>([...expected.quarantined.map((x) => [x.line, x.reason] as const), ...expected.silver.map((x) => [x.line, 'silver'] as const)]);
    const lines = [...new Set([...got.keys(), ...want.keys()])].sort((a, b) => a - b);
    const differences = lines
      .filter((n) => got.get(n) !== want.get(n))
      .map((n) => `line ${n}: expected ${want.get(n) ?? 'duplicate/blank'}, got ${got.get(n) ?? 'duplicate/blank'} | ${JSON.stringify(textOfLine(bytes, n).slice(0, 160))}`);
    expect.soft(differences, 'lines where the platform disagrees with the spec').toEqual([]);
    // HOSTILE_REPORT=<file>: every disagreement as JSON lines, for a summary across the corpus.
    if (process.env.HOSTILE_REPORT && differences.length) {
      await appendFile(process.env.HOSTILE_REPORT, differences.map((d) => `${JSON.stringify({ file: name, difference: d })}\n`).join(''));
    }
    expect.soft(q.map((x) => `${x.source_line}:${x.quarantine_reason}`)).toEqual(expected.quarantined.map((x) => `${x.line}:${x.reason}`));
    expect.soft(silverLines).toEqual(expected.silver.map((s) => s.line));
    const byLine = new Map(q.map((x) => [x.source_line, x.raw_line]));
    for (const e of expected.quarantined) {
      const raw = byLine.get(e.line);
      if (raw === undefined || got.get(e.line) !== e.reason) continue; // already reported above
      expect.soft(raw, `raw_line of line ${e.line} (${e.reason})`).not.toBeNull();
      if (raw !== null && !rawLineMatches(e, raw)) {
        expect.soft(raw.slice(0, 300), `raw_line of line ${e.line} (${e.reason}) is the line's raw text`).toBe(e.raw.toString('utf8').slice(0, 300));
      }
    }
    // Silver in the lake: the Parquet files the run wrote hold exactly its silver rows.
    const lake = await lakeRows(l, 'silver');
    expect.soft(lake.n, 'rows of the silver Parquet files of the run').toBe(l.rows_silver);
    expect.soft(lake.lines, 'source lines of the silver Parquet files of the run').toEqual(silverLines);
    const lakeQ = await lakeRows(l, 'quarantine');
    expect.soft(lakeQ.n, 'rows of the quarantine Parquet file of the run').toBe(l.rows_quarantined);
    // The ledger invariant (also a CHECK constraint).
    expect(l.rows_read).toBe(l.rows_silver! + l.rows_quarantined! + l.duplicates_in_file! + l.duplicates_cross_file!);
    return { ledger: l, expected };
  }

  it(`the corpus has at least 50 hostile files, each provoking what it was built for (reader only)`, () => {
    expect(corpus.files.length).toBeGreaterThanOrEqual(50);
    expect(new Set(corpus.files.map((f) => f.name)).size).toBe(corpus.files.length);
    const again = hostileCorpus(20191001, new Date());
    // Deterministic: the same seed gives the same bytes (only the near-future event times move with the clock).
    expect(again.files.filter((f, i) => f.name !== 'event_time_bounds.csv' && !f.bytes.equals(corpus.files[i]!.bytes)).map((f) => f.name)).toEqual([]);
    const missing: string[] = [];
    for (const f of corpus.files) {
      const e = readExpected(f.bytes, { runStart: new Date() });
      expect(e.refused, f.name).toBeUndefined();
      expect(e.rowsRead, f.name).toBe(e.silver.length + sumValues(e.quarantineReasons) + e.duplicatesInFile);
      for (const want of f.mustHave ?? []) {
        const ok =
          want === 'silver' ? e.silver.length > 0 : want === 'blank' ? e.blankLines > 0 : want === 'duplicate' ? e.duplicatesInFile > 0 : (e.quarantineReasons[want] ?? 0) > 0;
        if (!ok) missing.push(`${f.name}: ${want}`);
      }
    }
    expect(missing).toEqual([]);
    const reasons = new Set(corpus.files.flatMap((f) => Object.keys(readExpected(f.bytes, { runStart: new Date() }).quarantineReasons)));
    for (const r of ['nul_byte', 'invalid_utf8', 'line_too_long', 'unclosed_quote', 'malformed_row', 'invalid_event_time', 'invalid_product_id', 'invalid_category_id', 'invalid_price', 'invalid_user_id']) {
      expect(reasons.has(r), r).toBe(true);
    }
    for (const f of corpus.refused) expect(readExpected(f.bytes, { runStart: new Date() }).refused?.message.source, f.name).toBe(f.refusal.source);
  });

  for (const f of corpus.files) {
    it(`${f.name}: ${f.description}`, async () => {
      const { ledger, expected } = await ingestAndCheck(f.name, f.bytes);
      landed.set(f.name, { ledger, expected, bytes: f.bytes });
    });
  }

  for (const f of corpus.refused) {
    it(`refused as a whole: ${f.name} (${f.description})`, async () => {
      const bronze = `${PREFIX}${f.name}`;
      await put(platform, bronze, f.bytes);
      const expected = readExpected(f.bytes, { runStart: new Date() });
      expect(expected.refused?.message.source).toBe(f.refusal.source);
      const r = await ingestBronzeFile(platform, bronze);
      expect(r.outcome).toBe('failed');
      expect(r.failureKind).toBe('bad_file');
      expect(r.message).toMatch(f.refusal);
      expect(r.ledger).toMatchObject({ status: 'failed', failure_kind: 'bad_file' });
      const rows = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events WHERE source_file = $1', [bronze]);
      expect(rows.rows[0].n).toBe(0);
    });
  }

  describe('re-delivery (docs/ingestion.md: keyed by content hash + line)', () => {
    async function counts(): Promise<{ silver: number; quarantine: number }> {
      const s = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events');
      const q = await platform.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events_quarantine');
      return { silver: s.rows[0].n, quarantine: q.rows[0].n };
    }

    async function expectRedelivery(bronze: string, bytes: Buffer, of: { ledger: LedgerRow; expected: ExpectedFile }): Promise<void> {
      const before = await counts();
      await put(platform, bronze, bytes);
      const r = await ingestBronzeFile(platform, bronze);
      expect(r.outcome).toBe('succeeded');
      const l = r.ledger!;
      expect(l.redelivery_of).toBe(of.ledger.run_id);
      expect(l).toMatchObject({ rows_read: of.expected.rowsRead, blank_lines: of.expected.blankLines, rows_silver: 0, rows_quarantined: 0 });
      expect(l.duplicates_in_file! + l.duplicates_cross_file!).toBe(of.expected.rowsRead);
      expect(await counts()).toEqual(before);
      expect(await quarantineOf(l.run_id)).toEqual([]);
      expect(await silverLinesOf(l.run_id)).toEqual([]);
    }

    /** A file of its own (sessions renamed from nul_early.csv): silver rows, a NUL line, and the lines added below. */
    const source = (() => {
      const f = corpus.files.find((x) => x.name === 'nul_early.csv')!;
      return Buffer.from(f.bytes.toString('latin1').replace(/nul_earlycsv/g, 'redeliverycsv'), 'latin1');
    })();
    const SOURCE = 'redelivery/source.csv';
    let first: { ledger: LedgerRow; expected: ExpectedFile } | undefined;

    it('the same bytes under another name: recorded as a re-delivery, every row a duplicate, no new quarantine or silver rows', async () => {
      first = await ingestAndCheck(SOURCE, source);
      expect(first.expected.quarantined.length).toBeGreaterThan(0);
      expect(first.expected.silver.length).toBeGreaterThan(0);
      await expectRedelivery(`${PREFIX}redelivery/copy-of-source.csv`, source, first);
    });

    it('the same name with new content: a new file version read in full (old rows are cross-file duplicates, bad lines quarantined under the new hash)', async () => {
      expect(first, 'the first delivery landed').toBeDefined();
      const extra = [
        `2019-10-20 10:00:00 UTC,view,42,2053013555631882655,electronics.smartphone,apple,12.00,500000042,redelivery-new-1`,
        `2019-10-20 10:00:01 UTC,cart,42,2053013555631882655,electronics.smartphone,,0,500000042,redelivery-new-1`,
        `2019-10-20 10:00:02 UTC,cart,4.2,2053013555631882655,electronics.smartphone,apple,1.00,500000042,redelivery-new-1`,
        `2019-10-20 10:00:03 UTC,cart,43,2053013555631882655,"electronics,1.00,500000042,redelivery-new-1`,
      ];
      const bytes = Buffer.concat([source, Buffer.from(`${extra.join('\n')}\n`)]);
      const before = await counts();
      const { ledger, expected } = await ingestAndCheck(SOURCE, bytes);
      expect(expected.duplicatesCrossFile).toBe(first!.expected.silver.length);
      expect(expected.silver).toHaveLength(2);
      expect(expected.quarantined).toHaveLength(first!.expected.quarantined.length + 2);
      const after = await counts();
      expect(after.silver - before.silver).toBe(2);
      expect(after.quarantine - before.quarantine).toBe(first!.expected.quarantined.length + 2);
      expect(ledger.path).toBe(`${PREFIX}${SOURCE}`);
      // And the first content once more under the same name: a re-delivery of the first run.
      await expectRedelivery(`${PREFIX}${SOURCE}`, source, first!);
    });

    it('a header-only file delivered twice is a re-delivery with nothing to count', async () => {
      const first = landed.get('header_only.csv')!;
      expect(first).toBeDefined();
      await expectRedelivery(`${PREFIX}again/header_only_copy.csv`, first.bytes, first);
      expect(Buffer.from(`${HEADER}\r\n`).equals(first.bytes)).toBe(true);
    });
  });
});
