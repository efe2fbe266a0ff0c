import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closestFlag, editDistance, parseArgs, UsageError } from '../shared/cli/args';
import { COMMANDS, main } from '../shared/cli/main';
import { silentLogger } from '../shared/log';
import { runCliProcess } from './support/cli';

/**
 * Every command refuses a flag it does not know, a value flag given twice and an empty list item:
 * exit 2, one line and the usage, no stack trace (docs/cli.md, exit codes).
 */

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'medallion.js');
/** A stack frame as Node prints it ("    at fn (file.js:1:2)"). */
const STACK = /^\s+at .+[:(]/m;
/** Commands not yet moved to the checked parser (the lead wires sql.ts). */
const NOT_YET_CHECKED = new Set<string>([]);

let dir: string;
let csv: string;
/**
 * An environment in which a command that gets past its flags stops at once, before any stack
 * starts or any service is called: the lake adapter setting is invalid (a configuration error).
 */
let env: Record<string, string>;

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  return { ctx: { env, out: (l: string) => out.push(l), err: (l: string) => err.push(l), log: silentLogger }, out, err };
}

async function run(argv: string[]) {
  const c = cli();
  const code = await main(argv, c.ctx);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}

/** The one line of a usage error (the second is the usage); fails when the output is anything else. */
async function refused(argv: string[]): Promise<string> {
  const res = await run(argv);
  expect(res.code, argv.join(' ')).toBe(2);
  expect(res.out, argv.join(' ')).toBe('');
  const lines = res.err.split('\n');
  expect(lines, argv.join(' ')).toHaveLength(2);
  expect(lines[1], argv.join(' ')).toMatch(/^usage: medallion /);
  expect(res.err).not.toMatch(STACK);
  return lines[0]!;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cli-args-'));
  csv = path.join(dir, 'events.csv');
  writeFileSync(csv, 'event_time,event_type\n');
  env = { LAKE_ADAPTER: 'nowhere', MEDALLION_HOME: path.join(dir, 'home') };
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('parseArgs with the flags a command knows', () => {
  const extract = { command: 'medallion extract', flags: { entity: 'list', full: 'boolean', since: 'value', json: 'boolean' } } as const;
  const parse = (argv: string[]) => parseArgs(argv, { ...extract, flags: { ...extract.flags } });
  const error = (argv: string[]) => {
    try {
      parse(argv);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    throw new Error(`accepted: ${argv.join(' ')}`);
  };

  it('valid arguments parse as before', () => {
    expect(parse(['pipedrive', '--entity', 'deals,stages', '--full', '--json'])).toEqual({ positional: ['pipedrive'], flags: { entity: 'deals,stages', full: true, json: true } });
    expect(parse(['--since=7d', 'zendesk', '--', '--not-a-flag', '-x'])).toEqual({ positional: ['zendesk', '--not-a-flag', '-x'], flags: { since: '7d' } });
    expect(parse(['pipedrive', '--since', '-5'])).toEqual({ positional: ['pipedrive'], flags: { since: '-5' } });
    // A boolean flag given twice changes nothing; the global flags (taken out by main()) are passed over.
    expect(parse(['--json', '--json', '--verbose', '--help'])).toEqual({ positional: [], flags: { json: true } });
  });

  it('an unknown flag names the command and its flags, and the closest one when it is at most 2 edits away', () => {
    expect(error(['pipedrive', '--bogus'])).toBe("unknown flag '--bogus' for medallion extract (known: --entity, --full, --since, --json)");
    expect(error(['pipedrive', '--fulll'])).toBe("unknown flag '--fulll' for medallion extract (known: --entity, --full, --since, --json); did you mean --full?");
    expect(error(['--entites=deals'])).toBe("unknown flag '--entites' for medallion extract (known: --entity, --full, --since, --json); did you mean --entity?");
    expect(error(['--jsno'])).toMatch(/; did you mean --json\?$/);
    expect(error(['--JSON'])).toMatch(/; did you mean --json\?$/);
    expect(error(['--verbos'])).toMatch(/; did you mean --verbose\?$/);
    expect(error(['-f'])).toBe("unknown flag '-f' for medallion extract (known: --entity, --full, --since, --json)");
    expect(() => parseArgs(['--x'], { command: 'medallion stack', flags: {} })).toThrow("unknown flag '--x' for medallion stack (it takes no flags)");
    // Not every character wrong: --x is not a typo of --to.
    expect(closestFlag('x', ['to'])).toBeUndefined();
    expect(closestFlag('fo', ['to'])).toBe('to');
    expect(editDistance('jsno', 'json')).toBe(1);
    expect(editDistance('fulll', 'full')).toBe(1);
  });

  it('a value flag twice, a value flag without a value, a value to a boolean flag, an empty list item: refused', () => {
    expect(error(['--entity', 'deals', '--entity', 'stages'])).toBe('--entity given more than once: pass one comma-separated list (--entity deals,stages)');
    expect(error(['--since', '7d', '--since=2d'])).toBe("--since given more than once: pass it once ('7d', then '2d')");
    expect(error(['--entity'])).toBe('--entity needs a value');
    expect(error(['--entity', '--full'])).toBe('--entity needs a value');
    expect(error(['--since='])).toBe('--since needs a value');
    expect(error(['--full=yes'])).toBe("--full takes no value, got 'yes'");
    expect(error(['--verbose=1'])).toMatch(/^--verbose takes no value/);
    expect(error(['--entity', 'deals,,stages'])).toBe("--entity 'deals,,stages' has an empty item: separate the names with single commas (--entity a,b)");
    for (const list of ['deals,', ',deals', ' , ', 'deals, ,stages']) expect(error(['--entity', list])).toMatch(/has an empty item/);
  });

  it('messages stay on one line whatever was typed', () => {
    expect(error(['--a\nb'])).not.toContain('\n');
    expect(error(['--full=a\nb'])).toBe("--full takes no value, got 'a\\nb'");
  });

  it('the old form (a list of boolean flags, what sql.ts still passes) takes anything, as before', () => {
    expect(parseArgs(['--json', '--bogus', 'x', '--timeout', '1', '--timeout', '2', 'SELECT 1'], ['json'])).toEqual({
      positional: ['SELECT 1'],
      flags: { json: true, bogus: 'x', timeout: '2' },
    });
  });
});

describe('every command refuses what it does not know (main: exit 2, one line and the usage, no stack)', () => {
  /** Per command, invocations with an unknown flag; every subcommand has its own flags. */
  const UNKNOWN: string[][] = [
    ['extract', 'pipedrive', '--bogus'],
    ['extract', 'pipedrive', '--entity', 'stages', '--bogus'],
    ['status', '--bogus'],
    ['status', '--json', '-x'],
    ['health', '--nope'],
    ['gold', 'models', '--x'],
    ['gold', 'models', '--full'],
    ['gold', 'show', '--full'],
    ['gold', 'refresh', '--bogus'],
    ['dataset', 'check', 'events.csv', '--bogus'],
    ['dataset', 'rebuild', 'customers', '--dataset', 'customers'],
    ['replay', '--failed', '--bogus'],
    ['ingest', 'events.csv', '--bogus'],
    ['dev', '--bogus'],
    ['produce', 'customers', '--bogus'],
    ['generate', 'ecommerce', '--bogus', '1'],
    ['stack', 'start', '--bogus'],
    ['stack', 'stop', '--bogus'],
    ['sql', '--bogus', 'SELECT 1'],
  ];

  it('covers every command', () => {
    const named = new Set(UNKNOWN.map((a) => a[0]));
    for (const c of COMMANDS) if (!NOT_YET_CHECKED.has(c.name)) expect(named, c.name).toContain(c.name);
  });

  it('an unknown flag', async () => {
    for (const argv of UNKNOWN) {
      const flag = [...argv].reverse().find((a) => a.startsWith('-'))!;
      const sub = ['gold', 'dataset'].includes(argv[0]!) ? ` ${argv[1]}` : '';
      expect(await refused(argv)).toMatch(new RegExp(`^unknown flag '${flag}' for medallion ${argv[0]}${sub} \\((known: --|it takes no flags)`));
    }
    expect(await refused(['extract', 'pipedrive', '--fulll'])).toBe("unknown flag '--fulll' for medallion extract (known: --entity, --full, --since, --json); did you mean --full?");
    expect(await refused(['health', '--nope'])).toBe("unknown flag '--nope' for medallion health (known: --json)");
    expect(await refused(['gold', 'show', '--full'])).toBe("unknown flag '--full' for medallion gold show (known: --dataset, --json)");
    expect(await refused(['dataset', 'rebuild', 'customers', '--dataset', 'customers'])).toBe("unknown flag '--dataset' for medallion dataset rebuild (it takes no flags)");
  });

  it('a close typo gets the suggestion', async () => {
    for (const [argv, near] of [
      [['status', '--jsno'], '--json'],
      [['gold', 'refresh', '--datset', 'x'], '--dataset'],
      [['dev', '--standin'], '--stand-in'],
      [['dev', '--stand-in-prot', '1'], '--stand-in-port'],
      [['produce', 'customers', '--count=5', '--rates', '5'], '--rate'],
      [['generate', 'ecommerce', '--row', '5'], '--rows'],
      [['replay', '--faild'], '--failed'],
      [['ingest', 'events.csv', '--datasets', 'x'], '--dataset'],
      [['status', '--verbos'], '--verbose'],
    ] as const) {
      expect(await refused([...argv]), argv.join(' ')).toMatch(new RegExp(`; did you mean ${near}\\?$`));
    }
  });

  it('a value flag given twice', async () => {
    expect(await refused(['extract', 'pipedrive', '--entity', 'deals', '--entity', 'stages'])).toBe('--entity given more than once: pass one comma-separated list (--entity deals,stages)');
    expect(await refused(['status', '--dataset', 'a', '--dataset=b'])).toBe("--dataset given more than once: pass it once ('a', then 'b')");
    expect(await refused(['produce', 'customers', '--seed', '1', '--seed', '2'])).toMatch(/^--seed given more than once/);
    expect(await refused(['generate', 'ecommerce', '--out', 'a.csv', '--out', 'b.csv'])).toMatch(/^--out given more than once/);
  });

  it('an empty list item, an empty value, a value to a boolean flag', async () => {
    expect(await refused(['extract', 'pipedrive', '--entity', 'deals,,stages'])).toBe("--entity 'deals,,stages' has an empty item: separate the names with single commas (--entity a,b)");
    // Flag values checked before any stack starts.
    expect(await refused(['dev', '--stand-in', '--stand-in-port', '65536'])).toBe("--stand-in-port must be a port from 0 (any free one) to 65535, got '65536'");
    expect(await refused(['dev', '--stand-in-port', '4999'])).toBe('--stand-in-port is for the stand-in API: add --stand-in');
    expect(await refused(['extract', 'pipedrive', '--entity=deals,'])).toMatch(/has an empty item/);
    expect(await refused(['extract', 'pipedrive', '--entity', ''])).toBe('--entity needs a value');
    expect(await refused(['status', '--dataset'])).toBe('--dataset needs a value');
    expect(await refused(['extract', 'pipedrive', '--full=no'])).toBe("--full takes no value, got 'no'");
  });

  it('unexpected arguments of commands that take none', async () => {
    expect(await refused(['status', 'customers'])).toBe("unexpected argument 'customers' for medallion status");
    expect(await refused(['health', 'now'])).toBe("unexpected argument 'now' for medallion health");
    expect(await refused(['gold', 'models', 'x'])).toBe("unexpected argument 'x' for medallion gold models");
    expect(await refused(['stack', 'start', 'now'])).toBe("unexpected argument 'now' for medallion stack start");
  });

  it('the global flags stay accepted everywhere', async () => {
    const res = await run(['health', '--verbose', '--json']);
    expect(res.code).toBe(2);
    expect(res.err.split('\n')[0]).toBe("medallion health: configuration problem: LAKE_ADAPTER must be 'adls' or 'blob', got 'nowhere'");
    expect(await refused(['status', '--verbose', '--bogus'])).toMatch(/^unknown flag '--bogus' for medallion status/);
    expect((await run(['gold', 'models', '--x', '--help'])).code).toBe(0);
  });
});

describe('valid invocations still parse: every flag of every usage', () => {
  // Each gets past its flags and stops at the next check (here the invalid LAKE_ADAPTER, or a
  // check of the command's own), never at a flag.
  const VALID: [string[], RegExp][] = [
    [['extract', 'pipedrive', '--entity', 'deals,stages', '--since', '7d', '--json'], /^medallion extract: configuration problem: PIPEDRIVE_BASE_URL is not set/],
    [['extract', 'zendesk', '--entity=tickets', '--full'], /^medallion extract: configuration problem: ZENDESK_BASE_URL is not set/],
    [['extract', 'pipedrive', '--entity', 'deals, stages'], /^medallion extract: configuration problem: PIPEDRIVE_BASE_URL is not set/],
    [['status', '--json', '--dataset', 'customers'], /^medallion status: configuration problem: LAKE_ADAPTER/],
    [['health', '--json'], /^medallion health: configuration problem: LAKE_ADAPTER/],
    [['gold', 'refresh', '--full', '--dataset', 'customers', '--json'], /^medallion gold: configuration problem: LAKE_ADAPTER/],
    [['gold', 'show', '--dataset=customers', '--json'], /^medallion gold: configuration problem: LAKE_ADAPTER/],
    [['gold', 'models', '--json'], /^medallion gold: configuration problem: LAKE_ADAPTER/],
    [['dataset', 'check', 'CSV', '--dataset', 'ecommerce_events'], /^medallion dataset: configuration problem: LAKE_ADAPTER/],
    [['dataset', 'rebuild', 'customers'], /^medallion dataset: configuration problem: LAKE_ADAPTER/],
    [['replay', '--failed', '--dataset', 'customers'], /^medallion replay: configuration problem: LAKE_ADAPTER/],
    [['replay', 'customers/a.jsonl', '--', '--odd-name.csv'], /^medallion replay: configuration problem: LAKE_ADAPTER/],
    [['ingest', 'CSV', '--dataset', 'ecommerce_events'], /^medallion ingest: configuration problem: LAKE_ADAPTER/],
    [['dev', '--interval', '1', '--stand-in', '--stand-in-port', '4999'], /^medallion dev: configuration problem: LAKE_ADAPTER/],
    [['produce', 'customers', '--count', '3', '--rate', '5/s', '--updates', '0.5', '--seed', '1', '--to', 'bronze'], /configuration problem: LAKE_ADAPTER/],
    [['produce', 'customers', '--from', 'no-such.csv'], /^no such file: no-such.csv$/m],
    [['generate', 'ecommerce', '--rows', '20', '--out', 'OUT', '--seed', '1', '--days', '2', '--truncate'], /^$/],
    [['stack', 'restart'], /^unknown stack action 'restart' \(start or stop\)$/m],
    [['sql', '--json', '--timeout', '5', 'SELECT 1'], /^medallion sql: configuration problem: LAKE_ADAPTER/],
  ];

  it('covers every flag of every usage', () => {
    for (const c of COMMANDS) {
      if (NOT_YET_CHECKED.has(c.name)) continue;
      const given = VALID.filter(([a]) => a[0] === c.name).flatMap(([a]) => a.map((x) => x.replace(/=.*/, '')));
      for (const flag of c.usage.match(/--[a-z-]+/g) ?? []) expect(given, `${c.name} ${flag}`).toContain(flag);
    }
  });

  it('each goes past its flags', async () => {
    const out = path.join(dir, 'sample.csv');
    for (const [argv, expected] of VALID) {
      const args = argv.map((a) => (a === 'CSV' ? csv : a === 'OUT' ? out : a));
      const res = await run(args);
      expect(res.err, args.join(' ')).not.toMatch(/unknown flag|more than once|needs a value|takes no value|empty item|unexpected argument/);
      expect(res.err, args.join(' ')).toMatch(expected);
      expect(res.err).not.toMatch(STACK);
    }
    expect(existsSync(out)).toBe(true);
  });
});

describe('the real CLI (node bin/medallion.js)', () => {
  beforeAll(() => {
    // The compiled CLI (type errors in files others are editing still emit).
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // tsc exits non-zero on type errors elsewhere; the output is still written.
    }
  });

  const runCli = (args: string[]) => runCliProcess(BIN, args, env, dir);

  it('refuses unknown flags, a repeated value flag and an empty list item: exit 2, one line and the usage', async () => {
    for (const [argv, line] of [
      [['extract', 'pipedrive', '--fulll'], "unknown flag '--fulll' for medallion extract (known: --entity, --full, --since, --json); did you mean --full?"],
      [['extract', 'pipedrive', '--entity', 'stages', '--bogus'], "unknown flag '--bogus' for medallion extract (known: --entity, --full, --since, --json)"],
      [['status', '--bogus'], "unknown flag '--bogus' for medallion status (known: --json, --dataset)"],
      [['health', '--nope'], "unknown flag '--nope' for medallion health (known: --json)"],
      [['gold', 'models', '--x'], "unknown flag '--x' for medallion gold models (known: --json)"],
      [['status', '--verbose', '--bogus'], "unknown flag '--bogus' for medallion status (known: --json, --dataset)"],
      [['extract', 'pipedrive', '--entity', 'deals', '--entity', 'stages'], '--entity given more than once: pass one comma-separated list (--entity deals,stages)'],
      [['extract', 'pipedrive', '--entity', 'deals,,stages'], "--entity 'deals,,stages' has an empty item: separate the names with single commas (--entity a,b)"],
    ] as const) {
      const res = await runCli([...argv]);
      expect(res.code, argv.join(' ')).toBe(2);
      expect(res.stdout).toBe('');
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines[0], argv.join(' ')).toBe(line);
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(new RegExp(`^usage: medallion ${argv[0]} `));
      expect(res.stderr).not.toMatch(STACK);
    }
  });
});
