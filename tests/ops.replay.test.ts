import { spawn, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../shared/cli/main';
import { silentLogger } from '../shared/log';
import { replayFile } from '../shared/ops/replay';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { getRun } from '../shared/pipeline/ledger';
import type { Platform } from '../shared/platform';
import { writeEcommerceSample } from '../shared/samples/ecommerceSample';
import { freshPlatform } from './support/platform';

const DS = 'ecommerce_events';

describe('medallion replay: failed bronze file versions run again after a fix', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let dir: string;
  const rows: Record<string, number> = {};

  async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l), log: silentLogger });
    return { code, out, err };
  }

  /** A generated file with no bad rows and no duplicates: every row lands in silver. */
  async function put(name: string, n: number, seed: number): Promise<string> {
    const file = path.join(dir, name);
    await writeEcommerceSample(file, { rows: n, seed, days: 1, start: new Date(Date.UTC(2019, 9, seed)), duplicateRate: 0, badRate: 0 });
    await platform.lake.write('bronze', `${DS}/${name}`, createReadStream(file));
    rows[name] = n;
    return `${DS}/${name}`;
  }

  async function ledger(p: string) {
    const f = await platform.lake.stat('bronze', p);
    return getRun(platform.pool, p, f!.etag);
  }

  beforeAll(async () => {
    ({ platform, env } = await freshPlatform());
    dir = await mkdtemp(path.join(os.tmpdir(), 'replay-'));
  });
  afterAll(async () => {
    await platform?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a file that failed bad_contract (dataset blocked) lands once the block is gone; attempts start again from 1', async () => {
    const a = await put('a.csv', 400, 1);
    platform.blockedDatasets.set(DS, `dataset '${DS}': test block (breaking contract change)`);
    for (let i = 0; i < 2; i++) {
      const r = await ingestBronzeFile(platform, a);
      expect({ outcome: r.outcome, kind: r.failureKind }).toEqual({ outcome: 'failed', kind: 'bad_contract' });
    }
    expect(await ledger(a)).toMatchObject({ status: 'failed', failure_kind: 'bad_contract', attempts: 2 });

    // The CLI builds its own platform: the contract is fixed (no block any more).
    const res = await cli('replay', a);
    expect(res.code).toBe(0);
    expect(res.out[0]).toMatch(/^↻ replayed bronze\/ecommerce_events\/a\.csv \(was failed bad_contract after 2 attempt\(s\): dataset 'ecommerce_events': test block/);
    expect(res.out[1]).toMatch(/^✔ ecommerce_events\/a\.csv → ecommerce_events: read 400 = silver 400 \+ quarantined 0 \+ duplicates 0/);
    expect(await ledger(a)).toMatchObject({ status: 'succeeded', attempts: 1, rows_read: 400, rows_silver: 400, rows_quarantined: 0, error: null, failure_kind: null });
    expect((await platform.pool.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events WHERE source_file = $1`, [a])).rows[0].n).toBe(400);
    // The failed row it replaced is kept in ops.replays.
    const replays = await platform.pool.query(`SELECT previous_status, previous_failure_kind, previous_attempts, outcome, run_id, previous->>'error' AS error FROM ops.replays WHERE path = $1`, [a]);
    expect(replays.rows).toEqual([
      { previous_status: 'failed', previous_failure_kind: 'bad_contract', previous_attempts: 2, outcome: 'succeeded', run_id: (await ledger(a))!.run_id, error: expect.stringMatching(/test block/) },
    ]);
  });

  it('a path that never failed says so, exit 0, nothing done', async () => {
    const landed = await cli('replay', 'bronze/ecommerce_events/a.csv');
    expect(landed.code).toBe(0);
    expect(landed.out.join('\n')).toMatch(/^• bronze\/ecommerce_events\/a\.csv never failed: its current version already landed \(run /);
    const fresh = await put('never.csv', 50, 9);
    const never = await cli('replay', fresh);
    expect(never.code).toBe(0);
    expect(never.out.join('\n')).toMatch(/never failed: its current version has not run yet/);
    expect(await ledger(fresh)).toBeUndefined();
    await platform.lake.delete('bronze', fresh);
    const missing = await cli('replay', 'ecommerce_events/nope.csv');
    expect(missing.code).toBe(1);
    expect(missing.out.join('\n')).toMatch(/bronze\/ecommerce_events\/nope\.csv does not exist/);
    expect((await platform.pool.query(`SELECT count(*)::int AS n FROM ops.replays`)).rows[0].n).toBe(1);
  });

  it('a run left running by a process that is gone is run again by replay; one whose process is alive is left alone', async () => {
    const k = await put('killed.csv', 120, 11);
    const f = (await platform.lake.stat('bronze', k))!;
    // A run as kill -9 leaves it: claimed on this host by a process that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const claim = (pid: number) =>
      platform.pool.query(
        `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, host, pid, heartbeat_at) VALUES ($1, $2, gen_random_uuid(), $3, $4, 'running', $5, $6, now())
         ON CONFLICT (path, etag) DO UPDATE SET status = 'running', host = EXCLUDED.host, pid = EXCLUDED.pid, heartbeat_at = now(), run_id = gen_random_uuid()`,
        [k, f.etag, DS, f.size, os.hostname(), pid],
      );
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' }); // another process on this host, alive
    try {
      await claim(other.pid!);
      const alive = await replayFile(platform, k);
      expect(alive).toMatchObject({ status: 'nothing_to_replay', message: expect.stringMatching(/is running now/) });
      expect(await ledger(k)).toMatchObject({ status: 'running', pid: other.pid });
    } finally {
      other.kill('SIGKILL');
    }
    await claim(dead);
    const r = await cli('replay', k);
    expect(r.code).toBe(0);
    expect(r.out[0]).toMatch(/^↻ replayed bronze\/ecommerce_events\/killed\.csv \(its run .* had stopped without finishing: its process is gone\)/);
    expect(await ledger(k)).toMatchObject({ status: 'succeeded', rows_silver: 120, attempts: 2 });
    expect((await platform.pool.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events WHERE source_file = $1`, [k])).rows[0].n).toBe(120);
  });

  it('--failed replays every failed version still in bronze, oldest first, from bronze even when quarantine/_files has a copy', async () => {
    platform.blockedDatasets.set(DS, `dataset '${DS}': test block`);
    const files = [await put('b.csv', 300, 2), await put('c.csv', 200, 3), await put('d.csv', 100, 4), await put('gone.csv', 10, 5)];
    for (const f of files) expect((await ingestBronzeFile(platform, f)).outcome).toBe('failed');
    platform.blockedDatasets.delete(DS);
    // d.csv as if it had been rejected as a bad file: a (different) copy in quarantine/_files.
    await platform.pool.query(`UPDATE ops.file_runs SET failure_kind = 'bad_file' WHERE path = $1`, [files[2]]);
    await platform.lake.write('quarantine', `_files/${DS}/${files[2]}`, Readable.from([Buffer.from('not,the,file\n')]));
    // gone.csv failed, then left bronze: not replayed.
    await platform.lake.delete('bronze', files[3]!);

    expect((await cli('replay', '--failed', '--dataset', 'customers')).out).toEqual(["no failed file of dataset 'customers': nothing to replay"]);

    const res = await cli('replay', '--failed', '--dataset', DS);
    expect(res.code).toBe(0);
    const lines = res.out.filter((l) => /^[↻•]/.test(l));
    expect(lines).toEqual([
      expect.stringMatching(/^↻ replayed bronze\/ecommerce_events\/b\.csv \(was failed bad_contract after 1 attempt/),
      expect.stringMatching(/^↻ replayed bronze\/ecommerce_events\/c\.csv/),
      expect.stringMatching(/^↻ replayed bronze\/ecommerce_events\/d\.csv \(was failed bad_file/),
      '• bronze/ecommerce_events/gone.csv no longer exists: not replayed',
    ]);
    expect(res.out.at(-1)).toBe('3 file(s) replayed: 3 landed; 1 not replayed');
    for (const f of files.slice(0, 3)) {
      const name = path.basename(f);
      expect(await ledger(f)).toMatchObject({ status: 'succeeded', attempts: 1, rows_read: rows[name], rows_silver: rows[name] });
    }
    // Nothing failed is left but the file that is gone; a second run has nothing to do.
    const again = await cli('replay', '--failed');
    expect(again.out).toEqual(['• bronze/ecommerce_events/gone.csv no longer exists: not replayed']);
    expect(again.code).toBe(0);
  });

  it('a file that fails again is reported as failed again (exit 1) and keeps its failed row', async () => {
    const e = await put('e.csv', 20, 6);
    platform.blockedDatasets.set(DS, 'still blocked');
    expect((await ingestBronzeFile(platform, e)).outcome).toBe('failed');
    const r = await replayFile(platform, e);
    platform.blockedDatasets.delete(DS);
    expect(r.status).toBe('replayed');
    expect(r.report).toMatchObject({ outcome: 'failed', failureKind: 'bad_contract', message: 'still blocked' });
    expect(await ledger(e)).toMatchObject({ status: 'failed', attempts: 1 });
    // A new version of the file that is itself bad (JSON, not CSV): it fails, and fails again when replayed.
    await platform.lake.write('bronze', e, Readable.from([Buffer.from('{"json": "not a csv"}\n')]));
    expect((await ingestBronzeFile(platform, e)).failureKind).toBe('bad_file');
    const res = await cli('replay', e);
    expect(res.code).toBe(1);
    expect(res.out[1]).toMatch(/^✘ ecommerce_events\/e\.csv: FAILED \(bad_file\)/);
  });
});
