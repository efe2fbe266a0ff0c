import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../shared/cli/args';
import type { CliCommand } from '../shared/cli/command';
import { COMMANDS, explainError, globalFlags, main } from '../shared/cli/main';
import { ConfigError } from '../shared/config';
import { UnsafePathError } from '../shared/lake/paths';
import { silentLogger } from '../shared/log';
import type { Platform } from '../shared/platform';
import { freshPlatform } from './support/platform';

function cli(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return { ctx: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l), log: silentLogger }, out, err };
}

const STACK = /^\s+at .+[:(]/m;

/** Runs `main` with a throw-away command that fails with `error`. */
async function failWith(error: unknown, argv: string[] = [], env: Record<string, string> = {}) {
  const command: CliCommand = { name: 'explode', usage: 'medallion explode', summary: 'test', run: async () => Promise.reject(error) };
  COMMANDS.push(command);
  try {
    const run = cli(env);
    const code = await main(['explode', ...argv], run.ctx);
    return { code, err: run.err.join('\n'), out: run.out.join('\n') };
  } finally {
    COMMANDS.splice(COMMANDS.indexOf(command), 1);
  }
}

describe('CLI failures: one line saying what to do, the stack only with --verbose', () => {
  it('an unexpected error: one line and a pointer to --verbose', async () => {
    const res = await failWith(new TypeError('cannot read properties of undefined\nsecond line'));
    expect(res.code).toBe(1);
    expect(res.err).toBe('medallion explode failed: cannot read properties of undefined (run with --verbose for details)');
  });

  it('--verbose anywhere (or MEDALLION_VERBOSE=1) adds the stack', async () => {
    for (const [argv, env] of [[['--verbose'], {}], [[], { MEDALLION_VERBOSE: '1' }]] as const) {
      const res = await failWith(new TypeError('boom'), [...argv], { ...env });
      expect(res.code).toBe(1);
      expect(res.err.split('\n')[0]).toBe('medallion explode failed: boom');
      expect(res.err).toMatch(STACK);
    }
  });

  it('expected failures: usage, configuration, unsafe names, missing local files, unreachable services', async () => {
    const usage = await failWith(new UsageError('say what'));
    expect([usage.code, usage.err]).toEqual([2, 'say what\nusage: medallion explode']);
    const config = await failWith(new ConfigError('no lake configured'));
    expect([config.code, config.err]).toEqual([2, 'medallion explode: configuration problem: no lake configured']);
    const unsafe = await failWith(new UnsafePathError('lake path contains control characters (tab, newline, …): a\\tb'));
    expect(unsafe.err).toMatch(/^medallion explode: lake path contains control characters .*: rename the file/);
    const enoent = Object.assign(new Error("ENOENT: no such file or directory, open '/nope/x.csv'"), { code: 'ENOENT', path: '/nope/x.csv', syscall: 'open' });
    expect((await failWith(enoent)).err).toBe('medallion explode: no such file or directory: /nope/x.csv');
    // Node reports a refused connection to localhost (::1 and 127.0.0.1) as an AggregateError without a message.
    const refused = Object.assign(new AggregateError([Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 5999 })], ''), {
      code: 'ECONNREFUSED',
    });
    const db = await failWith(refused, [], { DATABASE_URL: 'postgresql://u@localhost:5999/db' });
    expect(db.code).toBe(1);
    expect(db.err).toBe('medallion explode: cannot reach PostgreSQL at 127.0.0.1:5999 (ECONNREFUSED): start it, or fix DATABASE_URL (unset both to use the local stack)');
    for (const r of [usage, config, unsafe, db]) expect(r.err).not.toMatch(STACK);
    expect(explainError(new Error('something else'))).toBeUndefined();
  });

  it('global flags are taken out before the command sees its arguments; -- ends them', () => {
    expect(globalFlags(['sql', '--verbose', 'SELECT 1'])).toEqual({ argv: ['sql', 'SELECT 1'], verbose: true, help: false });
    expect(globalFlags(['sql', '--', '--verbose'])).toEqual({ argv: ['sql', '--', '--verbose'], verbose: false, help: false });
    expect(globalFlags(['status', '-h'], { MEDALLION_VERBOSE: 'true' })).toEqual({ argv: ['status'], verbose: true, help: true });
  });

  it('help: usage of every command, exit 0 when asked for, 2 when no command was given', async () => {
    const asked = cli();
    expect(await main(['--help'], asked.ctx)).toBe(0);
    for (const c of COMMANDS) expect(asked.out.join('\n')).toContain(c.usage);
    const none = cli();
    expect(await main([], none.ctx)).toBe(2);
    const one = cli();
    expect(await main(['sql', '--help'], one.ctx)).toBe(0);
    expect(one.out.join('\n')).toMatch(/^usage: medallion sql \[--json\] \[--timeout <seconds>\]/);
  });
});

describe('a dataset name no dataset has: the same usage error (exit 2, one line and the usage) from every command', () => {
  let platform: Platform;
  let env: Record<string, string>;
  let dir: string;
  let file: string;
  beforeAll(async () => {
    // crm_products: a dataset no gold model reads (the CRM models live with crm_deals, not copied).
    ({ platform, env } = await freshPlatform({ datasets: ['ecommerce_events', 'customers', 'crm_products'] }));
    // A dataset whose contract does not load is known (its ledger can be listed), not unknown.
    await mkdir(path.join(env.MEDALLION_DATASETS_DIR!, 'broken_feed'));
    await writeFile(path.join(env.MEDALLION_DATASETS_DIR!, 'broken_feed', 'contract.ts'), 'export default {');
    dir = await mkdtemp(path.join(os.tmpdir(), 'cli-errors-'));
    file = path.join(dir, 'events.csv');
    await writeFile(file, 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n');
  });
  afterAll(async () => {
    await platform?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = async (argv: string[]) => {
    const c = cli(env);
    const code = await main(argv, c.ctx);
    return { code, err: c.err.join('\n'), out: c.out.join('\n') };
  };
  const usageOf = (argv: string[]) => COMMANDS.find((c) => c.name === argv[0])!.usage;

  it('status, gold show, gold refresh, dataset check, dataset rebuild, replay --failed and ingest: exit 2, one line naming the known datasets and the closest', async () => {
    const message = "unknown dataset 'custmers' (known: broken_feed, crm_products, customers, ecommerce_events); did you mean customers?";
    for (const argv of [
      ['status', '--dataset', 'custmers'],
      ['gold', 'show', '--dataset', 'custmers'],
      ['gold', 'refresh', '--dataset', 'custmers'],
      ['dataset', 'check', file, '--dataset', 'custmers'],
      ['dataset', 'rebuild', 'custmers'],
      ['replay', '--failed', '--dataset', 'custmers'],
      ['ingest', file, '--dataset', 'custmers'],
    ]) {
      const res = await run(argv);
      expect({ argv, code: res.code, err: res.err }).toEqual({ argv, code: 2, err: `${message}\nusage: ${usageOf(argv)}` });
      expect(res.out).toBe('');
    }
    // Far from every name: no suggestion.
    const far = await run(['gold', 'show', '--dataset', 'zzzzzzzz']);
    expect([far.code, far.err.split('\n')[0]]).toEqual([2, "unknown dataset 'zzzzzzzz' (known: broken_feed, crm_products, customers, ecommerce_events)"]);
    // Nothing ran: no ledger row, no gold refresh.
    expect((await platform.pool.query(`SELECT count(*)::int AS n FROM ops.file_runs`)).rows[0].n).toBe(0);
  });

  it('a known name still works; one no gold model reads is a usage error of gold; one whose contract does not load says what to fix (exit 2)', async () => {
    expect((await run(['status', '--dataset', 'customers'])).code).toBe(0);
    expect((await run(['status', '--dataset', 'broken_feed'])).code).toBe(0);
    for (const sub of ['show', 'refresh']) {
      const res = await run(['gold', sub, '--dataset', 'crm_products']);
      expect([res.code, res.err]).toEqual([2, `no gold model reads dataset 'crm_products' (datasets with gold models: customers, ecommerce_events)\nusage: ${usageOf(['gold'])}`]);
    }
    for (const argv of [['replay', '--failed', '--dataset', 'broken_feed'], ['dataset', 'rebuild', 'broken_feed'], ['gold', 'show', '--dataset', 'broken_feed']]) {
      const res = await run(argv);
      expect(res.code, argv.join(' ')).toBe(2);
      expect(res.err).toMatch(new RegExp(`^medallion ${argv[0]}: configuration problem: dataset 'broken_feed' is not loaded: .* fix shared/datasets/broken_feed/contract\\.ts; its files are refused until then$`));
    }
  });
});
