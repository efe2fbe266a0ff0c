import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Contract, ContractError, validateContract } from '../../shared/contracts/contract';
import { ContractRegistry } from '../../shared/contracts/registry';
import ecommerce from '../../shared/datasets/ecommerce_events/contract';
import { engineInstance, ExpectationFailedError, keepSignedZeros, openEngine, transformFile } from '../../shared/engine/transform';
import { scratchPrefix, sweepDeadWork } from '../../shared/workDirs';
import { FileRejectedError, matchColumns, normalizeName, parseHeader, readFirstLine, type StageFormat, stageInput } from '../../shared/pipeline/stageInput';
import { writeEcommerceSample } from '../../shared/samples/ecommerceSample';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'engine-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const lineage = { sourceFile: 'ecommerce_events/t.csv', runId: '00000000-0000-4000-8000-000000000001', ingestedAt: new Date('2024-01-01T00:00:00Z') };
const CSV: StageFormat = { type: 'csv', delimiter: ',', quote: '"', maxRecordLines: 1 };

/** The staging pass, then the transform, as the pipeline runs them. */
async function run(csv: string, contract: Contract = ecommerce) {
  const maxRecordLines = contract.format.type === 'csv' ? (contract.format.multiLine?.maxLines ?? 1) : 1;
  const staged = await stageInput(Readable.from([Buffer.from(csv)]), path.join(dir, `in-${Math.random()}`), { ...CSV, maxRecordLines });
  const cols = matchColumns(contract.source, staged.header ?? '');
  const outDir = path.join(dir, `out-${Math.random()}`);
  const result = await transformFile(
    {
      contract,
      inputPath: staged.localPath,
      rejectsPath: staged.rejectsPath,
      columnPositions: cols.positions,
      headerWidth: cols.width,
      unknownColumns: cols.unknown,
      lineage: { ...lineage, sourceHash: staged.contentHash },
      staging: { rowsRead: staged.rowsRead, rejected: staged.rejected, rejectReasons: staged.rejectReasons },
      outDir,
    },
    { memoryLimit: '256MB', spillDir: path.join(dir, 'spill') },
  );
  return { result, outDir };
}

async function silverRows(silverDir: string, sql: string) {
  const { con, close } = await openEngine({ memoryLimit: '128MB', spillDir: path.join(dir, 'spill') });
  try {
    return (await con.runAndReadAll(sql.replace('$DIR', `'${silverDir}/**/*.parquet'`))).getRowObjects();
  } finally {
    close();
  }
}

const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';
const row = (t: string, type = 'view', extra = '') => `2019-10-01 ${t} UTC,${type},1,2053013555631882655,a.b.c,X,1.00,5,s${extra}`;

describe('the DuckDB transform compiled from a contract', () => {
  it('gives exact physical line numbers even after malformed lines in the middle', async () => {
    const lines = [H, row('00:00:01'), 'broken,line', row('00:00:02'), 'also,broken,x', 'x', row('00:00:03'), row('00:00:01')];
    const { result } = await run(lines.join('\n') + '\n');
    expect(result).toMatchObject({ rowsRead: 7, malformed: 3, silverRows: 3, duplicatesInFile: 1, quarantined: 3 });
    const rows = await silverRows(result.silverDir, 'SELECT strftime(event_time, \'%H:%M:%S\') AS t, source_line FROM read_parquet($DIR) ORDER BY source_line');
    // file lines: 1 header, 2 row, 3 broken, 4 row, 5 broken, 6 broken, 7 row, 8 duplicate of line 2
    expect(rows).toEqual([
      { t: '00:00:01', source_line: 2n },
      { t: '00:00:02', source_line: 4n },
      { t: '00:00:03', source_line: 7n },
    ]);
  });

  it('multi-line quoted fields only when the contract opts in, capped in lines; the record keeps its first line', async () => {
    const multi: Contract = { ...ecommerce, format: { type: 'csv', multiLine: { maxLines: 3 } } };
    const spanning = '2019-10-01 00:00:05 UTC,view,1,2053013555631882655,a.b.c,"two\nlines",1.00,5,s-m';
    const tooLong = '2019-10-01 00:00:06 UTC,view,1,2053013555631882655,a.b.c,"one\ntwo\nthree\nfour",1.00,5,s-n';
    const csv = [H, row('00:00:01'), spanning, row('00:00:02'), tooLong, row('00:00:03')].join('\n');
    // Lines: 1 header, 2 row, 3-4 spanning record, 5 row, 6-9 record over the cap, 10 row.
    const opted = await run(csv, multi);
    const rows = await silverRows(opted.result.silverDir, `SELECT brand, source_line FROM read_parquet($DIR) ORDER BY source_line`);
    expect(rows.map((r) => [r.brand, r.source_line])).toEqual([
      ['x', 2n],
      ['two\nlines', 3n],
      ['x', 5n],
      ['x', 10n],
    ]);
    // Over the cap: its first line is unclosed_quote; the lines it held are read again on their own.
    expect(opted.result.quarantineReasons).toEqual({ unclosed_quote: 1, malformed_row: 3 });
    // Without the opt-in, a record never spans lines: both quoted records cost only their lines.
    const single = await run(csv);
    expect(single.result.silverRows).toBe(3);
    expect(single.result.quarantineReasons).toEqual({ unclosed_quote: 2, malformed_row: 4 });
  });

  it('keeps the first occurrence of a duplicate key, in file order', async () => {
    const { result } = await run([H, row('00:00:09', 'view', '1'), row('00:00:01'), row('00:00:01')].join('\n'));
    const rows = await silverRows(result.silverDir, 'SELECT source_line FROM read_parquet($DIR) ORDER BY 1');
    expect(rows.map((r) => r.source_line)).toEqual([2n, 3n]);
  });

  it('standardises before deduplicating: case and whitespace variants are one event', async () => {
    const { result } = await run([H, row('00:00:01', 'VIEW'), row('00:00:01', ' view '), row('00:00:01', 'view')].join('\n'));
    expect(result).toMatchObject({ silverRows: 1, duplicatesInFile: 2 });
  });

  it("a 'fail' expectation rejects the whole file and says where", async () => {
    const strict: Contract = { ...ecommerce, expectations: [...ecommerce.expectations, { name: 'october_only', check: 'month(event_time) = 10', action: 'fail', description: 'events are from October' }] };
    await expect(run([H, row('00:00:01'), '2019-11-01 00:00:00 UTC,view,1,2,a,b,1.00,5,s'].join('\n'), strict)).rejects.toThrow(ExpectationFailedError);
    await expect(run([H, row('00:00:01'), '2019-11-01 00:00:00 UTC,view,1,2,a,b,1.00,5,s'].join('\n'), strict)).rejects.toThrow(/'october_only' .* failed on 1 row\(s\), first at line 3/);
  });

  it("special time words ('infinity', 'epoch') are invalid, never 1900-01-01 (DuckDB's strptime list turns them into it)", async () => {
    const bad = ['infinity', '-infinity', 'epoch', 'Infinity', 'now'].map((w) => `${w},view,1,2,a,b,1.00,5,s-${w}`);
    const { result } = await run([H, ...bad, row('00:00:01')].join('\n'));
    expect(result.quarantineReasons).toEqual({ invalid_event_time: 5 });
    expect(result.silverRows).toBe(1);
  });

  it('quarantines each bad row once, with the first failing expectation as reason and raw values kept', async () => {
    const { result } = await run([H, '2019-10-01 00:00:00 UTC,click,0,2,a,b,-1,5,s', '2019-10-01 00:00:00 UTC,view,1,2,a,b,abc,5,s'].join('\n'));
    expect(result.quarantineReasons).toEqual({ valid_event_type: 1, invalid_price: 1 });
    const rows = await silverRows(
      path.dirname(result.quarantineFile!),
      `SELECT price, quarantine_reason, quarantine_detail, raw_line, source_line FROM read_parquet('${result.quarantineFile}') ORDER BY source_line`,
    );
    expect(rows).toEqual([
      { price: '-1', quarantine_reason: 'valid_event_type', quarantine_detail: 'failed: event_type is one of view, cart, remove_from_cart, purchase (event_type: value "click")', raw_line: '2019-10-01 00:00:00 UTC,click,0,2,a,b,-1,5,s', source_line: 2n },
      { price: 'abc', quarantine_reason: 'invalid_price', quarantine_detail: 'price: value "abc" is not a valid double', raw_line: '2019-10-01 00:00:00 UTC,view,1,2,a,b,abc,5,s', source_line: 3n },
    ]);
  });

  it('handles a generated file with every kind of defect and balances the books', async () => {
    const file = path.join(dir, 'gen.csv');
    const summary = await writeEcommerceSample(file, { rows: 20_000, seed: 3, duplicateRate: 0.02, badRate: 0.01, truncateLastLine: true });
    const { result: r } = await run(await readFile(file, 'utf8'));
    expect(r.rowsRead).toBe(summary.lines);
    expect(r.malformed).toBe(1);
    expect(r.rowsRead).toBe(r.silverRows + r.quarantined + r.duplicatesInFile + r.duplicatesCrossFile);
    const bad = Object.values(summary.bad).reduce((a, b) => a + b, 0);
    // duplicated bad rows are quarantined once per copy, so at least as many as generated
    expect(r.quarantined - r.malformed).toBeGreaterThanOrEqual(bad);
    expect(r.duplicatesInFile).toBeGreaterThanOrEqual(summary.duplicates - 20);
  });
});

/** A gzip stream of `bytes` zero bytes, compressed as it is read (never held in memory). */
function zerosGzip(bytes: number): Readable {
  const chunk = Buffer.alloc(1 << 20);
  let left = bytes;
  const zeros = new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(chunk.subarray(0, n));
    },
  });
  return zeros.pipe(createGzip({ level: 1 }));
}

describe('engine spill folders', () => {
  it('two engines on one spill folder spill into folders of their own, removed when they close', async () => {
    const spillDir = path.join(dir, `spill-${Math.random()}`);
    const a = await engineInstance({ memoryLimit: '64MB', threads: 1, spillDir });
    const b = await openEngine({ memoryLimit: '64MB', threads: 1, spillDir });
    const con = await a.instance.connect();
    const tempOf = async (c: typeof con) => String((await c.runAndReadAll("SELECT current_setting('temp_directory')")).getRows()[0]![0]);
    const [ta, tb] = [await tempOf(con), await tempOf(b.con)];
    expect(ta).not.toBe(tb);
    expect([path.dirname(ta), path.dirname(tb)]).toEqual([spillDir, spillDir]);
    // Both work at once (a sort of 3M rows each) and get the same answer.
    const big = 'SELECT sum(h) FROM (SELECT hash(i) AS h FROM range(4000000) t(i) ORDER BY h DESC LIMIT 3000000)';
    const [ra, rb] = await Promise.all([con.runAndReadAll(big), b.con.runAndReadAll(big)]);
    expect(String(ra.getRows()[0]![0])).toBe(String(rb.getRows()[0]![0]));
    con.closeSync();
    a.close();
    b.close();
    expect(await readdir(spillDir)).toEqual([]);
  });

  it("a process killed before it cleaned up: its scratch folders are swept; a living process's, another host's and others are kept", async () => {
    const root = path.join(dir, `sweep-${Math.random()}`);
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout.trim());
    expect(deadPid).toBeGreaterThan(0);
    const host = path.basename(scratchPrefix(root, 'run')).split('-')[2]!;
    const mine = (kind: string, pid: number) => `${kind}-${pid}-${host}-abc`;
    const deadOnes = ['run', 'gold', 'check', 'duckdb', 'gold-sets'].map((k) => mine(k, deadPid));
    const kept = [mine('run', process.pid), mine('gold-sets', process.ppid), `run-${deadPid}-0badc0de-abc`, `run-${deadPid}-abc`, 'other'];
    for (const name of [...deadOnes, ...kept]) await mkdir(path.join(root, name, 'sub'), { recursive: true });
    await sweepDeadWork(root);
    expect((await readdir(root)).sort()).toEqual([...kept].sort());
    await sweepDeadWork(path.join(dir, 'never-made')); // no folder yet: nothing to do
  });
});

describe('staging the bronze bytes', () => {
  it('a corrupt or truncated gzip has no first line (no crash)', async () => {
    const gz = gzipSync(Buffer.from(`${H}\n${row('00:00:01')}\n`));
    const corrupt = Buffer.from(gz);
    corrupt[corrupt.length - 6]! ^= 0xff;
    // The CRC is checked at the end: the line may or may not have been read by then; never a crash.
    expect([H, undefined]).toContain(await readFirstLine(Readable.from([corrupt])));
    await expect(readFirstLine(Readable.from([gz.subarray(0, 12)]))).resolves.toBeUndefined();
    await expect(stageInput(Readable.from([corrupt]), path.join(dir, 'crc'), CSV)).rejects.toThrow(/gzip stream is corrupt/);
  });

  it('a gzip of zeros (a bomb) costs a bounded read: no header line, refused as binary, memory flat', async () => {
    const rss = process.memoryUsage().rss;
    await expect(readFirstLine(zerosGzip(2 * 1024 ** 3))).resolves.toBeUndefined();
    await expect(stageInput(zerosGzip(2 * 1024 ** 3), path.join(dir, 'zeros'), CSV)).rejects.toThrow(/longer than 1048576 bytes/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024);
  });

  it('decompresses gzip while streaming and reads the header without the BOM', async () => {
    const out = path.join(dir, 'staged.csv');
    const s = await stageInput(Readable.from([gzipSync(Buffer.from(`\uFEFF${H}\r\n${row('00:00:01')}\r\n`))]), out, CSV);
    expect(s.gzip).toBe(true);
    expect(s.header).toBe(H);
    // records only, each prefixed with its physical line, line endings normalised
    expect(await readFile(out, 'utf8')).toBe(`2,${row('00:00:01')}\n`);
  });
  it('refuses empty and binary input', async () => {
    await expect(stageInput(Readable.from([]), path.join(dir, 'e'), CSV)).rejects.toThrow(FileRejectedError);
    await expect(stageInput(createReadStream('/bin/true'), path.join(dir, 'b'), CSV)).rejects.toThrow(/binary/);
  });
  it('parses quoted header names and matches them case-insensitively', () => {
    expect(parseHeader('"a,b",c,"d ""e"""')).toEqual(['a,b', 'c', 'd "e"']);
    expect(['customerID', 'TotalCharges', 'Event Time', 'user-session'].map(normalizeName)).toEqual(['customer_id', 'total_charges', 'event_time', 'user_session']);
  });
});

describe('contracts are checked when loaded', () => {
  it('names the mistake', () => {
    expect(() => validateContract({ ...ecommerce, partitionBy: ['event_day'] })).toThrow(/partition column 'event_day' is not a silver column/);
    expect(() => validateContract({ ...ecommerce, dedup: { mode: 'first', key: ['nope'], idColumn: 'event_id' } })).toThrow(/dedup key column 'nope'/);
    expect(() => validateContract({ ...ecommerce, bronzePrefix: 'x' })).toThrow(ContractError);
  });
  it('finds the dataset of a bronze path and refuses overlapping prefixes', () => {
    const registry = new ContractRegistry([ecommerce]);
    expect(registry.forPath('ecommerce_events/2019/a.csv')?.name).toBe('ecommerce_events');
    expect(registry.forPath('other/a.csv')).toBeUndefined();
    expect(() => new ContractRegistry([ecommerce, { ...ecommerce, name: 'ecommerce_more', bronzePrefix: 'ecommerce_events/more/' }])).toThrow(/overlap/);
  });
});

describe('Parquet and signed zeros', () => {
  it("keepSignedZeros writes -0 and +0 as they are; DuckDB's dictionary alone does not (duckdb/duckdb#25781: drop the workaround when this fails)", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'signed-zeros-'));
    const engine = await openEngine({ memoryLimit: '64MB', spillDir: dir });
    try {
      await engine.con.run(`CREATE TABLE z AS SELECT i, CASE WHEN i % 3 = 0 THEN -0.0::DOUBLE ELSE 0.0::DOUBLE END AS p, 'brand' || (i % 4) AS b FROM range(3000) r(i)`);
      const negatives = async (keep: boolean) => {
        const file = path.join(dir, `z-${keep}.parquet`);
        await engine.con.run(`COPY z TO '${file}' (FORMAT PARQUET, COMPRESSION ZSTD${keepSignedZeros(keep)})`);
        const r = await engine.con.runAndReadAll(`SELECT count(*) FILTER (WHERE signbit(p) = (i % 3 = 0)) AS right FROM read_parquet('${file}')`);
        return Number(r.getRows()[0]![0]);
      };
      expect(await negatives(true)).toBe(3000);
      expect(await negatives(false)).toBeLessThan(3000);
    } finally {
      engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
