import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHealthChecks } from '../shared/ops/health';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { freshPlatform } from './support/platform';

/**
 * Issue 11 point 5: duplicate business keys in core must be 0, and the health checks say so. A
 * core table's primary key makes duplicates impossible while it exists; the check remembers the
 * key and still counts duplicates once it was dropped (as for gold).
 */
describe('health: duplicate business keys in the core star schema', () => {
  let platform: Platform;
  const groups = [
    { id: 360001, name: 'Support', updated_at: '2025-06-01T10:00:00Z', deleted: false },
    { id: 360002, name: 'Billing', updated_at: '2025-06-01T10:05:00Z', deleted: false },
    { id: 360001, name: 'Support EMEA', updated_at: '2025-06-01T11:00:00Z', deleted: false },
  ];

  beforeAll(async () => {
    ({ platform } = await freshPlatform({ datasets: ['zendesk_groups'] }));
    const path = 'zendesk/scope=acme/entity=groups/ingestion_date=2025-06-01/run_id=20250601T120000000Z/part-00000.jsonl.gz';
    await platform.lake.write('bronze', path, Readable.from([gzipSync(groups.map((g) => JSON.stringify(g)).join('\n') + '\n')]));
    const r = await ingestBronzeFile(platform, path);
    expect(r.outcome, r.message).toBe('succeeded');
  });

  afterAll(async () => {
    await platform?.close();
  });

  const coreDuplicates = async () => (await runHealthChecks(platform)).results.filter((x) => x.check === 'duplicate_keys' && x.target === 'core.zd_groups');

  it('core.zd_groups holds the latest version of each group once, and the check passes with 0', async () => {
    const rows = await platform.pool.query<{ group_id: string; name: string }>(`SELECT group_id::text, name FROM core.zd_groups ORDER BY group_id`);
    expect(rows.rows).toEqual([
      { group_id: '360001', name: 'Support EMEA' },
      { group_id: '360002', name: 'Billing' },
    ]);
    const [r] = await coreDuplicates();
    expect({ status: r!.status, value: r!.value, threshold: r!.threshold, dataset: r!.dataset, message: r!.message }).toEqual({
      status: 'pass',
      value: 0,
      threshold: 0,
      dataset: 'zendesk_groups',
      message: 'no duplicate (scope, group_id)',
    });
  });

  it('a duplicate business key (the primary key dropped since the last check) fails the check with its count', async () => {
    await coreDuplicates(); // the check remembers the key
    await platform.pool.query(`ALTER TABLE core.zd_groups DROP CONSTRAINT zd_groups_pkey`);
    await platform.pool.query(`INSERT INTO core.zd_groups SELECT * FROM core.zd_groups WHERE group_id = 360002`);
    try {
      const [r] = await coreDuplicates();
      expect({ status: r!.status, value: r!.value, message: r!.message }).toEqual({
        status: 'fail',
        value: 1,
        message: '1 value(s) of (scope, group_id) on more than one row (2 rows) (its primary key (scope, group_id) has been dropped)',
      });
    } finally {
      await platform.pool.query(`DELETE FROM core.zd_groups a USING core.zd_groups b WHERE a.group_id = b.group_id AND a.ctid > b.ctid`);
      await platform.pool.query(`ALTER TABLE core.zd_groups ADD PRIMARY KEY (scope, group_id)`);
    }
    const [after] = await coreDuplicates();
    expect(after!.status).toBe('pass');
  });
});
