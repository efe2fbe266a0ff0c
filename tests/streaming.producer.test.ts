import type { EventData } from '@azure/event-hubs';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runProduce } from '../shared/cli/commands/produce';
import type { CliContext } from '../shared/cli/context';
import { silentLogger } from '../shared/log';
import { generateCustomerStream } from '../shared/streaming/generator';
import { partitionForKey, partitionIndexForKey } from '../shared/streaming/partitionKey';
import { type BatchLike, isTransientError, produceToEventHubs, type ProducerClientLike, withRetry } from '../shared/streaming/producer';
import { type CustomerRecord, readTelcoProfiles } from '../shared/streaming/records';
import { HAVE_DATASETS, TELCO } from './support/platform';

/** Size of an event in the fake batch: its JSON body plus a fixed per-event overhead. */
const OVERHEAD = 40;
const sizeOf = (e: EventData) => Buffer.byteLength(JSON.stringify(e.body)) + OVERHEAD;

class FakeBatch implements BatchLike {
  events: EventData[] = [];
  sizeInBytes = 0;
  constructor(
    readonly partitionId: string,
    readonly maxSizeInBytes: number,
  ) {}
  get count(): number {
    return this.events.length;
  }
  tryAdd(event: EventData): boolean {
    const size = sizeOf(event);
    if (this.sizeInBytes + size > this.maxSizeInBytes) return false;
    this.events.push(event);
    this.sizeInBytes += size;
    return true;
  }
}

/** An Event Hubs producer client that keeps what it was sent and fails when told to. */
class FakeClient implements ProducerClientLike {
  sent: FakeBatch[] = [];
  attempts = 0;
  closed = false;
  /** Errors thrown by the next sendBatch calls (one per call, in order). */
  failures: unknown[] = [];
  constructor(
    readonly partitions = ['0', '1', '2', '3'],
    readonly maxSizeInBytes = 4096,
  ) {}
  async getPartitionIds(): Promise<string[]> {
    return this.partitions;
  }
  async createBatch(options: { partitionId: string }): Promise<BatchLike> {
    return new FakeBatch(options.partitionId, this.maxSizeInBytes);
  }
  async sendBatch(batch: BatchLike): Promise<void> {
    this.attempts++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.sent.push(batch as FakeBatch);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const transient = () => Object.assign(new Error('The service was unable to process the request; please retry the operation.'), { name: 'MessagingError', code: 'ServiceUnavailableError', retryable: true });
const noSleep = async () => undefined;

function stream(count: number, seed = 3): CustomerRecord[] {
  return generateCustomerStream({ count, updates: 0.4, seed, start: new Date('2024-05-03T00:00:00Z') }).records;
}

describe('producer → Event Hubs (injected client)', () => {
  it('fills EventDataBatches per partition up to their size limit and sends every record exactly once', async () => {
    const records = stream(600);
    const client = new FakeClient();
    const res = await produceToEventHubs(client, records, { retry: { sleep: noSleep } });
    expect(res).toMatchObject({ sent: 600, retries: 0, aborted: false });
    expect(client.closed).toBe(true);
    const sentEvents = client.sent.flatMap((b) => b.events);
    expect(sentEvents).toHaveLength(600);
    expect(res.batches).toBe(client.sent.length);
    // Sizing: no batch over the limit; a batch was sent only when the next event of its partition did not fit (or at the end).
    const byPartition = new Map<string, FakeBatch[]>();
    for (const b of client.sent) byPartition.set(b.partitionId, [...(byPartition.get(b.partitionId) ?? []), b]);
    for (const batches of byPartition.values()) {
      batches.forEach((b, i) => {
        expect(b.sizeInBytes).toBeLessThanOrEqual(4096);
        const next = batches[i + 1]?.events[0];
        if (next) expect(b.sizeInBytes + sizeOf(next)).toBeGreaterThan(4096);
      });
    }
    // Far fewer batches than events (a batch per partition key would mean about one per customer).
    expect(client.sent.length).toBeLessThan(100);
    expect(Object.values(res.byPartition).reduce((a, b) => a + b, 0)).toBe(600);
  });

  it('partition key customer_id: every version of a customer goes to the partition the hub hashes its key to, in send order', async () => {
    const records = stream(400);
    const client = new FakeClient();
    await produceToEventHubs(client, records, { retry: { sleep: noSleep } });
    const seen = new Map<string, string[]>();
    for (const b of client.sent) {
      for (const e of b.events) {
        const rec = e.body as CustomerRecord;
        expect(e.properties).toEqual({ customer_id: rec.customer_id });
        expect(e.messageId).toBe(`${rec.customer_id}@${rec.updated_at}`);
        expect(b.partitionId).toBe(partitionForKey(rec.customer_id, client.partitions));
        seen.set(rec.customer_id, [...(seen.get(rec.customer_id) ?? []), rec.updated_at]);
      }
    }
    // Per customer, the partition holds its versions in the order they were produced.
    for (const [id, times] of seen) expect(times).toEqual(records.filter((r) => r.customer_id === id).map((r) => r.updated_at));
    // Several partitions used.
    expect(new Set(client.sent.map((b) => b.partitionId)).size).toBe(4);
  });

  it('the client-side hash is the one the Event Hubs SDK (and service) uses for partition keys', () => {
    const req = createRequire(__filename);
    const sdk = req(path.join(path.dirname(req.resolve('@azure/event-hubs')), 'impl', 'partitionKeyToIdMapper.js')) as {
      mapPartitionKeyToId: (key: string, n: number) => number;
    };
    const keys = [...stream(300).map((r) => r.customer_id), '', 'a', 'ab', 'abcd', 'abcdefghijkl', 'abcdefghijklm', 'clé-ünicode-顧客'];
    for (const key of keys) for (const n of [1, 2, 3, 4, 32]) expect(partitionIndexForKey(key, n)).toBe(sdk.mapPartitionKeyToId(key, n));
  });

  it('retries a transient send failure with back-off and delivers each record once; a permanent failure stops and still closes', async () => {
    const records = stream(300);
    const client = new FakeClient();
    client.failures = [undefined, transient(), transient()];
    const waits: number[] = [];
    const res = await produceToEventHubs(client, records, { retry: { sleep: async (ms) => void waits.push(ms), baseDelayMs: 100 } });
    expect(res.sent).toBe(300);
    expect(res.retries).toBe(2);
    expect(client.attempts).toBe(client.sent.length + 2);
    expect(waits).toHaveLength(2);
    expect(waits[0]!).toBeGreaterThanOrEqual(80);
    expect(waits[1]!).toBeGreaterThanOrEqual(160); // doubled
    const ids = client.sent.flatMap((b) => b.events.map((e) => e.messageId));
    expect(new Set(ids).size).toBe(300);

    const broken = new FakeClient();
    broken.failures = [Object.assign(new Error('Unauthorized'), { name: 'MessagingError', code: 'UnauthorizedError', retryable: false })];
    await expect(produceToEventHubs(broken, records, { retry: { sleep: noSleep } })).rejects.toThrow('Unauthorized');
    expect(broken.attempts).toBe(1);
    expect(broken.closed).toBe(true);

    // Retries are bounded.
    let calls = 0;
    await expect(withRetry(async () => ((calls += 1), Promise.reject(transient())), { maxRetries: 3, sleep: noSleep })).rejects.toThrow(/unable to process/);
    expect(calls).toBe(4);
    expect(isTransientError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isTransientError(new TypeError('bug'))).toBe(false);
  });

  it('Ctrl-C: stops taking records, sends what is batched, closes the client', async () => {
    const records = stream(500);
    const client = new FakeClient();
    const controller = new AbortController();
    let taken = 0;
    function* source(): Generator<CustomerRecord> {
      for (const r of records) {
        if (taken === 123) controller.abort();
        taken++;
        yield r;
      }
    }
    const res = await produceToEventHubs(client, source(), { signal: controller.signal, retry: { sleep: noSleep } });
    expect(res.aborted).toBe(true);
    expect(res.sent).toBe(123);
    expect(client.sent.flatMap((b) => b.events)).toHaveLength(123);
    expect(client.closed).toBe(true);
  });

  it('--rate: records are paced, and a partly filled batch goes out once it has waited maxWaitMs', async () => {
    const records = stream(30);
    const client = new FakeClient(['0'], 1_000_000);
    let now = 0;
    const slept: number[] = [];
    const res = await produceToEventHubs(client, records, {
      rate: 10,
      maxWaitMs: 1000,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += Math.max(0, ms);
      },
    });
    expect(res.sent).toBe(30);
    // 30 records at 10/s: the last is due 2.9 s after the first.
    expect(now).toBe(2900);
    // A batch goes out once it has waited a second: records at t=0..1.0 s, then 1.1..2.1 s, then the rest at the end.
    expect(client.sent.map((b) => b.count)).toEqual([11, 11, 8]);
  });
});

describe('generated customer stream', () => {
  it('is deterministic per seed, with the asked share of updates, out-of-order versions and missing total_charges', () => {
    const a = generateCustomerStream({ count: 2000, updates: 0.3, seed: 11, start: new Date('2024-05-03T00:00:00Z') });
    const b = generateCustomerStream({ count: 2000, updates: 0.3, seed: 11, start: new Date('2024-05-03T00:00:00Z') });
    expect(a).toEqual(b);
    expect(a.records).toHaveLength(2000);
    expect(a.summary.updates / 2000).toBeGreaterThan(0.25);
    expect(a.summary.updates / 2000).toBeLessThan(0.35);
    expect(a.summary.newCustomers + a.summary.updates).toBe(2000);
    expect(new Set(a.records.map((r) => r.customer_id)).size).toBe(a.summary.newCustomers);
    // Out of order: versions sent after a newer version of the same customer, and records behind the newest sent by > 10 min.
    let older = 0;
    let lateBy10 = 0;
    let newest = 0;
    const latest = new Map<string, number>();
    for (const r of a.records) {
      const t = Date.parse(r.updated_at);
      if ((latest.get(r.customer_id) ?? -Infinity) > t) older++;
      latest.set(r.customer_id, Math.max(t, latest.get(r.customer_id) ?? -Infinity));
      if (t < newest - 10 * 60_000) lateBy10++;
      newest = Math.max(newest, t);
    }
    expect(older).toBeGreaterThan(0);
    expect(lateBy10).toBeGreaterThan(0);
    const missing = a.records.filter((r) => r.total_charges === null || !('total_charges' in r)).length;
    expect(missing).toBe(a.summary.missingTotal);
    expect(missing).toBeGreaterThan(100);
    // Booleans in every spelling the contract normalises.
    expect(new Set(a.records.map((r) => typeof r.partner))).toEqual(new Set(['string', 'boolean', 'number']));
  });

  it.runIf(HAVE_DATASETS)('--from the Telco CSV: its 7,043 customers (11 without TotalCharges) come first, in file order', async () => {
    const base = await readTelcoProfiles(TELCO);
    expect(base).toHaveLength(7043);
    expect(base.filter((p) => p.total_charges === undefined)).toHaveLength(11);
    expect(base[0]).toMatchObject({ customer_id: '7590-VHVEG', senior_citizen: 0, partner: 'Yes', tenure: 1, monthly_charges: 29.85, total_charges: 29.85 });
    const { records } = generateCustomerStream({ count: 100, updates: 0, base, seed: 1 });
    expect(records.map((r) => r.customer_id)).toEqual(base.slice(0, 100).map((p) => p.customer_id));
  });
});

describe('medallion produce customers (CLI) with an injected Event Hubs client', () => {
  function ctx(env: Record<string, string>) {
    const out: string[] = [];
    const err: string[] = [];
    const c: CliContext = { env, out: (l) => out.push(l), err: (l) => err.push(l), log: silentLogger };
    return { c, out, err };
  }
  const env = { EventHubConnection: 'Endpoint=sb://fake.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=x', EVENTHUB_NAME: 'customers' };

  it('sends --count records with --updates to the configured hub', async () => {
    const client = new FakeClient();
    const { c, out } = ctx(env);
    const code = await runProduce(['customers', '--count', '250', '--updates', '0.3', '--seed', '9'], c, { createClient: () => client });
    expect(code).toBe(0);
    expect(client.sent.flatMap((b) => b.events)).toHaveLength(250);
    expect(out.join('\n')).toMatch(/sent 250 record\(s\) to event hub 'customers'/);
  });

  it('Ctrl-C (SIGINT) stops the stream cleanly: what is batched is sent, the client closed, exit 0', async () => {
    const signals = new EventEmitter();
    const client = new FakeClient();
    const origSend = client.sendBatch.bind(client);
    client.sendBatch = async (b) => {
      await origSend(b);
      if (client.sent.length === 2) signals.emit('SIGINT');
    };
    const { c, out, err } = ctx(env);
    // --rate makes the producer wait between records, so the signal lands mid-stream.
    const code = await runProduce(['customers', '--count', '20000', '--rate', '1000000/s', '--seed', '9'], c, { createClient: () => client, signals });
    expect(code).toBe(0);
    expect(client.closed).toBe(true);
    const sent = client.sent.flatMap((b) => b.events).length;
    expect(sent).toBeLessThan(20000);
    expect(out.join('\n')).toMatch(new RegExp(`sent ${sent} record\\(s\\).*stopped by Ctrl-C`));
    expect(err.join('\n')).toMatch(/stopping: sending what is already batched/);
    expect(signals.listenerCount('SIGINT')).toBe(0);
  });

  it('--to eventhubs without a configured namespace is a usage error', async () => {
    const { c } = ctx({});
    await expect(runProduce(['customers', '--count', '5', '--to', 'eventhubs'], c)).rejects.toThrow(/no Event Hubs configured/);
  });
});
