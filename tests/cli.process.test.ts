import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';
import { type CliRun, runCliProcess } from './support/cli';
import { wipeLake } from './support/platform';

/** The real CLI as a user runs it: `node bin/medallion.js …` with stdout and stderr piped. */
const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'medallion.js');
const H = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

type Run = CliRun;

function runCli(args: string[], env: Record<string, string>, options: { cwd?: string } = {}): Promise<Run> {
  return runCliProcess(BIN, args, env, options.cwd ?? ROOT);
}

/** A stack frame as Node prints it ("    at fn (file.js:1:2)"). */
const STACK = /^\s+at .+[:(]/m;

describe('the medallion CLI as a process (pipes, exit codes, messages)', () => {
  let env: Record<string, string>;
  let database: string;
  let dir: string;

  beforeAll(async () => {
    // The tests run the compiled CLI: build it (type errors elsewhere in the tree still emit).
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // tsc exits non-zero on type errors in files other developers are editing; the output is still written.
    }
    ({ name: database } = await createScratchDatabase(inject('databaseUrl'), 'cli'));
    const url = new URL(inject('databaseUrl'));
    url.pathname = `/${database}`;
    dir = mkdtempSync(path.join(os.tmpdir(), 'cli-process-'));
    env = {
      DATABASE_URL: url.toString(),
      LakeStorage: inject('lakeConnectionString'),
      MEDALLION_ENGINE_MEMORY: '400MB',
      MEDALLION_WORK_DIR: path.join(dir, 'work'),
      MEDALLION_HOME: path.join(dir, 'home'),
    };
    await wipeLake();
  });

  afterAll(async () => {
    await wipeLake();
    if (database) await dropScratchDatabase(inject('databaseUrl'), database);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sql --json through a pipe: more than 1 MB of output arrives complete, exit 0', async () => {
    const res = await runCli(['sql', '--json', "SELECT i, repeat('x', 40) AS pad FROM generate_series(1, 30000) AS i"], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.length).toBeGreaterThan(1_000_000);
    const rows = JSON.parse(res.stdout) as { i: number }[];
    expect(rows).toHaveLength(30000);
    expect(rows.at(-1)!.i).toBe(30000);
  });

  it('a reader that goes away early (| head) is not an error: no stack trace, exit 0', async () => {
    const child = spawn(process.execPath, [BIN, 'sql', '--json', "SELECT i, repeat('x', 40) AS pad FROM generate_series(1, 30000) AS i"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(Buffer.concat(err).toString()).not.toMatch(STACK);
    expect(code).toBe(0);
  });

  it('status --json through a pipe: the whole ledger (> 1 MB) parses', async () => {
    const admin = new pg.Client({ connectionString: env.DATABASE_URL });
    await admin.connect();
    try {
      // The schema exists once any command has run (the sql test above); fill the ledger directly.
      await admin.query(
        `INSERT INTO ops.file_runs (path, etag, run_id, dataset, size_bytes, status, blob_last_modified, error)
         SELECT 'ecommerce_events/bulk/file-' || i || '.csv', 'etag-' || i, gen_random_uuid(), 'ecommerce_events', 100, 'failed', now(), repeat('e', 1000)
         FROM generate_series(1, 1500) AS i`,
      );
      const res = await runCli(['status', '--json'], env);
      expect(res.code).toBe(0);
      expect(res.stdout.length).toBeGreaterThan(1_000_000);
      const runs = JSON.parse(res.stdout) as unknown[];
      expect(runs).toHaveLength(1000); // status shows the latest 1000 runs
    } finally {
      await admin.query(`DELETE FROM ops.file_runs WHERE path LIKE 'ecommerce_events/bulk/%'`).finally(() => admin.end());
    }
  });

  it('ingest a batch: a missing file, an unassignable file and a bad name do not stop the others; exit 1 at the end', async () => {
    const good1 = path.join(dir, 'good1.csv');
    const good2 = path.join(dir, 'good2.csv');
    const orphan = path.join(dir, 'orphan.csv');
    const tabbed = path.join(dir, 'bad\tname.csv');
    writeFileSync(good1, `${H}\n2019-10-01 00:00:00 UTC,view,1,2,a,b,1.00,3,s\n`);
    writeFileSync(good2, `${H}\n2019-10-01 00:00:01 UTC,view,1,2,a,b,1.00,3,s\n`);
    writeFileSync(orphan, 'nothing,that,any,dataset,knows\n1,2,3,4,5\n');
    writeFileSync(tabbed, `${H}\n2019-10-01 00:00:02 UTC,view,1,2,a,b,1.00,3,s\n`);
    const missing = path.join(dir, 'does-not-exist.csv');
    const res = await runCli(['ingest', good1, missing, orphan, tabbed, good2], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/✔ .*good1\.csv/);
    expect(res.stdout).toMatch(/✔ .*good2\.csv/);
    const all = `${res.stdout}\n${res.stderr}`;
    expect(all).toMatch(/does-not-exist\.csv.*no such file/);
    expect(all).toMatch(/orphan\.csv.*--dataset/);
    expect(all).toMatch(/bad\\tname\.csv.*control character/);
    expect(res.stdout).toMatch(/2 of 5 file\(s\) landed, 3 failed/);
    expect(all).not.toMatch(STACK);
    // The unsafe name never reached the lake.
    const listed = await runCli(['sql', '--json', 'SELECT path FROM ops.file_runs ORDER BY path'], env);
    expect((JSON.parse(listed.stdout) as { path: string }[]).map((r) => r.path)).toEqual(['ecommerce_events/good1.csv', 'ecommerce_events/good2.csv']);
  });

  it('dev: a blob with a newline in its name is moved aside, the good one lands, the sweeps go on; Ctrl-C stops cleanly', async () => {
    const bronze = BlobServiceClient.fromConnectionString(env.LakeStorage!).getContainerClient('bronze');
    await bronze.createIfNotExists();
    const put = (name: string, body: string) => bronze.getBlockBlobClient(name).upload(body, Buffer.byteLength(body));
    await put('ecommerce_events/dev\nbad.csv', `${H}\n2019-10-02 00:00:00 UTC,view,1,2,a,b,1.00,3,s\n`);
    await put('ecommerce_events/dev-good.csv', `${H}\n2019-10-02 00:00:01 UTC,view,1,2,a,b,1.00,3,s\n`);
    const child = spawn(process.execPath, [BIN, 'dev', '--interval', '0.2'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 60_000;
    while (!(/✔ ecommerce_events\/dev-good\.csv/.test(out) && /dev\\nbad\.csv/.test(out)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // A few more sweeps: none of them fails on the moved blob.
    await new Promise((r) => setTimeout(r, 1000));
    child.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(out).toMatch(/✘ ecommerce_events\/dev\\nbad\.csv: FAILED — .*control characters.*moved to quarantine/);
    expect(out.match(/✘ ecommerce_events\/dev\\nbad/g)).toHaveLength(1); // reported once, not on every sweep
    expect(out).toMatch(/stopped/);
    expect(err).not.toMatch(/sweep failed/);
    expect(err).not.toMatch(STACK);
  });

  it('ingest while dev sweeps the same bronze: every file lands once, both processes report it without a failure', async () => {
    const files = [1, 2, 3, 4].map((n) => {
      const f = path.join(dir, `both-${n}.csv`);
      const rows = Array.from({ length: 20_000 }, (_, i) => `2019-11-0${n} ${String(Math.floor(i / 3600) % 24).padStart(2, '0')}:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} UTC,view,${i + 1},2,a,b,1.00,${i + n},s${n}`);
      writeFileSync(f, `${H}\n${rows.join('\n')}\n`);
      return f;
    });
    const dev = spawn(process.execPath, [BIN, 'dev', '--interval', '0.1'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let devOut = '';
    let devErr = '';
    dev.stdout.on('data', (b: Buffer) => (devOut += b.toString()));
    dev.stderr.on('data', (b: Buffer) => (devErr += b.toString()));
    const closed = new Promise<number | null>((resolve) => dev.on('close', resolve));
    try {
      const deadline = Date.now() + 60_000;
      while (!/Ctrl-C to stop/.test(devOut) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const res = await runCli(['ingest', ...files], env);
      expect(res.code, `${res.stdout}\n${res.stderr}`).toBe(0);
      for (const f of files) expect(res.stdout).toMatch(new RegExp(`✔ \\S*${path.basename(f)} → ecommerce_events: read 20000 = silver 20000 `));
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      dev.kill('SIGINT');
    }
    expect(await closed).toBe(0);
    expect(devOut).not.toMatch(/FAILED|✘/);
    expect(devErr).not.toMatch(/sweep failed/);
    // One succeeded run per file; no run was taken from a live process (attempts 1).
    const client = new pg.Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    try {
      const runs = await client.query(`SELECT path, status, attempts, rows_silver FROM ops.file_runs WHERE path LIKE '%both-%' ORDER BY path`);
      expect(runs.rows.map((r) => [r.status, r.attempts, Number(r.rows_silver)])).toEqual(files.map(() => ['succeeded', 1, 20_000]));
    } finally {
      await client.end();
    }
  });

  it('an expected failure is one line without a stack trace; --verbose adds the details', async () => {
    // A password made up here (none is committed): it must never be printed.
    const url = new URL('postgresql://127.0.0.1:1/none');
    url.username = 'nobody';
    url.password = randomBytes(8).toString('hex');
    const bad = { ...env, DATABASE_URL: url.toString() };
    const quiet = await runCli(['status'], bad);
    expect(quiet.code).not.toBe(0);
    expect(quiet.stderr).not.toMatch(STACK);
    expect(quiet.stderr.trim().split('\n')).toHaveLength(1);
    expect(quiet.stderr).toMatch(/PostgreSQL|DATABASE_URL/);
    expect(quiet.stderr).not.toContain(url.password);

    const loud = await runCli(['status', '--verbose'], bad);
    expect(loud.code).toBe(quiet.code);
    expect(loud.stderr).toMatch(STACK);
    const viaEnv = await runCli(['status'], { ...bad, MEDALLION_VERBOSE: '1' });
    expect(viaEnv.stderr).toMatch(STACK);
  });

  it('a usage error is one line plus the usage, exit 2, no stack', async () => {
    const res = await runCli(['generate', 'ecommerce'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--out <file> is required/);
    expect(res.stderr).toMatch(/usage: medallion generate/);
    expect(res.stderr).not.toMatch(STACK);
  });

  it('--help lists every command and the global --verbose flag; <command> --help shows that command', async () => {
    const help = await runCli(['--help'], env);
    expect(help.code).toBe(0);
    for (const c of ['ingest', 'status', 'sql', 'gold', 'dev', 'produce', 'generate', 'stack']) expect(help.stdout).toMatch(new RegExp(`medallion ${c}\\b`));
    expect(help.stdout).toMatch(/--verbose/);
    const none = await runCli([], env);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/medallion ingest/);
    const one = await runCli(['status', '--help'], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/usage: medallion status/);
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
