import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { main } from '../shared/cli/main';
import { HEALTH_CHECKS } from '../shared/ops/health';
import type { CliContext } from '../shared/cli/context';
import { silentLogger } from '../shared/log';
import { createScratchDatabase, dropScratchDatabase } from '../shared/local/scratchDatabase';
import { type StandIn, startStandIn } from '../shared/sources/standIn';
import { startDevStandIn } from '../shared/sources/standIn/dev';
import { wipeLake } from './support/platform';

/**
 * `medallion extract` as a user meets it: usage and configuration mistakes in one line (exit 2),
 * a refused token in one line naming the setting (exit 1, no stack, no token), a run's lines and
 * --json, and `medallion dev --stand-in` serving an API that `medallion extract` reads.
 */
const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'medallion.js');
const STACK = /^\s+at .+[:(]/m;

function capture(env: Record<string, string | undefined>): CliContext & { outText: () => string; errText: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return { env, out: (l) => out.push(l), err: (l) => err.push(l), log: silentLogger, outText: () => out.join('\n'), errText: () => err.join('\n') };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('medallion extract (CLI)', () => {
  let env: Record<string, string>;
  let database: string;
  let standIn: StandIn;
  let work: string;

  beforeAll(async () => {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // Type errors in files other developers are editing: the output is still written.
    }
    ({ name: database } = await createScratchDatabase(inject('databaseUrl'), 'xcli'));
    await wipeLake();
    const url = new URL(inject('databaseUrl'));
    url.pathname = `/${database}`;
    work = mkdtempSync(path.join(os.tmpdir(), 'extract-cli-'));
    env = { DATABASE_URL: url.toString(), LakeStorage: inject('lakeConnectionString'), MEDALLION_WORK_DIR: work };
    standIn = await startStandIn({ seed: 5, pipedriveToken: 'cli-pd-token-7f3a', counts: { pipedrive: { deals: 700, persons: 200, activities: 300 } } });
  });

  afterAll(async () => {
    await standIn?.close();
    await dropScratchDatabase(inject('databaseUrl'), database);
    rmSync(work, { recursive: true, force: true });
  });

  it('usage mistakes are one line and the usage, exit 2', async () => {
    for (const [args, message] of [
      [['extract'], /say which source: pipedrive or zendesk/],
      [['extract', 'hubspot'], /unknown source 'hubspot'/],
      [['extract', 'pipedrive', '--entity', 'tickets'], /unknown pipedrive entity 'tickets' \(users, pipelines, stages, deal_fields, person_fields, organization_fields, organizations, persons, deals, activities\)/],
      [['extract', 'zendesk', '--full', '--since', '7d'], /--full and --since exclude each other/],
      [['extract', 'zendesk', '--since', 'last tuesday'], /--since 'last tuesday' is not a time/],
    ] as const) {
      const ctx = capture({});
      expect(await main([...args], ctx), args.join(' ')).toBe(2);
      expect(ctx.errText()).toMatch(message);
      expect(ctx.errText()).toMatch(/usage: medallion extract <pipedrive\|zendesk>/);
    }
  });

  it('a source that is not set up: one line naming the setting, exit 2, before any stack starts', async () => {
    const ctx = capture({});
    expect(await main(['extract', 'pipedrive'], ctx)).toBe(2);
    expect(ctx.errText()).toBe('medallion extract: configuration problem: PIPEDRIVE_BASE_URL is not set: point it at https://<company>.pipedrive.com (or at the stand-in API of `medallion dev --stand-in`); see docs/sources.md');
    const half = capture({ ZENDESK_BASE_URL: 'https://acme.zendesk.com' });
    expect(await main(['extract', 'zendesk'], half)).toBe(2);
    expect(half.errText()).toMatch(/ZENDESK_BASE_URL is set, so ZENDESK_EMAIL and ZENDESK_API_TOKEN are required too/);
  });

  it('--since 0 (epoch seconds: from the beginning) is accepted: the command goes on to the settings', async () => {
    const ctx = capture({});
    expect(await main(['extract', 'pipedrive', '--since', '0'], ctx)).toBe(2);
    expect(ctx.errText()).toMatch(/^medallion extract: configuration problem: PIPEDRIVE_BASE_URL is not set/);
    const future = capture({});
    expect(await main(['extract', 'pipedrive', '--since', '99999999999'], future)).toBe(2);
    expect(future.errText()).toMatch(/^--since '99999999999' is in the future\nusage: medallion extract/);
  });

  it('medallion health --help lists every check, the API sources\' extract_freshness and extract_count_variance included, one short line each', async () => {
    const ctx = capture({});
    expect(await main(['health', '--help'], ctx)).toBe(0);
    const lines = ctx.outText().split('\n');
    expect(lines[0]).toBe('usage: medallion health [--json]');
    expect(HEALTH_CHECKS).toEqual(expect.arrayContaining(['extract_freshness', 'extract_count_variance']));
    for (const check of HEALTH_CHECKS) {
      const line = lines.filter((l) => l.trim().startsWith(`${check}: `));
      expect(line, check).toHaveLength(1);
      expect(line[0]!.length, line[0]).toBeLessThanOrEqual(130);
    }
    expect(lines).toHaveLength(2 + HEALTH_CHECKS.length);
  });

  it('--help shows the command', async () => {
    const ctx = capture({});
    expect(await main(['extract', '--help'], ctx)).toBe(0);
    expect(ctx.outText()).toMatch(/usage: medallion extract <pipedrive\|zendesk> \[--entity <name>/);
    const all = capture({});
    expect(await main(['--help'], all)).toBe(0);
    expect(all.outText()).toMatch(/medallion extract <pipedrive\|zendesk>/);
  });

  it('a refused token: exit 1, the failed entity and one line that names PIPEDRIVE_API_TOKEN, printed once, no stack, never the token', async () => {
    const token = 'wrong-token-41c9d2';
    const res = await runCli(['extract', 'pipedrive'], { ...env, ...standIn.env(), PIPEDRIVE_API_TOKEN: token });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^✘ pipedrive\/users: FAILED \(auth\), the source refused the credentials \(see below\); watermark unchanged \(none\)$/m);
    expect(res.stdout).toMatch(/- pipedrive\/deals: skipped/);
    expect(res.stderr).toBe('medallion extract: Pipedrive refused the API token (401 Unauthorized): set PIPEDRIVE_API_TOKEN to a valid token (Personal preferences > API in Pipedrive; in Azure the Key Vault secret pipedrive-api-token)\n');
    expect((res.stdout + res.stderr).match(/401/g)).toHaveLength(1);
    expect(res.stderr).not.toMatch(STACK);
    expect(res.stdout + res.stderr).not.toContain(token);
    // --json: the report on stdout, the same one line on stderr.
    const json = await runCli(['extract', 'pipedrive', '--entity', 'users', '--json'], { ...env, ...standIn.env(), PIPEDRIVE_API_TOKEN: token });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', stopped: { kind: 'auth' } });
    expect(json.stderr).toBe(res.stderr);
  });

  it('Zendesk credentials refused: one line naming ZENDESK_EMAIL and ZENDESK_API_TOKEN, printed once', async () => {
    const res = await runCli(['extract', 'zendesk', '--entity', 'groups,tickets'], { ...env, ...standIn.env(), ZENDESK_EMAIL: 'someone.else@example.com' });
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^✘ zendesk\/groups: FAILED \(auth\), the source refused the credentials \(see below\)/m);
    expect(res.stdout).toMatch(/^- zendesk\/tickets: skipped/m);
    expect(res.stderr).toBe('medallion extract: Zendesk refused the credentials (401 Unauthorized): check ZENDESK_EMAIL and ZENDESK_API_TOKEN (token access on in Admin Center; in Azure the Key Vault secret zendesk-api-token)\n');
  });

  it('a base URL whose host does not exist: each entity fails at once, the first line names the host and PIPEDRIVE_BASE_URL, the others say the same as above', async () => {
    const started = Date.now();
    const res = await runCli(['extract', 'pipedrive', '--entity', 'users,pipelines,stages'], { ...env, PIPEDRIVE_BASE_URL: 'https://acme.invalid', PIPEDRIVE_API_TOKEN: 'some-token' });
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('');
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe("✘ pipedrive/users: FAILED (transient) — Pipedrive host 'acme.invalid' was not found (ENOTFOUND, DNS): check PIPEDRIVE_BASE_URL (https://<company>.pipedrive.com); watermark unchanged (none)");
    expect(lines[1]).toBe('✘ pipedrive/pipelines: FAILED (transient) — the same as above; watermark unchanged (none)');
    expect(lines[2]).toBe('✘ pipedrive/stages: FAILED (transient) — the same as above; watermark unchanged (none)');
    // Not retried: no backoff waits (the retries of a network failure take 15 s or more).
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a failed entity: only the human line without --verbose; with --verbose the structured WARN record once on stderr, the human line on stdout', async () => {
    const fault = () => standIn.fail({ status: 400, match: (r) => r.entity === 'users' });
    fault();
    const quiet = await runCli(['extract', 'pipedrive', '--entity', 'users'], { ...env, ...standIn.env() });
    expect(quiet.code).toBe(1);
    expect(quiet.stdout).toMatch(/^✘ pipedrive\/users: FAILED \(bad_response\) — Pipedrive answered 400 at GET \/pipedrive\/acme\/api\/v1\/users\?limit=500: /m);
    expect(quiet.stdout.split('\n').filter((l) => l.includes('FAILED'))).toHaveLength(1);
    expect(quiet.stderr).toBe('');
    fault();
    const verbose = await runCli(['extract', 'pipedrive', '--entity', 'users', '--verbose'], { ...env, ...standIn.env() });
    expect(verbose.code).toBe(1);
    const records = verbose.stderr.split('\n').filter((l) => l.includes('medallion.extract'));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatch(/^WARN medallion\.extract \{.*"entity":"users".*"status":"failed","failure_kind":"bad_response"/);
    expect(verbose.stderr).not.toContain('✘');
    expect(verbose.stdout.split('\n').filter((l) => l.includes('FAILED'))).toHaveLength(1);
  });

  it('a run prints one line per entity and where the files are; --json gives the report; a second run is incremental', async () => {
    const first = await runCli(['extract', 'pipedrive'], { ...env, ...standIn.env() });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    for (const e of ['users', 'pipelines', 'stages', 'deal_fields', 'person_fields', 'organization_fields', 'organizations', 'persons', 'deals', 'activities']) expect(first.stdout).toMatch(new RegExp(`✔ pipedrive/${e}: [\\d,]+ records in \\d+ part\\(s\\)`));
    expect(first.stdout).toMatch(/✔ pipedrive\/deals: 700 records in 1 part\(s\) \(incremental, from the beginning; 2 requests\), watermark none → \d{4}-/);
    expect(first.stdout).toMatch(/records in \d+ file\(s\) under bronze\/pipedrive\/scope=acme\//);
    standIn.store.update('pipedrive', 'deals');
    const second = await runCli(['extract', 'pipedrive', '--entity', 'deals,persons', '--json'], { ...env, ...standIn.env() });
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout) as { status: string; scope: string; entities: Array<{ entity: string; mode: string; records: number; windowStart: number }> };
    expect(report.status).toBe('succeeded');
    expect(report.entities.map((e) => e.entity)).toEqual(['persons', 'deals']);
    expect(report.entities[1]!.mode).toBe('incremental');
    expect(report.entities[1]!.windowStart).toBeGreaterThan(0);
    expect(report.entities[1]!.records).toBeLessThan(700);
  });

  it('docs/sources.md shows the settings line medallion dev --stand-in prints (ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE=600 included)', async () => {
    const { standIn: dev, lines } = await startDevStandIn({ port: 0 });
    try {
      const pairs = (line: string) => Object.fromEntries([...line.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!.replace(dev.url, 'http://127.0.0.1:4010')]));
      const printed = pairs(lines.find((l) => l.includes('PIPEDRIVE_BASE_URL='))!);
      expect(printed.ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE).toBe('600');
      const docs = readFileSync(path.join(ROOT, 'docs', 'sources.md'), 'utf8');
      const documented = docs.split('\n').find((l) => l.startsWith('PIPEDRIVE_BASE_URL=http://127.0.0.1:4010/'))!;
      expect(documented).toMatch(/ npx medallion extract pipedrive$/);
      expect(pairs(documented)).toEqual(printed);
    } finally {
      await dev.close();
    }
  });

  it('medallion dev --stand-in serves the stand-in API and prints the settings; medallion extract reads it', async () => {
    const child = spawn(process.execPath, [BIN, 'dev', '--interval', '30', '--stand-in', '--stand-in-port', '0'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 60_000;
    while (!/Ctrl-C to stop/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    try {
      expect(out).toMatch(/stand-in API \(generated Pipedrive and Zendesk data.*\) at http:\/\/127\.0\.0\.1:\d+/);
      const line = out.split('\n').find((l) => l.includes('PIPEDRIVE_BASE_URL='))!;
      const settings = Object.fromEntries([...line.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
      expect(Object.keys(settings)).toEqual(expect.arrayContaining(['PIPEDRIVE_BASE_URL', 'PIPEDRIVE_API_TOKEN', 'ZENDESK_BASE_URL', 'ZENDESK_EMAIL', 'ZENDESK_API_TOKEN']));
      const res = await runCli(['extract', 'zendesk', '--entity', 'groups,tickets'], { ...env, ...settings });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/✔ zendesk\/tickets: 1,500 records/);
    } finally {
      child.kill('SIGINT');
      expect(await closed).toBe(0);
    }
  });
});
