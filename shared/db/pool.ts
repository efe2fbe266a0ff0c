import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import pg from 'pg';
import type { DatabaseSettings } from '../config';

// int8 stays a string (19-digit ids must survive exactly); numeric too. Dates stay strings (no TZ shifts).
pg.types.setTypeParser(pg.types.builtins.DATE, (v) => v);

export const ENTRA_SCOPE = 'https://ossrdbms-aad.database.windows.net/.default';
/** Refresh an Entra token this long before it expires. */
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * Returns a password callback that hands pg a cached Entra access token, fetching a new one
 * when the cached one is within five minutes of expiry. pg calls it for every new connection.
 */
export function entraPassword(credential: TokenCredential, now: () => number = Date.now): () => Promise<string> {
  let token: { value: string; expiresAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  return async () => {
    if (token && token.expiresAt - REFRESH_MARGIN_MS > now()) return token.value;
    inflight ??= (async () => {
      try {
        const t = await credential.getToken(ENTRA_SCOPE);
        if (!t) throw new Error(`no Entra token for ${ENTRA_SCOPE}: check the managed identity and AZURE_CLIENT_ID`);
        token = { value: t.token, expiresAt: t.expiresOnTimestamp };
        return t.token;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/**
 * Every connection runs in UTC whatever the server's or the role's time zone: timestamps the
 * engine hands over are UTC wall-clock text, and a session in another zone would shift them
 * (the cross-file look-up would miss rows and the load would hit duplicate keys). Direct
 * connections set it at start-up; through PgBouncer (transaction mode, which refuses start-up
 * options) the app role's default time zone is UTC (set by the deploy-time migration) and every
 * load transaction sets it again (SET LOCAL).
 */
const SESSION_OPTIONS = '-c TimeZone=UTC';

function sessionOptions(settings: DatabaseSettings): { options?: string } {
  return settings.transactionPooling ? {} : { options: SESSION_OPTIONS };
}

export function poolConfig(settings: DatabaseSettings, credential?: TokenCredential): pg.PoolConfig {
  if (settings.kind === 'url') {
    return { connectionString: settings.url, max: settings.poolMax, idleTimeoutMillis: IDLE_MS, application_name: 'medallion', ...sessionOptions(settings) };
  }
  const cred = credential ?? new DefaultAzureCredential(settings.clientId ? { managedIdentityClientId: settings.clientId } : {});
  return {
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: entraPassword(cred),
    ssl: { rejectUnauthorized: true },
    max: settings.poolMax,
    idleTimeoutMillis: IDLE_MS,
    application_name: 'medallion',
    ...sessionOptions(settings),
    // Tokens live about an hour: recycle connections well before that.
    maxLifetimeSeconds: 30 * 60,
  };
}

/**
 * SQLSTATEs and socket errors of a server that is out of connections or not accepting them yet:
 * 53300 too_many_connections (also "too many connections for role"), 57P03 cannot_connect_now,
 * 08xxx connection exceptions; ECONNREFUSED / ECONNRESET while the server (or PgBouncer) restarts.
 */
export function isConnectionShortage(e: unknown): boolean {
  return connectRetries(e) > 0;
}

/**
 * How many times a failed connect is worth retrying: a server that is full (53300) or starting
 * (57P03) gets the whole budget; a refused or reset connection (a PgBouncer or server restarting,
 * or nothing listening at all) only a few quick tries, so a command pointed at a wrong address
 * says so in seconds.
 */
function connectRetries(e: unknown): number {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return 0;
  if (code === '53300' || code === '57P03') return Number.POSITIVE_INFINITY;
  if (code.startsWith('08') || code === 'ECONNREFUSED' || code === 'ECONNRESET') return 4;
  return 0;
}

/** Waits of the connection retry: exponential from 100 ms, capped at 5 s, with full jitter (about 100 s in all on average). */
export function connectDelays(random: () => number = Math.random): number[] {
  return Array.from({ length: 45 }, (_, i) => Math.round(random() * Math.min(5000, 100 * 2 ** i)));
}

/**
 * Idle connections go back to the server after this long: under a burst the budget is held by
 * connections in use, not by pools of instances that are between files.
 */
const IDLE_MS = 2000;

/**
 * A pool that stays inside the server's connection budget under a burst: its size is the
 * per-instance share (POSTGRES_POOL_MAX), and a connection the server refuses for lack of slots
 * is retried with jittered exponential backoff instead of failing the file. Only when the
 * server stays full for over a minute and a half does the error reach the caller (a transient failure:
 * the host retries the file later).
 */
const GUARDED = Symbol('medallion.guarded');

/**
 * A connection the server drops while a client is checked out (a restart, an administrator's
 * pg_terminate_backend) is an 'error' event on the client: without a listener it would crash the
 * process. The query in flight fails with the error anyway, and the pool discards the client.
 */
function guarded(client: pg.PoolClient): pg.PoolClient {
  const c = client as pg.PoolClient & { [GUARDED]?: true };
  if (!c[GUARDED]) {
    c.on('error', () => undefined);
    c[GUARDED] = true;
  }
  return client;
}

export class BudgetPool extends pg.Pool {
  override connect(): Promise<pg.PoolClient>;
  override connect(callback: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): void;
  override connect(callback?: (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void): Promise<pg.PoolClient> | void {
    const attempt = async (): Promise<pg.PoolClient> => {
      const delays = connectDelays();
      for (let i = 0; ; i++) {
        try {
          return guarded(await super.connect());
        } catch (e) {
          if (i >= Math.min(connectRetries(e), delays.length)) throw e;
          await new Promise((r) => setTimeout(r, delays[i]));
        }
      }
    };
    if (!callback) return attempt();
    attempt().then(
      (client) => callback(undefined, client, (release?: unknown) => client.release(release as Error | boolean | undefined)),
      (err: Error) => callback(err, undefined, () => undefined),
    );
  }
}

export function createPool(settings: DatabaseSettings, credential?: TokenCredential): pg.Pool {
  const pool = new BudgetPool(poolConfig(settings, credential));
  pool.on('error', () => undefined); // idle-client errors surface on the next query instead of crashing
  return pool;
}
