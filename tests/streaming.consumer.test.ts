import { InvocationContext } from '@azure/functions';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customersFromEventHub } from '../functions/customersFromEventHub';
import { setPlatformForTests } from '../functions/support/platform';
import { readSmall } from '../shared/lake/lake';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import type { Platform } from '../shared/platform';
import { batchPath, bodyLine } from '../shared/streaming/bronzeBatch';
import { freshPlatform } from './support/platform';


interface Ev {
  body: unknown;
  seq: number;
  enqueued: string;
}

const logs: string[] = [];

/** The context the Functions host builds for an Event Hubs trigger with cardinality 'many' (camel-cased metadata). */
function context(partitionId: string, events: Ev[]): InvocationContext {
  return new InvocationContext({
    invocationId: `inv-${partitionId}-${events[0]?.seq}`,
    functionName: 'customersFromEventHub',
    triggerMetadata: {
      partitionContext: { consumerGroup: 'medallion', eventHubName: 'customers', fullyQualifiedNamespace: 'evhns-test.servicebus.windows.net', partitionId },
      sequenceNumberArray: events.map((e) => e.seq),
      enqueuedTimeUtcArray: events.map((e) => e.enqueued),
      offsetArray: events.map((e) => String(e.seq * 100)),
      partitionKeyArray: events.map(() => null),
      propertiesArray: events.map(() => ({})),
    },
    logHandler: (_level, ...args) => logs.push(args.join(' ')),
  });
}

const customer = (id: string, tenure: number, at: string, extra: Record<string, unknown> = {}) => ({
  customer_id: id,
  gender: 'Female',
  senior_citizen: 0,
  partner: 'Yes',
  dependents: 'No',
  tenure,
  phone_service: true,
  internet_service: 'DSL',
  contract: 'Month-to-month',
  monthly_charges: 20,
  total_charges: 20 * tenure,
  updated_at: at,
  first_name: 'Ana',
  last_name: 'Silva',
  email: `${id.toLowerCase()}@example.com`,
  ...extra,
});

async function bronzeFiles(p: Platform): Promise<{ path: string; etag: string }[]> {
  const out: { path: string; etag: string }[] = [];
  for await (const f of p.lake.list('bronze', 'customers/')) out.push({ path: f.path, etag: f.etag });
  return out;
}

async function linesOf(p: Platform, path: string): Promise<string[]> {
  const text = gunzipSync(await readSmall(await p.lake.read('bronze', path))).toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1).split('\n');
}

describe('customersFromEventHub (called as the Functions host would) → bronze; then bronze → silver → gold', () => {
  let platform: Platform;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    setPlatformForTests(platform);
  });
  afterAll(async () => {
    setPlatformForTests(undefined);
    await platform?.close();
  });

  // Partition 0: two batches. Partition 1: one batch. Enqueued 2024-05-03 07:59/08:00 UTC.
  const p0a: Ev[] = [
    { body: customer('C-1', 1, '2024-05-03T07:50:00Z'), seq: 0, enqueued: '2024-05-03T07:59:58.100Z' },
    { body: customer('C-2', 5, '2024-05-03T07:51:00Z'), seq: 1, enqueued: '2024-05-03T07:59:58.200Z' },
    // C-1's newer version in the same batch.
    { body: customer('C-1', 2, '2024-05-03T07:55:00Z'), seq: 2, enqueued: '2024-05-03T08:00:00.300Z' },
  ];
  const p0b: Ev[] = [
    // Out of order: an older C-1 version arrives after the newer one (must not overwrite it)...
    { body: JSON.stringify(customer('C-1', 9, '2024-05-03T07:52:00Z')), seq: 3, enqueued: '2024-05-03T08:01:00Z' },
    // ...a C-2 update 30 minutes behind the newest seen (C-4, partition 1): late, but the newest for C-2, so applied.
    { body: Buffer.from(JSON.stringify(customer('C-2', 6, '2024-05-03T07:53:00Z', { total_charges: null }))), seq: 4, enqueued: '2024-05-03T08:01:00Z' },
    { body: 'not json {', seq: 5, enqueued: '2024-05-03T08:01:01Z' },
  ];
  const p1: Ev[] = [
    { body: customer('C-3', 12, '2024-05-03T08:25:00Z'), seq: 41, enqueued: '2024-05-03T08:30:00Z' },
    { body: customer('C-4', 0, '2024-05-03T08:25:30Z', { total_charges: ' ' }), seq: 42, enqueued: '2024-05-03T08:30:00Z' },
  ];

  it('writes each batch as ONE gzip JSON-lines file named from the partition, ingestion hour and sequence range', async () => {
    await customersFromEventHub(p0a.map((e) => e.body), context('0', p0a));
    await customersFromEventHub(p1.map((e) => e.body), context('1', p1));
    await customersFromEventHub(p0b.map((e) => e.body), context('0', p0b));
    const files = (await bronzeFiles(platform)).map((f) => f.path).sort();
    expect(files).toEqual([
      'customers/ingest_date=2024-05-03/hour=07/p0-00000000000000000000-00000000000000000002.jsonl.gz',
      'customers/ingest_date=2024-05-03/hour=08/p0-00000000000000000003-00000000000000000005.jsonl.gz',
      'customers/ingest_date=2024-05-03/hour=08/p1-00000000000000000041-00000000000000000042.jsonl.gz',
    ]);
    // One line per event, in sequence order: objects as compact JSON, JSON text/bytes parsed, anything else as its raw text.
    expect(await linesOf(platform, files[0]!)).toEqual(p0a.map((e) => JSON.stringify(e.body)));
    expect(await linesOf(platform, files[1]!)).toEqual([
      JSON.stringify(customer('C-1', 9, '2024-05-03T07:52:00Z')),
      JSON.stringify(customer('C-2', 6, '2024-05-03T07:53:00Z', { total_charges: null })),
      'not json {',
    ]);
    expect(logs.some((l) => l.includes('p1-00000000000000000041-00000000000000000042.jsonl.gz: 2 event(s) from partition 1'))).toBe(true);
  });

  it('a redelivered batch overwrites its own file (same name, same bytes), it does not add a copy', async () => {
    const before = await bronzeFiles(platform);
    const path = batchPath({ partitionId: '0', events: p0a.map((e) => ({ body: e.body, sequenceNumber: e.seq, enqueuedTimeUtc: e.enqueued })) });
    const bytes = await readSmall(await platform.lake.read('bronze', path));
    await customersFromEventHub(p0a.map((e) => e.body), context('0', p0a));
    const after = await bronzeFiles(platform);
    expect(after.map((f) => f.path)).toEqual(before.map((f) => f.path));
    expect((await readSmall(await platform.lake.read('bronze', path))).equals(bytes)).toBe(true);
    // A new version of the blob all the same: the ledger will see a new ETag.
    expect(after.find((f) => f.path === path)!.etag).not.toBe(before.find((f) => f.path === path)!.etag);
  });

  it('refuses a batch without the trigger metadata it names files from', async () => {
    const ctx = new InvocationContext({ functionName: 'customersFromEventHub', triggerMetadata: { sequenceNumberArray: [1] } });
    await expect(customersFromEventHub([{}], ctx)).rejects.toThrow(/partitionContext\.partitionId/);
    const ctx2 = new InvocationContext({ functionName: 'customersFromEventHub', triggerMetadata: { partitionContext: { partitionId: '0' }, sequenceNumberArray: [1], enqueuedTimeUtcArray: [] } });
    await expect(customersFromEventHub([{}], ctx2)).rejects.toThrow(/one entry per event/);
  });

  it('bronze → silver → gold: latest wins per customer, the late update is applied, the redelivered batch is not counted twice', async () => {
    // In Azure the blob trigger does this for each file, partitions in parallel: here p0's first
    // batch, then p1's, then p0's second.
    const files = (await bronzeFiles(platform)).map((f) => f.path).sort();
    const reports = [];
    for (const f of [files[0]!, files[2]!, files[1]!]) reports.push(await ingestBronzeFile(platform, f));
    expect(reports.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const [a, c, b] = reports.map((r) => r.ledger!);
    // Newest seen before p0's second batch: 08:25:30 → watermark 08:15:30; its two valid records are late.
    expect(reports.map((r) => r.ledger!.warnings.late_records)).toEqual([0, 0, 2]);
    expect({ read: a!.rows_read, silver: a!.rows_silver, inFile: a!.duplicates_in_file }).toEqual({ read: 3, silver: 2, inFile: 1 });
    // C-1 older version superseded; C-2 late update applied; the non-JSON body quarantined as malformed.
    expect({ read: b!.rows_read, silver: b!.rows_silver, cross: b!.duplicates_cross_file, q: b!.quarantine_reasons }).toEqual({
      read: 3,
      silver: 1,
      cross: 1,
      q: { malformed_row: 1 },
    });
    expect({ read: c!.rows_read, silver: c!.rows_silver }).toEqual({ read: 2, silver: 2 });

    // The same batch delivered again (p0a was overwritten above, new ETag): processed, nothing new.
    const first = files[0]!;
    const redelivered = await ingestBronzeFile(platform, first);
    expect(redelivered.outcome).toBe('skipped'); // already ingested this version (the overwrite happened before the first ingest)
    await customersFromEventHub(p0a.map((e) => e.body), context('0', p0a));
    const again = await ingestBronzeFile(platform, first);
    expect(again.outcome).toBe('succeeded');
    // A re-delivery of content that already landed: every line (the malformed one too) a duplicate, nothing added.
    expect({ silver: again.ledger!.rows_silver, q: again.ledger!.rows_quarantined, dup: again.ledger!.duplicates_cross_file, of: again.ledger!.redelivery_of }).toEqual({
      silver: 0,
      q: 0,
      dup: 3,
      of: redelivered.ledger!.run_id,
    });

    const silver = await platform.pool.query(
      `SELECT customer_id, tenure, total_charges, total_charges_imputed, to_char(updated_at AT TIME ZONE 'UTC', 'HH24:MI') AS at FROM silver.customers ORDER BY customer_id`,
    );
    expect(silver.rows).toEqual([
      { customer_id: 'C-1', tenure: 2, total_charges: 40, total_charges_imputed: false, at: '07:55' },
      { customer_id: 'C-2', tenure: 6, total_charges: 120, total_charges_imputed: true, at: '07:53' },
      { customer_id: 'C-3', tenure: 12, total_charges: 240, total_charges_imputed: false, at: '08:25' },
      { customer_id: 'C-4', tenure: 0, total_charges: 0, total_charges_imputed: true, at: '08:25' },
    ]);
    const gold = await platform.pool.query(`SELECT customer_id, tenure, total_charges::text AS total, email FROM gold.customers ORDER BY customer_id`);
    expect(gold.rows).toEqual([
      { customer_id: 'C-1', tenure: 2, total: '40.00', email: 'c***@example.com' },
      { customer_id: 'C-2', tenure: 6, total: '120.00', email: 'c***@example.com' },
      { customer_id: 'C-3', tenure: 12, total: '240.00', email: 'c***@example.com' },
      { customer_id: 'C-4', tenure: 0, total: '0.00', email: 'c***@example.com' },
    ]);
    const summary = await platform.pool.query(`SELECT contract, tenure_band, customers::int, total_charges::text AS total FROM gold.customer_churn_summary ORDER BY 1, 2`);
    expect(summary.rows).toEqual([{ contract: 'Month-to-month', tenure_band: '0-12', customers: 4, total: '400.00' }]);
    expect((await platform.pool.query('SELECT count(*)::int AS n FROM silver.customers')).rows[0].n).toBe(4);
  });

  it('bodyLine keeps one record per line whatever the body', () => {
    expect(bodyLine({ a: 1, b: 'x\ny' })).toBe('{"a":1,"b":"x\\ny"}');
    expect(bodyLine(' {"a": 1}\n')).toBe('{"a":1}');
    expect(bodyLine(Buffer.from('\uFEFF{"a":2}'))).toBe('{"a":2}');
    expect(bodyLine('line one\nline two')).toBe('line one\\nline two');
    expect(bodyLine(undefined)).toBe('null');
  });

  it('batchPath: UTC hour of the lowest sequence number, whatever the event order or the time text', () => {
    const ev = (seq: number, t: string) => ({ body: {}, sequenceNumber: seq, enqueuedTimeUtc: t });
    expect(batchPath({ partitionId: '3', events: [ev(8, '2024-05-04T00:00:01Z'), ev(7, '2024-05-03T23:59:59.9')] })).toBe(
      'customers/ingest_date=2024-05-03/hour=23/p3-00000000000000000007-00000000000000000008.jsonl.gz',
    );
    expect(batchPath({ partitionId: '0', events: [ev(5, '2024-05-03T01:30:00+02:00')] })).toBe(
      'customers/ingest_date=2024-05-02/hour=23/p0-00000000000000000005-00000000000000000005.jsonl.gz',
    );
    expect(() => batchPath({ partitionId: '0', events: [ev(-1, '2024-05-03T00:00:00Z')] })).toThrow(/sequence number/);
  });
});
