import { describe, expect, it } from 'vitest';
import { UsageError } from '../shared/cli/args';
import type { CliCommand } from '../shared/cli/command';
import { COMMANDS, explainError, globalFlags, main } from '../shared/cli/main';
import { ConfigError } from '../shared/config';
import { UnsafePathError } from '../shared/lake/paths';
import { silentLogger } from '../shared/log';

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
