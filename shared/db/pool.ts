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
 * (the cross-file look-up would miss rows and the load would hit duplicate keys).
 */
const SESSION_OPTIONS = '-c TimeZone=UTC';

export function poolConfig(settings: DatabaseSettings, credential?: TokenCredential): pg.PoolConfig {
  if (settings.kind === 'url') {
    return { connectionString: settings.url, max: 8, application_name: 'medallion', options: SESSION_OPTIONS };
  }
  const cred = credential ?? new DefaultAzureCredential(settings.clientId ? { managedIdentityClientId: settings.clientId } : {});
  return {
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: entraPassword(cred),
    ssl: { rejectUnauthorized: true },
    max: 8,
    application_name: 'medallion',
    options: SESSION_OPTIONS,
    // Tokens live about an hour: recycle connections well before that.
    maxLifetimeSeconds: 30 * 60,
  };
}

export function createPool(settings: DatabaseSettings, credential?: TokenCredential): pg.Pool {
  const pool = new pg.Pool(poolConfig(settings, credential));
  pool.on('error', () => undefined); // idle-client errors surface on the next query instead of crashing
  return pool;
}
