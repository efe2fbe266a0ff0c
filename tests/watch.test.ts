import { dropScratchDatabase } from '../shared/local/scratchDatabase';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import type { Lake } from '../shared/lake/lake';
import { MAX_ATTEMPTS, SweepMemory, sleep, sweepBronze, watchBronze } from '../shared/pipeline/watch';
import type { Platform } from '../shared/platform';
import { freshPlatform, wipeLake } from './support/platform';

const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

describe('medallion dev: the bronze sweeper (local stand-in for Event Grid)', () => {
  let platform: Platform;
  let database: string;
  beforeAll(async () => {
    ({ platform, database } = await freshPlatform());
  });
  afterAll(async () => {
    await platform?.close();
    await wipeLake();
    if (database) await dropScratchDatabase(inject('databaseUrl'), database);
  });

  const drop = (name: string, body: string) => platform.lake.write('bronze', name, Readable.from([Buffer.from(`${H}\n${body}`)]));
  const names = async (zone: 'bronze' | 'quarantine', prefix = '') => {
    const out: string[] = [];
    for await (const f of platform.lake.list(zone, prefix)) out.push(f.path);
    return out;
  };

  it('processes each new file version once, and a replaced file again', async () => {
    await drop('ecommerce_events/a.csv', '2019-10-01 00:00:00 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/b.csv', '2019-10-01 00:00:01 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('nobody/x.csv', 'whatever\n');
    const first = await sweepBronze(platform);
    expect(first.map((r) => [r.path, r.outcome]).sort()).toEqual([
      ['ecommerce_events/a.csv', 'succeeded'],
      ['ecommerce_events/b.csv', 'succeeded'],
      ['nobody/x.csv', 'failed'],
    ]);
    expect(await sweepBronze(platform)).toEqual([]);
    await drop('ecommerce_events/a.csv', '2019-10-01 00:00:00 UTC,view,1,2,a,b,1.00,3,s\n2019-10-01 00:00:05 UTC,cart,1,2,a,b,1.00,3,s\n');
    const third = await sweepBronze(platform);
    expect(third).toHaveLength(1);
    expect(third[0]!.ledger).toMatchObject({ path: 'ecommerce_events/a.csv', rows_read: 2, rows_silver: 1, duplicates_cross_file: 1 });
  });

  it('retries a transient failure but not a file-level one', async () => {
    await platform.pool.query(`UPDATE ops.file_runs SET status = 'failed', error = 'transient: connection reset' WHERE path = 'ecommerce_events/b.csv'`);
    const again = await sweepBronze(platform);
    expect(again.map((r) => [r.path, r.outcome])).toEqual([['ecommerce_events/b.csv', 'succeeded']]);
    const { rows } = await platform.pool.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events`);
    expect(rows[0].n).toBe(3);
  });

  it('a blob name with a tab or newline is moved aside to quarantine; the rest of the sweep goes on, and the next sweep is clean', async () => {
    await drop('ecommerce_events/bad\tname.csv', '2019-10-01 00:01:00 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/line\nbreak.csv', '2019-10-01 00:01:01 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/z-good.csv', '2019-10-01 00:01:02 UTC,view,1,2,a,b,1.00,3,s\n');
    const reports = await sweepBronze(platform);
    expect(reports.map((r) => [r.path, r.outcome]).sort()).toEqual([
      ['ecommerce_events/bad\\tname.csv', 'failed'],
      ['ecommerce_events/line\\nbreak.csv', 'failed'],
      ['ecommerce_events/z-good.csv', 'succeeded'],
    ]);
    expect(reports.find((r) => r.path.includes('bad'))!.message).toMatch(/control characters.*moved to quarantine\/_files\/_unsafe_names\//);
    // Out of bronze, into quarantine with a manifest that keeps the original name.
    expect((await names('bronze')).some((n) => /[\t\n]/.test(n))).toBe(false);
    const aside = await names('quarantine', '_files/_unsafe_names/');
    expect(aside).toHaveLength(4);
    const manifest = aside.find((n) => n.startsWith('_files/_unsafe_names/bad_name') && n.endsWith('.error.json'))!;
    const chunks: Buffer[] = [];
    for await (const c of await platform.lake.read('quarantine', manifest)) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toMatchObject({ source: 'bronze/ecommerce_events/bad\tname.csv' });
    expect(await sweepBronze(platform)).toEqual([]);
  });

  it('a blob that cannot be moved aside is remembered and skipped, not failed on forever', async () => {
    await drop('ecommerce_events/stuck\tname.csv', '2019-10-01 00:02:00 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/zz-good.csv', '2019-10-01 00:02:01 UTC,view,1,2,a,b,1.00,3,s\n');
    const lake: Lake = Object.create(platform.lake);
    lake.copy = async () => {
      throw new Error('copy refused by the storage account');
    };
    const p = { ...platform, lake };
    const memory = new SweepMemory();
    const first = await sweepBronze(p, undefined, { memory });
    expect(first.map((r) => [r.path, r.outcome]).sort()).toEqual([
      ['ecommerce_events/stuck\\tname.csv', 'failed'],
      ['ecommerce_events/zz-good.csv', 'succeeded'],
    ]);
    expect(first[0]!.message).toMatch(/could not move it aside \(copy refused.*skipped until it changes/);
    expect(await sweepBronze(p, undefined, { memory })).toEqual([]);
    await platform.lake.delete('bronze', 'ecommerce_events/stuck\tname.csv');
  });

  it('a poison blob (processing throws) is reported, the others land, and it is given up on after a few attempts', async () => {
    await drop('ecommerce_events/p-poison.csv', '2019-10-01 00:03:00 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/p-stat.csv', '2019-10-01 00:03:01 UTC,view,1,2,a,b,1.00,3,s\n');
    await drop('ecommerce_events/p-zgood.csv', '2019-10-01 00:03:02 UTC,view,1,2,a,b,1.00,3,s\n');
    const lake: Lake = Object.create(platform.lake);
    let statCalls = 0;
    // Fails after the ledger claimed the run (recorded as transient) …
    lake.read = async (zone, path) => {
      if (path.endsWith('p-poison.csv')) throw new Error('socket hang up');
      return platform.lake.read(zone, path);
    };
    // … and before anything reached the ledger.
    lake.stat = async (zone, path) => {
      if (path.endsWith('p-stat.csv')) {
        statCalls++;
        throw new Error('storage said 500');
      }
      return platform.lake.stat(zone, path);
    };
    const p = { ...platform, lake };
    const memory = new SweepMemory();
    const first = await sweepBronze(p, undefined, { memory });
    expect(first.map((r) => [r.path, r.outcome]).sort()).toEqual([
      ['ecommerce_events/p-poison.csv', 'failed'],
      ['ecommerce_events/p-stat.csv', 'failed'],
      ['ecommerce_events/p-zgood.csv', 'succeeded'],
    ]);
    expect(first.find((r) => r.path.endsWith('p-stat.csv'))!.message).toMatch(/^transient: storage said 500 \(retried on a later sweep\)/);
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) await sweepBronze(p, undefined, { memory });
    expect(statCalls).toBe(MAX_ATTEMPTS);
    const { rows } = await platform.pool.query(`SELECT status, attempts, error FROM ops.file_runs WHERE path = 'ecommerce_events/p-poison.csv'`);
    expect(rows).toEqual([{ status: 'failed', attempts: MAX_ATTEMPTS, error: expect.stringMatching(/socket hang up/) }]);
    expect(await sweepBronze(p, undefined, { memory })).toEqual([]);
    for (const f of ['p-poison.csv', 'p-stat.csv']) await platform.lake.delete('bronze', `ecommerce_events/${f}`);
  });

  it('watchBronze keeps at most one abort listener, however many sweeps it runs', async () => {
    const controller = new AbortController();
    let sweeps = 0;
    let most = 0;
    const stub = {
      pool: {
        query: async () => {
          sweeps++;
          most = Math.max(most, getEventListeners(controller.signal, 'abort').length);
          if (sweeps >= 200) controller.abort();
          return { rows: [] };
        },
      },
      lake: { list: async function* () {} },
    } as unknown as Platform;
    await watchBronze(stub, { intervalMs: 0, signal: controller.signal, onReport: () => undefined, onError: (e) => { throw e; } });
    expect(sweeps).toBe(200);
    expect(most).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('sleep ends early on abort and removes its listener either way', async () => {
    const controller = new AbortController();
    await sleep(1, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const t0 = Date.now();
    const waiting = sleep(60_000, controller.signal);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await waiting;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });
});
