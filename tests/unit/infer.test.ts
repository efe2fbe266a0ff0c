import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inferDataset } from '../../shared/cli/commands/ingest';
import { loadContracts } from '../../shared/contracts/registry';
import type { ContractRegistry } from '../../shared/contracts/registry';

/** `medallion ingest` without --dataset: which dataset a local file belongs to, from its first line. */
describe('recognising the dataset of a local file', () => {
  let dir: string;
  let registry: ContractRegistry;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'infer-'));
    registry = await loadContracts();
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const file = async (name: string, content: string | Buffer) => {
    const f = path.join(dir, name);
    await writeFile(f, content);
    return f;
  };

  it('a CSV by its header (any case and order); a JSON-lines file by the dedup key of its first record', async () => {
    const csv = await file('a.csv', 'USER_SESSION,event_time,event_type,product_id,category_id,category_code,brand,price,user_id\n');
    expect((await inferDataset(csv, registry))?.name).toBe('ecommerce_events');
    const jsonl = await file('min.jsonl', '{"customer_id":"Z-1","monthly_charges":5,"updated_at":"2024-01-01T00:00:00Z"}\n');
    expect((await inferDataset(jsonl, registry))?.name).toBe('customers');
    const gz = await file('min.jsonl.gz', gzipSync('{"customerID":"Z-2"}\n'));
    expect((await inferDataset(gz, registry))?.name).toBe('customers');
  });

  it('undecidable files are not guessed: a missing column, a JSON line without the key, a corrupt gzip', async () => {
    expect(await inferDataset(await file('b.csv', 'event_time,event_type,product_id\n'), registry)).toBeUndefined();
    expect(await inferDataset(await file('c.jsonl', '{"name":"x"}\n'), registry)).toBeUndefined();
    const broken = Buffer.from(gzipSync('event_time,event_type\n'));
    broken[broken.length - 6]! ^= 0xff;
    expect(await inferDataset(await file('d.csv.gz', broken.subarray(0, 14)), registry)).toBeUndefined();
  });
});
