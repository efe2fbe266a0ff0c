import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingestFailure, localFileProblem, sameTargetProblem } from '../shared/cli/commands/ingest';
import { explainError, main } from '../shared/cli/main';
import { BlobLake } from '../shared/lake/blobLake';
import { LakeWriteConflictError, readSmall } from '../shared/lake/lake';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';
import { silentLogger } from '../shared/log';
import { testEnv, wipeLake } from './support/platform';

/**
 * `medallion ingest` and the names of local files: two files of one command that would land at
 * the same bronze path, a directory given as a file, and two uploads of one bronze path at once.
 */

const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';
const row = (n: number) => `2019-10-01 00:00:${String(n % 60).padStart(2, '0')} UTC,view,${n},2,a,b,1.00,3,s`;
/** A stack frame as Node prints it ("    at fn (file.js:1:2)"). */
const STACK = /^\s+at .+[:(]/m;

let dir: string;
let database: string;
let env: Record<string, string>;
let service: BlobServiceClient;

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env, out: (l) => out.push(l), err: (l) => err.push(l), log: silentLogger });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function bronzePaths(): Promise<string[]> {
  const container = service.getContainerClient('bronze');
  if (!(await container.exists())) return [];
  const names: string[] = [];
  for await (const b of container.listBlobsFlat()) names.push(b.name);
  return names;
}

beforeAll(async () => {
  ({ name: database } = await createScratchDatabase(inject('databaseUrl'), 'cliingest'));
  dir = mkdtempSync(path.join(os.tmpdir(), 'cli-ingest-'));
  env = { ...testEnv(database), MEDALLION_WORK_DIR: path.join(dir, 'work'), MEDALLION_HOME: path.join(dir, 'home') };
  service = BlobServiceClient.fromConnectionString(inject('lakeConnectionString'));
  await wipeLake();
});

afterAll(async () => {
  await wipeLake();
  if (database) await dropScratchDatabase(inject('databaseUrl'), database);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('medallion ingest: files that would land at the same bronze path', () => {
  it('two different local files with one base name: refused before any upload, one line naming the path and both files (exit 2)', async () => {
    const a = path.join(dir, 'dataA', 'x.csv');
    const b = path.join(dir, 'dataB', 'x.csv');
    const other = path.join(dir, 'other.csv');
    mkdirSync(path.dirname(a), { recursive: true });
    mkdirSync(path.dirname(b), { recursive: true });
    writeFileSync(a, `${H}\n${row(1)}\n`);
    writeFileSync(b, `${H}\n${row(2)}\n${row(3)}\n`);
    writeFileSync(other, `${H}\n${row(4)}\n`);
    const res = await run(['ingest', other, a, b]);
    expect(res.code).toBe(2);
    expect(res.out).toBe('');
    const lines = res.err.split('\n').filter((l) => !/^started the local stack/.test(l));
    expect(lines).toEqual([`✘ nothing ingested: ${a} and ${b} would both go to bronze/ecommerce_events/x.csv (the second would replace the first): rename one of them`]);
    expect(res.err).not.toMatch(STACK);
    // Nothing was uploaded, not even the file that clashes with no other.
    expect(await bronzePaths()).toEqual([]);
  });

  it('the same local file named twice (or through a link) is not a clash; files refused for another reason are not either', () => {
    const contract = { name: 'ecommerce_events' } as never;
    const a = path.join(dir, 'dataA', 'x.csv');
    const link = path.join(dir, 'link-x.csv');
    symlinkSync(a, link);
    const plans = (files: string[]) => files.map((file) => ({ file, contract, target: 'ecommerce_events/x.csv' }));
    expect(sameTargetProblem(plans([a, a, link]))).toBeUndefined();
    expect(sameTargetProblem(plans([a, path.join(dir, 'dataB', 'x.csv')]))).toMatch(/would both go to bronze\/ecommerce_events\/x\.csv .*: rename one of them$/);
    expect(sameTargetProblem([{ file: a, problem: 'no such file' }, { file: a, problem: 'no such file' }])).toBeUndefined();
  });
});

describe('medallion ingest <a directory>', () => {
  it('says it is a directory and how to name its files, instead of "no such file"', async () => {
    const folder = path.join(dir, 'exports');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'e.csv'), `${H}\n${row(5)}\n`);
    const res = await run(['ingest', `${folder}/`]);
    expect(res.code).toBe(1);
    expect(res.out).toBe(`✘ ${folder}/: FAILED — is a directory: name its files instead, e.g. medallion ingest ${folder}/*.csv (the shell expands the pattern)`);
    expect(res.out).not.toMatch(/no such file/);
    expect(localFileProblem(path.join(dir, 'missing.csv'))).toBe('no such file');
    expect(localFileProblem(folder, 'name one file in it to check')).toBe('is a directory: name one file in it to check');
  });
});

describe('two uploads of one bronze path at the same moment', () => {
  it('the blob adapter: the upload whose staged blocks another commit discarded fails with LakeWriteConflictError; the path holds the other upload whole', async () => {
    const lake = new BlobLake(service, { blockSize: 1024, concurrency: 1 });
    await lake.ensureZones();
    const target = `ecommerce_events/race-${randomUUID()}.csv`;
    let release!: () => void;
    const otherDone = new Promise<void>((resolve) => (release = resolve));
    // The first upload stages two blocks, then waits until the second upload has committed.
    async function* slow() {
      yield Buffer.alloc(2048, 'a');
      await otherDone;
      yield Buffer.alloc(512, 'a');
    }
    const first = lake.write('bronze', target, Readable.from(slow()));
    await new Promise((r) => setTimeout(r, 300));
    await lake.write('bronze', target, Readable.from([Buffer.alloc(3000, 'b')])).finally(release);
    const error = await first.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LakeWriteConflictError);
    expect(error).toMatchObject({ zone: 'bronze', path: target });
    expect((error as Error).message).not.toMatch(/block list/i);
    const bytes = await readSmall(await lake.read('bronze', target));
    expect(bytes.equals(Buffer.alloc(3000, 'b'))).toBe(true);
    // The CLI's one line, in medallion ingest's report and for any other command.
    const line = `another upload to bronze/${target} was in progress at the same time and landed instead: run the command again`;
    expect(ingestFailure(error, false)).toBe(line);
    expect(explainError(error)).toEqual({ message: line, exitCode: 1 });
  });

  it('medallion ingest whose blocks another upload of the same path discards: one line to run the command again, no raw storage error', async () => {
    // Big enough (8 blocks of 8 MiB) that the commit of a second upload lands between the first
    // upload's Put Block requests and its Put Block List.
    const file = path.join(dir, 'big.csv');
    const filler = `${row(6)}\n`;
    writeFileSync(file, `${H}\n${filler.repeat(Math.ceil((60 * 1024 * 1024) / filler.length))}`);
    const blob = service.getContainerClient('bronze').getBlockBlobClient('ecommerce_events/big.csv');
    const running = run(['ingest', file, '--dataset', 'ecommerce_events']);
    let ended = false;
    void running.finally(() => (ended = true));
    let raced = false;
    while (!ended && !raced) {
      const list = await blob.getBlockList('uncommitted').catch(() => undefined);
      if (list?.uncommittedBlocks?.length) {
        // Another upload of the same path (Put Block + Put Block List) commits first; its block ID
        // has the SDK's length (48 characters before base64: a blob's block IDs are all one length).
        const id = Buffer.from(randomUUID().padEnd(48, '0')).toString('base64');
        await blob.stageBlock(id, `${H}\n${row(7)}\n`, Buffer.byteLength(`${H}\n${row(7)}\n`));
        await blob.commitBlockList([id]);
        raced = true;
      } else await new Promise((r) => setTimeout(r, 2));
    }
    const res = await running;
    expect(raced).toBe(true);
    expect(res.code).toBe(1);
    expect(res.out).toBe(`✘ ${file}: FAILED — another upload to bronze/ecommerce_events/big.csv was in progress at the same time and landed instead: run the command again`);
    expect(res.out).not.toMatch(/block list is invalid/i);
    expect(res.err).not.toMatch(STACK);
  });
});
