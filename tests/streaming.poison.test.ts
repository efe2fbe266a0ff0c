import { InvocationContext, type RetryContext } from '@azure/functions';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { customersFromEventHub, EVENT_HUB_MAX_RETRIES } from '../functions/customersFromEventHub';
import '../functions/healthCheck';
import { setPlatformForTests } from '../functions/support/platform';
import { type Lake, readSmall, type Zone } from '../shared/lake/lake';
import type { Platform } from '../shared/platform';
import { bodyLine } from '../shared/streaming/bronzeBatch';
import { freshPlatform, wipeLake } from './support/platform';

// What the function modules register with the host (the package is in test mode here).
const registered = vi.hoisted(() => new Map<string, Record<string, unknown>>());
vi.mock('@azure/functions', async (importOriginal) => {
  const real = await importOriginal<typeof import('@azure/functions')>();
  const record = (name: string, options: Record<string, unknown>) => void registered.set(name, options);
  return { ...real, app: { ...real.app, eventHub: record, timer: record } };
});

interface Ev {
  body: unknown;
  seq: number;
  enqueued: string;
}

const logs: { level: string; text: string }[] = [];

function context(partitionId: string | undefined, events: Ev[], retryContext?: RetryContext, meta: Record<string, unknown> = {}): InvocationContext {
  return new InvocationContext({
    invocationId: `inv-${partitionId}-${events[0]?.seq}-${retryContext?.retryCount ?? 'x'}`,
    functionName: 'customersFromEventHub',
    triggerMetadata: {
      ...(partitionId === undefined ? {} : { partitionContext: { consumerGroup: 'medallion', eventHubName: 'customers', partitionId } }),
      sequenceNumberArray: events.map((e) => e.seq),
      enqueuedTimeUtcArray: events.map((e) => e.enqueued),
      ...meta,
    },
    retryContext,
    logHandler: (level, ...args) => logs.push({ level, text: args.join(' ') }),
  });
}

const retry = (retryCount: number, maxRetryCount = EVENT_HUB_MAX_RETRIES): RetryContext => ({ retryCount, maxRetryCount });

/** The platform's lake, with writes to one zone failing while `failing()` says so. */
function flakyLake(lake: Lake, zone: Zone, failing: () => boolean): Lake {
  return new Proxy(lake, {
    get(target, prop, receiver) {
      if (prop === 'write') {
        return async (...args: Parameters<Lake['write']>) => {
          if (args[0] === zone && failing()) throw Object.assign(new Error(`simulated: ${zone} unavailable (503)`), { statusCode: 503 });
          return target.write(...args);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function files(p: Platform, zone: Zone, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const f of p.lake.list(zone, prefix)) out.push(f.path);
  return out.sort();
}

async function read(p: Platform, zone: Zone, path: string): Promise<Buffer> {
  return readSmall(await p.lake.read(zone, path));
}

const events: Ev[] = [
  { body: { customer_id: 'C-1', tenure: 1 }, seq: 120, enqueued: '2024-05-03T07:59:58.100Z' },
  { body: 'not json {', seq: 121, enqueued: '2024-05-03T08:00:00.300Z' },
  { body: Buffer.from('{"customer_id":"C-2"}'), seq: 122, enqueued: '2024-05-03T08:00:01Z' },
];
const Q_BASE = '_batches/0/00000000000000000120-00000000000000000122';

describe('customersFromEventHub: bounded retries, poison batches to quarantine/_batches', () => {
  let platform: Platform;
  let bronzeDown = false;
  let quarantineDown = false;
  beforeAll(async () => {
    ({ platform } = await freshPlatform());
    const lake = flakyLake(flakyLake(platform.lake, 'bronze', () => bronzeDown), 'quarantine', () => quarantineDown);
    setPlatformForTests({ ...platform, lake });
  });
  afterAll(async () => {
    setPlatformForTests(undefined);
    await platform?.close();
  });
  beforeEach(async () => {
    await wipeLake();
    await platform.lake.ensureZones();
    logs.length = 0;
    bronzeDown = false;
    quarantineDown = false;
  });

  it('registers bounded exponential retries for the Event Hubs trigger, and the health-check timer on HEALTH_CHECK_SCHEDULE', () => {
    expect(registered.get('customersFromEventHub')).toMatchObject({
      cardinality: 'many',
      retry: { strategy: 'exponentialBackoff', maxRetryCount: 5, minimumInterval: { seconds: 5 }, maximumInterval: { minutes: 5 } },
    });
    expect(registered.get('healthCheck')).toMatchObject({ schedule: '%HEALTH_CHECK_SCHEDULE%' });
  });

  it('a lake write failing on attempts 0..4 throws (the host retries, no checkpoint); on the last the batch lands in quarantine/_batches and the function returns', async () => {
    bronzeDown = true;
    for (let n = 0; n < EVENT_HUB_MAX_RETRIES; n++) {
      await expect(customersFromEventHub(events.map((e) => e.body), context('0', events, retry(n)))).rejects.toThrow(/simulated: bronze unavailable/);
      expect(await files(platform, 'quarantine', '_batches/')).toEqual([]);
    }
    expect(logs.filter((l) => l.text.startsWith('medallion.stream_retry')).map((l) => JSON.parse(l.text.slice(l.text.indexOf('{'))).attempts)).toEqual([1, 2, 3, 4, 5]);

    // Last attempt (retryCount = maxRetryCount): resolves, so the checkpoint moves on.
    await expect(customersFromEventHub(events.map((e) => e.body), context('0', events, retry(EVENT_HUB_MAX_RETRIES)))).resolves.toBeUndefined();
    expect(await files(platform, 'bronze', '')).toEqual([]);
    expect(await files(platform, 'quarantine', '_batches/')).toEqual([`${Q_BASE}.error.json`, `${Q_BASE}.jsonl.gz`]);
    // The bodies as bronze would have had them: one JSON line per event, in order.
    const text = gunzipSync(await read(platform, 'quarantine', `${Q_BASE}.jsonl.gz`)).toString('utf8');
    expect(text).toBe(events.map((e) => bodyLine(e.body)).join('\n') + '\n');
    const manifest = JSON.parse((await read(platform, 'quarantine', `${Q_BASE}.error.json`)).toString('utf8'));
    expect(manifest).toMatchObject({
      reason: 'failed_after_retries',
      error: 'simulated: bronze unavailable (503)',
      attempts: 6,
      max_attempts: 6,
      partition: '0',
      first_sequence_number: '120',
      last_sequence_number: '122',
      events: 3,
      enqueued_first: '2024-05-03T07:59:58.100Z',
      enqueued_last: '2024-05-03T08:00:01.000Z',
      file: `quarantine/${Q_BASE}.jsonl.gz`,
    });
    const record = logs.find((l) => l.text.startsWith('medallion.stream_quarantine '))!;
    expect(record.level).toBe('error');
    expect(JSON.parse(record.text.slice(record.text.indexOf('{')))).toMatchObject({ reason: 'failed_after_retries', partition: '0', first_sequence_number: '120', last_sequence_number: '122', events: 3, attempts: 6 });
  });

  it('a write that recovers within the retries lands in bronze and nothing is quarantined', async () => {
    let calls = 0;
    bronzeDown = true;
    for (let n = 0; n <= EVENT_HUB_MAX_RETRIES; n++) {
      calls++;
      if (calls === 3) bronzeDown = false;
      const run = customersFromEventHub(events.map((e) => e.body), context('0', events, retry(n)));
      if (bronzeDown) await expect(run).rejects.toThrow(/simulated/);
      else {
        await run;
        break;
      }
    }
    expect(await files(platform, 'bronze', 'customers/')).toEqual(['customers/ingest_date=2024-05-03/hour=07/p0-00000000000000000120-00000000000000000122.jsonl.gz']);
    expect(await files(platform, 'quarantine', '')).toEqual([]);
  });

  it('a malformed batch (metadata not one entry per event) goes to quarantine at once under the host retry policy, with what the trigger handed over', async () => {
    const ctx = context('3', events, retry(0), { enqueuedTimeUtcArray: ['2024-05-03T08:00:00Z'] });
    await expect(customersFromEventHub(events.map((e) => e.body), ctx)).resolves.toBeUndefined();
    const base = '_batches/3/00000000000000000120-00000000000000000122';
    expect(await files(platform, 'quarantine', '_batches/')).toEqual([`${base}.error.json`, `${base}.jsonl.gz`]);
    const manifest = JSON.parse((await read(platform, 'quarantine', `${base}.error.json`)).toString('utf8'));
    expect(manifest).toMatchObject({
      reason: 'malformed_batch',
      attempts: 1,
      max_attempts: 6,
      partition: '3',
      first_sequence_number: '120',
      last_sequence_number: '122',
      events: 3,
      enqueued_first: '2024-05-03T08:00:00.000Z',
      sequence_numbers: ['120', '121', '122'],
      enqueued_times: ['2024-05-03T08:00:00Z'],
    });
    expect(manifest.error).toMatch(/one entry per event/);
    expect(await files(platform, 'bronze', '')).toEqual([]);
  });

  it('a malformed batch without partition or readable sequence numbers is named after the invocation', async () => {
    const bad = [{ body: { a: 1 }, seq: -1, enqueued: 'yesterday' }];
    const ctx = context(undefined, bad, retry(2));
    await customersFromEventHub(bad.map((e) => e.body), ctx);
    const listed = await files(platform, 'quarantine', '_batches/');
    expect(listed).toEqual([`_batches/_unknown/unknown-${ctx.invocationId}.error.json`, `_batches/_unknown/unknown-${ctx.invocationId}.jsonl.gz`]);
    const manifest = JSON.parse((await read(platform, 'quarantine', listed[0]!)).toString('utf8'));
    expect(manifest).toMatchObject({ reason: 'malformed_batch', partition: null, first_sequence_number: null, attempts: 3, events: 1, sequence_numbers: ['-1'] });
    expect(manifest.error).toMatch(/partitionContext\.partitionId/);
  });

  it('without a retry context (a direct call) a malformed batch still throws; an unbounded policy never quarantines', async () => {
    await expect(customersFromEventHub([{}], context(undefined, [{ body: {}, seq: 1, enqueued: '2024-05-03T08:00:00Z' }]))).rejects.toThrow(/partitionId/);
    bronzeDown = true;
    await expect(customersFromEventHub(events.map((e) => e.body), context('0', events, retry(99, -1)))).rejects.toThrow(/simulated/);
    expect(await files(platform, 'quarantine', '')).toEqual([]);
  });

  it('when quarantine cannot be written either, the last attempt throws and says which batch was lost', async () => {
    bronzeDown = true;
    quarantineDown = true;
    await expect(customersFromEventHub(events.map((e) => e.body), context('0', events, retry(EVENT_HUB_MAX_RETRIES)))).rejects.toThrow(/simulated: bronze/);
    const lost = logs.find((l) => l.text.startsWith('medallion.stream_quarantine_failed'))!;
    expect(JSON.parse(lost.text.slice(lost.text.indexOf('{')))).toMatchObject({ reason: 'failed_after_retries', attempts: 6, partition: '0', first_sequence_number: '120', last_sequence_number: '122', events: 3, quarantine_error: 'simulated: quarantine unavailable (503)' });
  });
});
