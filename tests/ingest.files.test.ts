import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSmall } from '../shared/lake/lake';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { FILE_RUN_SILENT_MS } from '../shared/pipeline/ledger';
import { sweepBronze } from '../shared/pipeline/watch';
import type { Platform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';
import { freshPlatform } from './support/platform';
import { referenceSilver, sum } from './support/reference';

function put(p: Platform, file: string, content: string | Buffer): Promise<unknown> {
  return p.lake.write('bronze', file, Readable.from([Buffer.isBuffer(content) ? content : Buffer.from(content)]));
}

async function silverCount(p: Platform): Promise<number> {
  return (await p.pool.query('SELECT count(*)::int AS n FROM silver.ecommerce_events')).rows[0].n;
}

async function lakeFiles(p: Platform, zone: 'silver' | 'quarantine', prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of p.lake.list(zone, prefix)) out.push(f.path);
  return out;
}

const HEADER = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

describe('bronze → silver on generated files (real Azurite + PostgreSQL)', () => {
  let platform: Platform;
  let dir: string;
  let fileA: string;
  let fileB: string;

  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    dir = await mkdtemp(path.join(os.tmpdir(), 'gen-'));
    fileA = path.join(dir, 'a.csv');
    fileB = path.join(dir, 'b.csv');
    await writeEcommerceSample(fileA, { rows: 6000, seed: 7, days: 2, duplicateRate: 0.01, badRate: 0.02, truncateLastLine: true });
    // B = the second half of A (same events, re-exported) + 3,000 new events of the following days.
    const fileC = path.join(dir, 'c.csv');
    await writeEcommerceSample(fileC, { rows: 3000, seed: 8, days: 1, start: new Date('2019-10-03T00:00:00Z'), duplicateRate: 0.01, badRate: 0.02 });
    const a = readFileSync(fileA, 'utf8').split('\r\n');
    const c = readFileSync(fileC, 'utf8').split('\r\n');
    writeFileSync(fileB, [a[0], ...a.slice(3001, 6000), ...c.slice(1)].join('\r\n'));
  });
  afterAll(async () => {
    await platform?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('every bad row is quarantined with the expectation it failed, and the numbers match an independent reading', async () => {
    const expected = referenceSilver(readFileSync(fileA, 'utf8'));
    await platform.lake.write('bronze', 'ecommerce_events/a.csv', createReadStream(fileA));
    const r = await ingestBronzeFile(platform, 'ecommerce_events/a.csv');
    expect(r.outcome).toBe('succeeded');
    const l = r.ledger!;
    expect(l.rows_read).toBe(expected.rowsRead);
    expect(l.rows_silver).toBe(expected.kept.length);
    expect(l.duplicates_in_file).toBe(expected.duplicates);
    expect(l.rows_quarantined).toBe(sum(expected.dropped) + expected.malformed);
    expect(l.quarantine_reasons).toEqual({ ...expected.dropped, malformed_row: expected.malformed });
    expect(sum(expected.dropped)).toBeGreaterThan(50);
    const q = await platform.pool.query(
      'SELECT quarantine_reason, count(*)::int AS n FROM silver.ecommerce_events_quarantine GROUP BY 1 ORDER BY 1',
    );
    expect(Object.fromEntries(q.rows.map((x) => [x.quarantine_reason, x.n]))).toEqual(l.quarantine_reasons);
    // Raw values are kept as they were: a negative price stays '-…' text.
    const neg = await platform.pool.query(`SELECT price FROM silver.ecommerce_events_quarantine WHERE quarantine_reason = 'valid_price' AND price LIKE '-%' LIMIT 1`);
    expect(neg.rows[0]?.price).toMatch(/^-\d+\.\d{2}$/);
  });

  it('a second file sharing rows with the first adds only its new rows (cross-file dedup in PostgreSQL and the lake)', async () => {
    const seen = new Set<string>();
    const a = referenceSilver(readFileSync(fileA, 'utf8'), seen);
    const b = referenceSilver(readFileSync(fileB, 'utf8'), seen);
    await platform.lake.write('bronze', 'ecommerce_events/b.csv', createReadStream(fileB));
    const r = await ingestBronzeFile(platform, 'ecommerce_events/b.csv');
    expect(r.outcome).toBe('succeeded');
    expect(r.ledger!.rows_silver).toBe(b.kept.length);
    expect(r.ledger!.duplicates_in_file! + r.ledger!.duplicates_cross_file!).toBe(b.duplicates);
    expect(r.ledger!.duplicates_cross_file).toBeGreaterThan(1000);
    expect(await silverCount(platform)).toBe(a.kept.length + b.kept.length);
    const dupIds = await platform.pool.query('SELECT count(*)::int AS n FROM (SELECT event_id FROM silver.ecommerce_events GROUP BY 1 HAVING count(*) > 1) d');
    expect(dupIds.rows[0].n).toBe(0);
  });

  it('a gzip export is read the same as the plain file', async () => {
    const text = ['2019-11-02 10:00:00 UTC,view,5,2053013555631882655,electronics.smartphone,apple,10.00,7,s-gz', '2019-11-02 10:00:01 UTC,purchase,5,2053013555631882655,electronics.smartphone,apple,10.00,7,s-gz'];
    await put(platform, 'ecommerce_events/export.csv.gz', gzipSync(`${HEADER}\r\n${text.join('\r\n')}\r\n`));
    const r = await ingestBronzeFile(platform, 'ecommerce_events/export.csv.gz');
    expect(r.ledger).toMatchObject({ status: 'succeeded', rows_read: 2, rows_silver: 2 });
  });

  it('columns may come in another order and case; extra columns are ignored', async () => {
    const csv = 'User_Session,PRICE,extra,event_type,event_time,product_id,category_id,category_code,brand,user_id\ns-x,1.50,zzz,cart,2019-11-03 08:00:00 UTC,9,2053013555631882655,,Acme ,11\n';
    await put(platform, 'ecommerce_events/reordered.csv', csv);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/reordered.csv');
    expect(r.ledger).toMatchObject({ status: 'succeeded', rows_read: 1, rows_silver: 1 });
    const { rows } = await platform.pool.query(`SELECT brand, price, category_code, user_session FROM silver.ecommerce_events WHERE source_file = 'ecommerce_events/reordered.csv'`);
    expect(rows).toEqual([{ brand: 'acme', price: 1.5, category_code: 'unknown', user_session: 's-x' }]);
  });

  it('a run that dies after writing lake files but before committing is retried as if it ran once', async () => {
    const csv = `${HEADER}\n2019-11-04 09:00:00 UTC,view,77,2053013555631882655,electronics.smartphone,apple,5.00,99,s-crash\n`;
    await put(platform, 'ecommerce_events/crash.csv', csv);
    const info = (await platform.lake.stat('bronze', 'ecommerce_events/crash.csv'))!;
    // What a killed process leaves behind: a 'running' ledger row and an orphan silver file it had recorded.
    const orphan = 'ecommerce_events/event_date=2019-11-04/part-deadbeefdeadbeef-0.parquet';
    await put(platform, 'ecommerce_events/ignored-name.csv', 'x'); // unrelated junk is not touched
    await platform.lake.write('silver', orphan, Readable.from([Buffer.from('half-written')]));
    await platform.pool.query(
      `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, outputs) VALUES ($1, $2, gen_random_uuid(), 'ecommerce_events', $3, 'running', $4)`,
      ['ecommerce_events/crash.csv', info.etag, info.size, JSON.stringify([{ zone: 'silver', path: orphan }])],
    );
    const before = await silverCount(platform);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/crash.csv');
    expect(r.ledger).toMatchObject({ status: 'succeeded', attempts: 2, rows_read: 1, rows_silver: 1 });
    expect(await silverCount(platform)).toBe(before + 1);
    expect(await platform.lake.stat('silver', orphan)).toBeUndefined();
  });

  it('a run another process is landing is left to it while it beats (sweeper and ingest alike), and taken over once it is silent or its process is gone', async () => {
    const csv = `${HEADER}\n2019-11-04 10:00:00 UTC,view,79,2053013555631882655,electronics.smartphone,apple,5.00,97,s-live\n`;
    await put(platform, 'ecommerce_events/live.csv', csv);
    const info = (await platform.lake.stat('bronze', 'ecommerce_events/live.csv'))!;
    const other = await platform.pool.query<{ run_id: string }>(
      `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, host, pid, heartbeat_at)
       VALUES ($1, $2, gen_random_uuid(), 'ecommerce_events', $3, 'running', 'another-host', 4242, clock_timestamp()) RETURNING run_id::text`,
      ['ecommerce_events/live.csv', info.etag, info.size],
    );
    const runOf = async () => (await platform.pool.query(`SELECT run_id::text, status, attempts FROM ops.file_runs WHERE path = 'ecommerce_events/live.csv'`)).rows[0];
    // The sweeper passes it by without a report; a direct ingest waits, then says who has it.
    const swept = await sweepBronze(platform);
    expect(swept.filter((r) => r.path === 'ecommerce_events/live.csv')).toEqual([]);
    const t0 = Date.now();
    const waited = await ingestBronzeFile(platform, 'ecommerce_events/live.csv', { waitForLiveMs: 1500 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1500);
    expect(waited.outcome).toBe('skipped');
    expect(waited.message).toMatch(/^another process \(another-host, pid 4242\) is landing this version right now/);
    expect(await runOf()).toEqual({ run_id: other.rows[0]!.run_id, status: 'running', attempts: 1 });
    // Its process on this host is gone (a pid that cannot exist): taken over at once.
    await platform.pool.query(`UPDATE ops.file_runs SET host = $1, pid = 2147483646 WHERE path = 'ecommerce_events/live.csv'`, [os.hostname()]);
    const dead = await ingestBronzeFile(platform, 'ecommerce_events/live.csv', { waitForLiveMs: 0 });
    expect(dead.ledger).toMatchObject({ status: 'succeeded', attempts: 2, rows_silver: 1 });
    // Silent past the limit on another host: the sweeper takes it over.
    await put(platform, 'ecommerce_events/silent.csv', csv.replace('s-live', 's-silent').replace('10:00:00', '10:00:01'));
    const silent = (await platform.lake.stat('bronze', 'ecommerce_events/silent.csv'))!;
    await platform.pool.query(
      `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, host, pid, heartbeat_at)
       VALUES ($1, $2, gen_random_uuid(), 'ecommerce_events', $3, 'running', 'another-host', 4242, clock_timestamp() - make_interval(secs => $4))`,
      ['ecommerce_events/silent.csv', silent.etag, silent.size, FILE_RUN_SILENT_MS / 1000 + 1],
    );
    const taken = (await sweepBronze(platform)).find((r) => r.path === 'ecommerce_events/silent.csv');
    expect(taken?.ledger).toMatchObject({ status: 'succeeded', attempts: 2, rows_silver: 1 });
  });

  it('a failure inside the silver transaction rolls everything back, and the retry lands the file once', async () => {
    const csv = `${HEADER}\n2019-11-05 09:00:00 UTC,view,78,2053013555631882655,electronics.smartphone,apple,5.00,98,s-tx\n2019-11-05 09:00:02 UTC,cart,78,2053013555631882655,electronics.smartphone,apple,5.00,98,s-tx\n`;
    await put(platform, 'ecommerce_events/tx.csv', csv);
    const before = await silverCount(platform);
    const silverBefore = (await lakeFiles(platform, 'silver', 'ecommerce_events/')).length;
    platform.hooks.afterSilverLoad = async () => {
      throw new Error('database connection lost');
    };
    await expect(ingestBronzeFile(platform, 'ecommerce_events/tx.csv')).rejects.toThrow('database connection lost');
    platform.hooks.afterSilverLoad = undefined;
    expect(await silverCount(platform)).toBe(before);
    expect((await lakeFiles(platform, 'silver', 'ecommerce_events/')).length).toBe(silverBefore);
    const failed = await platform.pool.query(`SELECT status, error, failure_kind FROM ops.file_runs WHERE path = 'ecommerce_events/tx.csv'`);
    expect(failed.rows[0]).toMatchObject({ status: 'failed', failure_kind: 'transient', error: 'database connection lost' });
    const r = await ingestBronzeFile(platform, 'ecommerce_events/tx.csv');
    expect(r.ledger).toMatchObject({ status: 'succeeded', attempts: 2, rows_silver: 2 });
    expect(await silverCount(platform)).toBe(before + 2);
  });

  it('a file replaced while a run reads it: the stale run never abandons the live run of the newer version, which lands', async () => {
    const v1 = `${HEADER}\n2019-11-07 09:00:00 UTC,view,80,2053013555631882655,electronics.smartphone,apple,5.00,96,s-race-v1\n`;
    const v2 = `${HEADER}\n2019-11-07 10:00:00 UTC,view,81,2053013555631882655,electronics.smartphone,apple,6.00,96,s-race-v2\n`;
    await put(platform, 'ecommerce_events/race.csv', v1);
    const lake = platform.lake;
    let replaced: string | undefined;
    // While the v1 run publishes, the producer overwrites the file and the v2 run starts elsewhere.
    platform.lake = Object.assign(Object.create(Object.getPrototypeOf(lake)), lake, {
      writeFile: async (...args: Parameters<typeof lake.writeFile>) => {
        if (!replaced) {
          const v2file = await lake.write('bronze', 'ecommerce_events/race.csv', Readable.from([Buffer.from(v2)]));
          replaced = v2file.etag;
          await platform.pool.query(
            `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status) VALUES ('ecommerce_events/race.csv', $1, gen_random_uuid(), 'ecommerce_events', $2, 'running')`,
            [v2file.etag, v2file.size],
          );
        }
        return lake.writeFile(...args);
      },
    });
    try {
      const stale = await ingestBronzeFile(platform, 'ecommerce_events/race.csv');
      expect(stale.outcome).toBe('succeeded');
    } finally {
      platform.lake = lake;
    }
    const live = await platform.pool.query(`SELECT status FROM ops.file_runs WHERE path = 'ecommerce_events/race.csv' AND etag = $1`, [replaced]);
    expect(live.rows).toEqual([{ status: 'running' }]);
    const newer = await ingestBronzeFile(platform, 'ecommerce_events/race.csv');
    expect(newer.ledger).toMatchObject({ status: 'succeeded', rows_silver: 1 });
    const sessions = await platform.pool.query(`SELECT user_session FROM silver.ecommerce_events WHERE user_session LIKE 's-race-%' ORDER BY 1`);
    expect(sessions.rows.map((r) => r.user_session)).toEqual(['s-race-v1', 's-race-v2']);
  });

  it('the database dropping the connection mid-load is a transient failure: no crash, no hang, nothing landed', async () => {
    const csv = `${HEADER}\n2019-11-08 09:00:00 UTC,view,82,2053013555631882655,electronics.smartphone,apple,5.00,95,s-terminated\n`;
    await put(platform, 'ecommerce_events/terminated.csv', csv);
    const before = await silverCount(platform);
    platform.hooks.afterSilverLoad = async (tx) => {
      await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
    };
    try {
      await expect(ingestBronzeFile(platform, 'ecommerce_events/terminated.csv')).rejects.toThrow(/terminat|Connection/i);
    } finally {
      platform.hooks.afterSilverLoad = undefined;
    }
    expect(await silverCount(platform)).toBe(before);
    const r = await ingestBronzeFile(platform, 'ecommerce_events/terminated.csv');
    expect(r.ledger).toMatchObject({ status: 'succeeded', rows_silver: 1 });
  });

  it('a version that keeps failing for a passing reason is given up on after MAX_FILE_ATTEMPTS, visibly, with the last error', async () => {
    const csv = `${HEADER}\n2019-11-06 09:00:00 UTC,view,79,2053013555631882655,electronics.smartphone,apple,5.00,97,s-giveup\n`;
    await put(platform, 'ecommerce_events/giveup.csv', csv);
    const limit = platform.maxFileAttempts;
    platform.maxFileAttempts = 2;
    platform.hooks.afterSilverLoad = async () => {
      throw new Error('database connection lost');
    };
    try {
      await expect(ingestBronzeFile(platform, 'ecommerce_events/giveup.csv')).rejects.toThrow('database connection lost');
      await expect(ingestBronzeFile(platform, 'ecommerce_events/giveup.csv')).rejects.toThrow('database connection lost');
      const r = await ingestBronzeFile(platform, 'ecommerce_events/giveup.csv');
      expect(r).toMatchObject({ outcome: 'failed', failureKind: 'transient' });
      expect(r.message).toBe('gave up after 2 attempts: database connection lost; fix the cause, then run `medallion replay ecommerce_events/giveup.csv`');
      expect(r.ledger).toMatchObject({ status: 'failed', failure_kind: 'transient', attempts: 3 });
    } finally {
      platform.maxFileAttempts = limit;
      platform.hooks.afterSilverLoad = undefined;
    }
  });

  describe('file-level problems fail the file with a message that says what to fix, quarantine it, and write nothing to silver', () => {
    const cases: { name: string; path: string; content: string | Buffer; message: RegExp }[] = [
      { name: 'unknown dataset path', path: 'unknown_feed/x.csv', content: `${HEADER}\n`, message: /no dataset owns bronze path 'unknown_feed\/x\.csv': put the file under one of .*'ecommerce_events\/' \(ecommerce_events\)/ },
      { name: 'missing required columns', path: 'ecommerce_events/missing.csv', content: 'event_time,event_type,product_id\n2019-10-01 00:00:00 UTC,view,1\n', message: /missing required column\(s\): category_id, category_code, brand, price, user_id, user_session/ },
      { name: 'empty file', path: 'ecommerce_events/empty.csv', content: '', message: /the file is empty \(0 bytes\)/ },
      { name: 'not CSV (binary)', path: 'ecommerce_events/photo.csv', content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), message: /binary or not text/ },
      { name: 'not CSV (JSON)', path: 'ecommerce_events/data.csv', content: '{"event_time": "2019-10-01", "event_type": "view"}\n', message: /looks like JSON, not a CSV with a header line/ },
      { name: 'not CSV (one column of text)', path: 'ecommerce_events/notes.csv', content: 'just some notes\nmore notes\n', message: /does not look like a ','-separated CSV header/ },
      { name: 'corrupt gzip', path: 'ecommerce_events/broken.csv.gz', content: gzipSync(Buffer.from(`${HEADER}\n${'2019-10-01 00:00:00 UTC,view,1,2,a.b,c,1.00,3,s\n'.repeat(2000)}`)).subarray(0, 300), message: /gzip stream is corrupt or truncated/ },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const before = await silverCount(platform);
        const silverBefore = (await lakeFiles(platform, 'silver', '')).length;
        await put(platform, c.path, c.content);
        const r = await ingestBronzeFile(platform, c.path);
        expect(r.outcome).toBe('failed');
        expect(r.message).toMatch(c.message);
        expect(r.ledger).toMatchObject({ status: 'failed' });
        expect(r.ledger!.error).toMatch(c.message);
        expect(await silverCount(platform)).toBe(before);
        expect((await lakeFiles(platform, 'silver', '')).length).toBe(silverBefore);
        const dataset = c.path.startsWith('ecommerce_events/') ? 'ecommerce_events' : '_unknown';
        const copy = await platform.lake.stat('quarantine', `_files/${dataset}/${c.path}`);
        expect(copy?.size).toBe(Buffer.byteLength(c.content));
        const manifest = JSON.parse((await readSmall(await platform.lake.read('quarantine', `_files/${dataset}/${c.path}.error.json`))).toString());
        expect(manifest).toMatchObject({ source: `bronze/${c.path}`, error: r.message });
        // The same broken version is not retried forever: a second delivery is recorded once more as failed.
        const again = await ingestBronzeFile(platform, c.path);
        expect(again.outcome).toBe('failed');
      });
    }
  });

  it('rejects unsafe paths before touching storage', async () => {
    await expect(ingestBronzeFile(platform, 'ecommerce_events/../../etc/passwd')).rejects.toThrow(/'\.\.' segment/);
  });
});
