import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobServiceClient, StorageSharedKeyCredential as BlobKey } from '@azure/storage-blob';
import { DataLakeServiceClient, StorageSharedKeyCredential as DfsKey } from '@azure/storage-file-datalake';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AdlsLake } from '../shared/lake/adlsLake';
import { BlobLake } from '../shared/lake/blobLake';
import { type Lake, readSmall, type Zone } from '../shared/lake/lake';
import {
  ACCOUNT,
  ACCOUNT_KEY,
  bronzeSubscriptionFilter,
  type Operation,
  passesFilter,
  type RecordedRequest,
  StorageRecorder,
} from './support/storageRecorder';

/**
 * The lake adapters at the wire: every write into bronze must raise exactly one BlobCreated that
 * the bronze Event Grid subscription (infra/app/eventgrid-subscription.bicep) delivers, for the
 * final path, and nothing for any temporary path. The recorder derives the events Azure raises per
 * request from the Blob storage events schema; see tests/support/storageRecorder.ts.
 */

const CHUNK = 64 * 1024;
const filter = bronzeSubscriptionFilter();
const subjectOf = (zone: Zone, p: string) => `/blobServices/default/containers/${zone}/blobs/${p}`;
const WRITE_OPS: Operation[] = ['CreateFile', 'CreateDirectory', 'RenameFile', 'AppendData', 'FlushData', 'PutBlock', 'PutBlockList', 'PutBlob', 'CopyBlob', 'DeleteFile', 'DeleteBlob'];

function dfsService(rec: StorageRecorder): DataLakeServiceClient {
  return new DataLakeServiceClient(rec.url, new DfsKey(ACCOUNT, ACCOUNT_KEY), { retryOptions: { maxTries: 1 } });
}

function blobService(rec: StorageRecorder): BlobServiceClient {
  return new BlobServiceClient(rec.url, new BlobKey(ACCOUNT, ACCOUNT_KEY), { retryOptions: { maxTries: 1 } });
}

const ADAPTERS = [
  { name: 'AdlsLake', make: (rec: StorageRecorder): Lake => new AdlsLake(dfsService(rec), { chunkSize: CHUNK, concurrency: 3 }) },
  { name: 'BlobLake', make: (rec: StorageRecorder): Lake => new BlobLake(blobService(rec), { blockSize: CHUNK, concurrency: 3, maxSingleShotSize: CHUNK }) },
] as const;

/** Deterministic bytes that show a missing, duplicated or reordered chunk. */
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

/** A stream of small pieces, so the adapters have to re-chunk it. */
function streamOf(data: Buffer, piece = 10_000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += piece) parts.push(data.subarray(i, i + piece));
  return Readable.from(parts);
}

async function listed(lake: Lake, zone: Zone, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const f of lake.list(zone, prefix)) out.push(f.path);
  return out;
}

function writes(rec: StorageRecorder): RecordedRequest[] {
  return rec.requests.filter((r) => WRITE_OPS.includes(r.op));
}

let tmp: string;
let rec: StorageRecorder;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'lake-wire-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeEach(async () => {
  rec = await new StorageRecorder().start();
});
afterEach(async () => {
  await rec.close();
});

describe('the bronze subscription filter (read from the bicep)', () => {
  it('delivers complete-file BlobCreated events of the bronze container only', () => {
    expect(filter.includedEventTypes).toEqual(['Microsoft.Storage.BlobCreated']);
    expect(filter.subjectBeginsWith).toBe('/blobServices/default/containers/bronze/');
    expect(filter.apiIn).toEqual(expect.arrayContaining(['PutBlob', 'PutBlockList', 'FlushWithClose']));
    expect(filter.apiIn).not.toContain('CreateFile');
  });

  it('shows the bug: the SDK upload without close plus a rename raises nothing the subscription delivers', async () => {
    const fs = dfsService(rec).getFileSystemClient('bronze');
    await fs.createIfNotExists();
    const temp = fs.getFileClient('sales/_tmp_1_orders.csv');
    await temp.uploadStream(streamOf(bytes(1000)));
    await temp.move('sales/orders.csv');
    const flush = rec.requests.filter((r) => r.op === 'FlushData');
    expect(flush).toHaveLength(1);
    expect(flush[0]!.query.close).toBeUndefined();
    expect(rec.events.map((e) => `${e.eventType} ${e.data.api}`)).toEqual(['Microsoft.Storage.BlobCreated CreateFile', 'Microsoft.Storage.BlobRenamed RenameFile']);
    expect(rec.events.filter((e) => passesFilter(e, filter))).toEqual([]);
  });
});

describe.each(ADAPTERS)('$name writing into bronze', ({ name, make }) => {
  const target = 'sales/orders.csv';
  const source = 'landing/orders-source.csv';

  // blob: how BlobLake commits — staged blocks + Put Block List (streams, large files) or one Put Blob.
  const ENTRY_POINTS: { label: string; size: number; blob: 'blocks' | 'single'; run: (lake: Lake, data: Buffer) => Promise<unknown> }[] = [
    { label: 'write (stream)', size: 5_000, blob: 'blocks', run: (lake, data) => lake.write('bronze', target, streamOf(data), { contentType: 'text/csv', metadata: { records: '7' } }) },
    { label: 'writeFile (local file)', size: 5_000, blob: 'single', run: (lake, data) => lake.writeFile('bronze', target, localFile(data), { contentType: 'text/csv' }) },
    { label: 'write (large: several appends / blocks)', size: 5 * CHUNK + 1234, blob: 'blocks', run: (lake, data) => lake.write('bronze', target, streamOf(data)) },
    { label: 'writeFile (large: several appends / blocks)', size: 4 * CHUNK + 17, blob: 'blocks', run: (lake, data) => lake.writeFile('bronze', target, localFile(data)) },
    { label: 'write (empty file)', size: 0, blob: 'blocks', run: (lake) => lake.write('bronze', target, Readable.from([])) },
    { label: 'writeFile (empty file)', size: 0, blob: 'single', run: (lake, data) => lake.writeFile('bronze', target, localFile(data)) },
    {
      label: 'copy',
      size: 3 * CHUNK + 99,
      blob: 'blocks',
      run: async (lake, data) => {
        await lake.write('bronze', source, streamOf(data));
        rec.clearLog();
        await lake.copy({ zone: 'bronze', path: source }, { zone: 'bronze', path: target });
      },
    },
  ];

  function localFile(data: Buffer): string {
    const file = path.join(tmp, `${name}-${data.length}-${Math.random().toString(36).slice(2)}.csv`);
    writeFileSync(file, data);
    return file;
  }

  it.each(ENTRY_POINTS)('$label: exactly one delivered BlobCreated, for the final path; complete content; no temporary path', async ({ label, size, blob, run }) => {
    const lake = make(rec);
    await lake.ensureZones();
    rec.clearLog();
    const data = bytes(size);
    await run(lake, data);

    const delivered = rec.events.filter((e) => passesFilter(e, filter));
    expect(delivered, label).toHaveLength(1);
    expect(delivered[0]!.subject).toBe(subjectOf('bronze', target));
    expect(delivered[0]!.data.contentLength).toBe(size);
    // Every event of the write is about the final path: nothing was ever written elsewhere.
    expect(rec.events.every((e) => e.subject === subjectOf('bronze', target))).toBe(true);
    expect(new Set(writes(rec).map((r) => `${r.container}/${r.path}`))).toEqual(new Set([`bronze/${target}`]));

    expect((await readSmall(await lake.read('bronze', target))).equals(data)).toBe(true);
    expect((await lake.stat('bronze', target))?.size).toBe(size);
    const expected = label === 'copy' ? [source, target].sort() : [target];
    expect(await listed(lake, 'bronze')).toEqual(expected);
    expect(rec.visiblePaths('bronze')).toEqual(expected);

    const sequence = writes(rec);
    if (name === 'AdlsLake') {
      // Path Create → append × n (contiguous positions) → one flush(position=size, close=true), last.
      expect(sequence[0]!.op).toBe('CreateFile');
      expect(sequence.at(-1)!.op).toBe('FlushData');
      expect(sequence.at(-1)!.query).toMatchObject({ close: 'true', position: String(size) });
      expect(sequence.filter((r) => r.op === 'FlushData')).toHaveLength(1);
      const appends = sequence.slice(1, -1);
      expect(appends.every((r) => r.op === 'AppendData')).toBe(true);
      expect(appends).toHaveLength(Math.ceil(size / CHUNK));
      const positions = appends.map((r) => [Number(r.query.position), r.bodyBytes] as const).sort((a, b) => a[0] - b[0]);
      let at = 0;
      for (const [position, length] of positions) {
        expect(position).toBe(at);
        at += length;
      }
      expect(at).toBe(size);
      expect(delivered[0]!.data.api).toBe('FlushWithClose');
    } else {
      const commit = sequence.at(-1)!;
      expect(['PutBlob', 'PutBlockList']).toContain(commit.op);
      expect(sequence.slice(0, -1).every((r) => r.op === 'PutBlock')).toBe(true);
      expect(delivered[0]!.data.api).toBe(commit.op);
      if (blob === 'blocks') {
        expect(commit.op).toBe('PutBlockList');
        expect(sequence.length - 1).toBe(Math.ceil(size / CHUNK));
      } else {
        expect(sequence.map((r) => r.op)).toEqual(['PutBlob']);
      }
    }
  });

  it('stores content type and metadata with the file', async () => {
    const lake = make(rec);
    await lake.ensureZones();
    await lake.write('bronze', target, streamOf(bytes(100)), { contentType: 'application/x-ndjson', metadata: { records: '3' } });
    const props =
      name === 'AdlsLake'
        ? await dfsService(rec).getFileSystemClient('bronze').getFileClient(target).getProperties()
        : await blobService(rec).getContainerClient('bronze').getBlobClient(target).getProperties();
    expect(props.contentType).toBe('application/x-ndjson');
    expect(props.metadata).toEqual({ records: '3' });
  });

  const COMMIT: Operation = name === 'AdlsLake' ? 'FlushData' : 'PutBlockList';
  it(`a failed upload (500 on ${COMMIT}) leaves no visible file and raises no delivered event`, async () => {
    const lake = make(rec);
    await lake.ensureZones();
    rec.clearLog();
    rec.fail({ op: COMMIT, status: 500 });
    await expect(lake.write('bronze', target, streamOf(bytes(3 * CHUNK)))).rejects.toMatchObject({ statusCode: 500 });
    expect(await lake.stat('bronze', target)).toBeUndefined();
    expect(await listed(lake, 'bronze')).toEqual([]);
    expect(rec.visiblePaths('bronze')).toEqual([]);
    expect(rec.events.filter((e) => passesFilter(e, filter))).toEqual([]);
    expect(rec.events.some((e) => e.data.api === 'FlushWithClose' || e.data.api === 'PutBlockList' || e.data.api === 'PutBlob')).toBe(false);
    if (name === 'AdlsLake') {
      // Path Create's empty file (BlobCreated CreateFile, filtered out) is deleted again (BlobDeleted, not subscribed).
      expect(rec.events.map((e) => `${e.eventType} ${e.data.api}`)).toEqual(['Microsoft.Storage.BlobCreated CreateFile', 'Microsoft.Storage.BlobDeleted DeleteFile']);
    } else {
      expect(rec.events).toEqual([]);
    }
  });

  it('a failed upload from a local file (500 on the commit) leaves nothing and raises no delivered event', async () => {
    const lake = make(rec);
    await lake.ensureZones();
    rec.clearLog();
    rec.fail({ op: name === 'AdlsLake' ? 'FlushData' : 'PutBlob', status: 500 });
    await expect(lake.writeFile('bronze', target, localFile(bytes(1000)))).rejects.toMatchObject({ statusCode: 500 });
    expect(await listed(lake, 'bronze')).toEqual([]);
    expect(rec.events.filter((e) => passesFilter(e, filter))).toEqual([]);
  });

  it('a source stream that fails midway leaves nothing and raises no delivered event', async () => {
    const lake = make(rec);
    await lake.ensureZones();
    rec.clearLog();
    const broken = Readable.from(
      (async function* () {
        yield bytes(CHUNK + 10);
        throw new Error('producer died');
      })(),
    );
    await expect(lake.write('bronze', target, broken)).rejects.toThrow('producer died');
    expect(await listed(lake, 'bronze')).toEqual([]);
    expect(rec.events.filter((e) => passesFilter(e, filter))).toEqual([]);
  });

  it('list() never shows temporary files (the `_tmp/` folder)', async () => {
    const lake = make(rec);
    await lake.ensureZones();
    rec.seed('bronze', '_tmp/0b7c-orders.csv', bytes(10));
    rec.seed('silver', '_tmp/0b7c-part.parquet', bytes(10));
    await lake.write('bronze', target, streamOf(bytes(10)));
    await lake.write('silver', 'sales/part.parquet', streamOf(bytes(10)));
    expect(await listed(lake, 'bronze')).toEqual([target]);
    expect(await listed(lake, 'silver')).toEqual(['sales/part.parquet']);
    expect(await listed(lake, 'silver', 'sales/')).toEqual(['sales/part.parquet']);
  });
});

describe('AdlsLake outside the watched zones (silver, gold, quarantine)', () => {
  it('stages in _tmp/, flushes without close and renames over the target: atomic replace, no complete-file event', async () => {
    const lake = new AdlsLake(dfsService(rec), { chunkSize: CHUNK });
    await lake.ensureZones();
    const target = 'sales/part-0.parquet';
    await lake.write('silver', target, streamOf(bytes(100)));
    rec.clearLog();
    const data = bytes(2 * CHUNK + 5);
    await lake.write('silver', target, streamOf(data));

    const ops = writes(rec);
    const temp = ops[0]!.path;
    expect(temp).toMatch(/^_tmp\/[0-9a-f-]{36}-part-0\.parquet$/);
    expect(ops.map((r) => r.op)).toEqual(['CreateFile', 'AppendData', 'AppendData', 'AppendData', 'FlushData', 'CreateDirectory', 'RenameFile']);
    expect(ops.find((r) => r.op === 'FlushData')!.query.close).toBe('false');
    expect(ops.at(-1)!.headers['x-ms-rename-source']).toContain(`/silver/${temp}`);
    expect(rec.events.some((e) => e.data.api === 'FlushWithClose')).toBe(false);
    expect(rec.events.filter((e) => e.eventType === 'Microsoft.Storage.BlobRenamed').map((e) => e.subject)).toEqual([subjectOf('silver', target)]);
    expect(rec.content('silver', target)!.equals(data)).toBe(true);
    expect(rec.visiblePaths('silver')).toEqual([target]);
    expect(await listed(lake, 'silver')).toEqual([target]);
  });

  it('a failed staged write deletes its temporary file and keeps the old target', async () => {
    const lake = new AdlsLake(dfsService(rec), { chunkSize: CHUNK });
    await lake.ensureZones();
    const old = bytes(10);
    rec.seed('gold', 'sales/total.parquet', old);
    rec.fail({ op: 'RenameFile', status: 500 });
    await expect(lake.write('gold', 'sales/total.parquet', streamOf(bytes(500)))).rejects.toMatchObject({ statusCode: 500 });
    expect(rec.visiblePaths('gold')).toEqual(['sales/total.parquet']);
    expect(rec.content('gold', 'sales/total.parquet')!.equals(old)).toBe(true);
  });

  it('watchedZones decides which zones get the in-place write', async () => {
    const lake = new AdlsLake(dfsService(rec), { chunkSize: CHUNK, watchedZones: ['bronze', 'quarantine'] });
    await lake.ensureZones();
    rec.clearLog();
    await lake.write('quarantine', 'sales/bad.csv', streamOf(bytes(50)));
    expect(writes(rec).map((r) => `${r.op} ${r.path}`)).toEqual(['CreateFile sales/bad.csv', 'AppendData sales/bad.csv', 'FlushData sales/bad.csv']);
  });
});

describe('AdlsLake failure before Path Create succeeded', () => {
  it('leaves an existing bronze file untouched', async () => {
    const lake = new AdlsLake(dfsService(rec), { chunkSize: CHUNK });
    await lake.ensureZones();
    const old = bytes(42);
    rec.seed('bronze', 'sales/orders.csv', old);
    rec.fail({ op: 'CreateFile', status: 500 });
    await expect(lake.write('bronze', 'sales/orders.csv', streamOf(bytes(10)))).rejects.toMatchObject({ statusCode: 500 });
    expect(rec.content('bronze', 'sales/orders.csv')!.equals(old)).toBe(true);
    expect(rec.events).toEqual([]);
  });
});
