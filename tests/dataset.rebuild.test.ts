import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { rebuildDataset, replayOrder } from '../shared/pipeline/datasetOps';
import type { Platform } from '../shared/platform';
import { freshPlatform } from './support/platform';

/**
 * `medallion dataset rebuild` after a path got a new version and an older version survives in
 * bronze only as a copy under another name (a re-delivery when it came): the replay must give the
 * state the original loads gave. Found by an attack: the copy was replayed after the newer version
 * and put the old values back (crm_deals, `sales_pipeline.csv` re-exported).
 */
describe('dataset rebuild: the order of replay is when each content first landed', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform({ datasets: ['crm_products'] }));
  });
  afterAll(async () => platform?.close());

  const put = (file: string, text: string) => platform.lake.write('bronze', file, Readable.from([Buffer.from(text)]));
  const silver = async () =>
    (await platform.pool.query(`SELECT product, series, sales_price::text AS price FROM silver.crm_products ORDER BY product`)).rows.map((r) => `${r.product}|${r.series}|${r.price}`);

  it('a copy of an overwritten version replays where that version landed: silver and its values as before the rebuild', async () => {
    const v1 = 'product,series,sales_price\nP1,GTX,100\nP2,GTX,200\n';
    const v2 = 'product,series,sales_price\nP1,GTX,150\nP3,MG,300\n';
    await put('crm/products/products.csv', v1);
    expect((await ingestBronzeFile(platform, 'crm/products/products.csv')).ledger).toMatchObject({ rows_silver: 2 });
    await put('crm/products/copy-of-products.csv', v1); // the same bytes again: a re-delivery
    expect((await ingestBronzeFile(platform, 'crm/products/copy-of-products.csv')).ledger).toMatchObject({ rows_silver: 0, duplicates_cross_file: 2 });
    await put('crm/products/products.csv', v2); // the path's new version: P1 repriced, P3 new
    expect((await ingestBronzeFile(platform, 'crm/products/products.csv')).outcome).toBe('succeeded');
    const before = await silver();
    expect(before.find((r) => r.startsWith('P1|'))).toBe('P1|GTX|150.00');

    const r = await rebuildDataset(platform, platform.contracts.get('crm_products')!);
    // The copy (v1's bytes) first, where v1 landed; then the path's current version.
    expect(r.files.map((f) => f.path)).toEqual(['crm/products/copy-of-products.csv', 'crm/products/products.csv']);
    expect(await silver()).toEqual(before);
    // A second rebuild replays the same way.
    await rebuildDataset(platform, platform.contracts.get('crm_products')!);
    expect(await silver()).toEqual(before);
  });

  it('orders by the first landing of the content; on a tie the file that landed it first, then names; never-ingested files last', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const ledger = [
      { path: 'a.csv', etag: 'a2', status: 'succeeded', content_hash: 'h2', redelivery: false, finished_at: at(30) },
      { path: 'a.csv', etag: 'a1', status: 'succeeded', content_hash: 'h1', redelivery: false, finished_at: at(10) },
      { path: 'copy.csv', etag: 'c1', status: 'succeeded', content_hash: 'h1', redelivery: true, finished_at: at(20) },
      { path: 'b.csv', etag: 'b1', status: 'succeeded', content_hash: 'h3', redelivery: false, finished_at: at(25) },
      { path: 'b-again.csv', etag: 'x1', status: 'succeeded', content_hash: 'h3', redelivery: true, finished_at: at(40) },
      { path: 'f.csv', etag: 'f1', status: 'failed', content_hash: 'h9', redelivery: false, finished_at: at(5) },
      // Landed before content hashes were kept: ordered by its own landing.
      { path: 'old.csv', etag: 'o1', status: 'succeeded', content_hash: null, redelivery: false, finished_at: at(22) },
    ];
    const etags: Record<string, string> = { 'a.csv': 'a2', 'copy.csv': 'c1', 'b.csv': 'b1', 'b-again.csv': 'x1', 'f.csv': 'f1', 'old.csv': 'o1' };
    const files = ['z-new.csv', 'b-again.csv', 'a.csv', 'f.csv', 'copy.csv', 'old.csv', 'b.csv', 'a-new.csv'].map((p) => ({ path: p, etag: etags[p] ?? 'new' }));
    expect(replayOrder(files, ledger)).toEqual(['copy.csv', 'old.csv', 'b.csv', 'b-again.csv', 'a.csv', 'a-new.csv', 'f.csv', 'z-new.csv']);
  });
});
