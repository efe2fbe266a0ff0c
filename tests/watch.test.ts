import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepBronze } from '../shared/pipeline/watch';
import type { Platform } from '../shared/platform';
import { freshPlatform } from './support/platform';

const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

describe('medallion dev: the bronze sweeper (local stand-in for Event Grid)', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
  });
  afterAll(async () => platform?.close());

  const drop = (name: string, body: string) => platform.lake.write('bronze', name, Readable.from([Buffer.from(`${H}\n${body}`)]));

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
});
