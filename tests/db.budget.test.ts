import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectDelays, isConnectionShortage } from '../shared/db/pool';
import { silentLogger } from '../shared/log';
import { createScratchDatabase } from '../shared/local/scratchDatabase';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { createPlatform, type Platform } from '../shared/platform';
import { EVENT_HEADER } from '../shared/samples/ecommerceSample';
import { wipeLake } from './support/platform';

/**
 * The connection budget (issue: a burst of bronze files must stay inside the server's connection
 * limit). A server role limited to 35 connections stands in for Burstable B1ms; 40 concurrent
 * ingest workers (40 Functions instances, each with its own pool) land every file through it,
 * directly and through a real PgBouncer in transaction mode. The role's own time zone is not UTC,
 * so any statement that depended on the session's zone would go wrong here.
 */
const WORKERS = 40;
const FILES_PER_WORKER = 2;
const ROWS_PER_FILE = 50;

const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A small file of distinct events: worker w, file f (no two files share a row). */
function eventsFile(w: number, f: number): string {
  const lines = [EVENT_HEADER];
  for (let i = 0; i < ROWS_PER_FILE; i++) {
    const t = new Date(Date.UTC(2024, 0, 1 + f, w % 24, Math.floor(i / 60), i % 60)).toISOString().replace('T', ' ').replace('.000Z', ' UTC');
    lines.push(`${t},view,${1000 + i},2053013555631882655,electronics.smartphone,acme,9.99,${w * 1000 + f + 1},s-${w}-${f}`);
  }
  return `${lines.join('\n')}\n`;
}

async function burst(env: Record<string, string>, db: pg.Pool, role: string): Promise<{ errors: string[]; failed: number; landed: number; peak: number }> {
  // Each worker is an instance: its own platform (pool) started when the burst starts.
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1`, [role]);
      peak = Math.max(peak, r.rows[0].n);
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  const platforms: Platform[] = [];
  try {
    const results = await Promise.allSettled(
      Array.from({ length: WORKERS }, async (_, w) => {
        const p = await createPlatform(env, { log: silentLogger, engine: { memoryLimit: '64MB', threads: 1 } });
        platforms.push(p);
        const outcomes: string[] = [];
        for (let f = 0; f < FILES_PER_WORKER; f++) {
          const name = `ecommerce_events/burst/w${w}-f${f}.csv`;
          await p.lake.write('bronze', name, Readable.from([Buffer.from(eventsFile(w, f))]));
          outcomes.push((await ingestBronzeFile(p, name)).outcome);
        }
        return outcomes;
      }),
    );
    const outcomes = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : [`rejected: ${(r.reason as Error)?.message} ${(r.reason as { where?: string })?.where ?? ''} ${(r.reason as Error)?.stack?.split('\n').slice(1, 6).join(' | ')}`]));
    const errors = [...new Set(outcomes.filter((o) => o !== 'succeeded'))].slice(0, 3);
    return { errors, failed: outcomes.filter((o) => o !== 'succeeded').length, landed: outcomes.filter((o) => o === 'succeeded').length, peak };
  } finally {
    sampling = false;
    await sampler;
    await Promise.all(platforms.map((p) => p.close()));
  }
}

describe('the connection budget: 40 ingest workers against a server that allows 35 connections', () => {
  let admin: pg.Pool;
  let dbName: string;
  let role: string;
  const password = randomBytes(12).toString('hex');
  let server: URL;

  beforeAll(async () => {
    server = new URL(inject('databaseUrl'));
    ({ name: dbName } = await createScratchDatabase(server.toString(), 'budget'));
    role = `budget_${randomBytes(4).toString('hex')}`;
    const su = new pg.Client({ connectionString: server.toString() });
    await su.connect();
    try {
      await su.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 35`);
      await su.query(`ALTER ROLE ${role} SET timezone TO 'America/New_York'`);
      await su.query(`ALTER DATABASE "${dbName}" OWNER TO ${role}`);
    } finally {
      await su.end();
    }
    const url = new URL(server.toString());
    url.pathname = `/${dbName}`;
    admin = new pg.Pool({ connectionString: url.toString(), max: 2 });
  });
  afterAll(async () => {
    await admin?.end();
  });

  const roleUrl = (port: string) => {
    const url = new URL(server.toString());
    url.username = role;
    url.password = password;
    url.port = port;
    url.pathname = `/${dbName}`;
    return url.toString();
  };
  const landedRows = async () => (await admin.query(`SELECT count(*)::int AS n FROM silver.ecommerce_events`)).rows[0].n as number;

  it('directly: every file lands, none fails, the role never holds more than its 35 connections', async () => {
    await wipeLake();
    const env = { LakeStorage: inject('lakeConnectionString'), DATABASE_URL: roleUrl(server.port), POSTGRES_POOL_MAX: '1', MEDALLION_ENGINE_MEMORY: '64MB' };
    const r = await burst(env, admin, role);
    expect(r).toMatchObject({ errors: [], failed: 0, landed: WORKERS * FILES_PER_WORKER });
    expect(r.peak).toBeLessThanOrEqual(35);
    const odd = await admin.query(`SELECT path, rows_read, rows_silver, duplicates_in_file, duplicates_cross_file, rows_quarantined, quarantine_reasons, redelivery_of FROM ops.file_runs WHERE rows_silver <> ${ROWS_PER_FILE}`);
    expect(odd.rows).toEqual([]);
    expect(await landedRows()).toBe(WORKERS * FILES_PER_WORKER * ROWS_PER_FILE);
    const runs = await admin.query(`SELECT status, count(*)::int AS n FROM ops.file_runs GROUP BY 1`);
    expect(runs.rows).toEqual([{ status: 'succeeded', n: WORKERS * FILES_PER_WORKER }]);
  });

  describe('through PgBouncer in transaction mode (Debian pgbouncer; .ci/run installs it)', () => {
    let bouncer: ChildProcess;
    let dir: string;
    let port: number;
    let bouncerLog = '';

    beforeAll(async () => {
      if (!PGBOUNCER) throw new Error('pgbouncer is not installed: apt-get install pgbouncer (.ci/run does)');
      dir = mkdtempSync(path.join(os.tmpdir(), 'pgbouncer-'));
      chmodSync(dir, 0o777); // PgBouncer runs as the postgres user and writes its pid file here
      port = await freePort();
      writeFileSync(path.join(dir, 'userlist.txt'), `"${role}" "${password}"\n`, { mode: 0o644 });
      writeFileSync(
        path.join(dir, 'pgbouncer.ini'),
        [
          '[databases]',
          `${dbName} = host=127.0.0.1 port=${server.port} dbname=${dbName}`,
          '[pgbouncer]',
          'listen_addr = 127.0.0.1',
          `listen_port = ${port}`,
          'auth_type = plain',
          `auth_file = ${path.join(dir, 'userlist.txt')}`,
          'pool_mode = transaction',
          'max_client_conn = 500',
          'default_pool_size = 10',
          'max_db_connections = 10',
          `unix_socket_dir = ${dir}`,
          `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
          'ignore_startup_parameters = extra_float_digits',
        ].join('\n'),
        { mode: 0o644 },
      );
      // PgBouncer refuses to run as root: it switches to the postgres user the package creates.
      const asRoot = process.getuid?.() === 0;
      bouncer = spawn(PGBOUNCER!, [...(asRoot ? ['-u', 'postgres'] : []), path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'] });
      bouncer.stderr!.on('data', (d: Buffer) => (bouncerLog += d.toString()));
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((res) => {
          const s = net.connect(port, '127.0.0.1', () => res(s.destroy() === s));
          s.on('error', () => res(false));
        });
        if (ok) break;
        if (bouncer.exitCode !== null) throw new Error(`pgbouncer exited: ${bouncerLog}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    afterAll(async () => {
      bouncer?.kill('SIGTERM');
      if (bouncer && bouncer.exitCode === null) await new Promise((r) => bouncer.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    });

    it('every file lands; the server sees at most the bouncer pool (10 connections)', async () => {
      await wipeLake();
      await admin.query(`TRUNCATE silver.ecommerce_events, silver.ecommerce_events_quarantine, ops.file_runs`);
      const env = {
        LakeStorage: inject('lakeConnectionString'),
        DATABASE_URL: roleUrl(String(port)),
        POSTGRES_POOL_MAX: '2',
        POSTGRES_POOL_MODE: 'transaction',
        MEDALLION_ENGINE_MEMORY: '64MB',
      };
      const r = await burst(env, admin, role);
      expect(r).toMatchObject({ errors: [], failed: 0, landed: WORKERS * FILES_PER_WORKER });
      expect(r.peak).toBeLessThanOrEqual(10);
      expect(await landedRows()).toBe(WORKERS * FILES_PER_WORKER * ROWS_PER_FILE);
      // The same files again through the bouncer: re-deliveries of landed content, nothing added.
      const p = await createPlatform(env, { log: silentLogger });
      try {
        await p.lake.write('bronze', 'ecommerce_events/burst/again.csv', Readable.from([Buffer.from(eventsFile(3, 1))]));
        expect((await ingestBronzeFile(p, 'ecommerce_events/burst/again.csv')).ledger).toMatchObject({ rows_silver: 0, duplicates_cross_file: ROWS_PER_FILE });
      } finally {
        await p.close();
      }
      expect(await landedRows()).toBe(WORKERS * FILES_PER_WORKER * ROWS_PER_FILE);
    });
  });
});

describe('connection shortage is transient, retried with jittered backoff', () => {
  it('classifies the server-full errors and spreads the retries', () => {
    expect(isConnectionShortage({ code: '53300' })).toBe(true);
    expect(isConnectionShortage({ code: '57P03' })).toBe(true);
    expect(isConnectionShortage({ code: 'ECONNREFUSED' })).toBe(true);
    expect(isConnectionShortage({ code: '23505' })).toBe(false);
    const delays = connectDelays(() => 1);
    expect(delays[0]).toBe(100);
    expect(Math.max(...delays)).toBe(5000);
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThan(150_000);
    const jittered = connectDelays(() => 0.5);
    expect(jittered[3]).toBe(400);
  });
});
