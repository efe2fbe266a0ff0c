import { isIP } from 'node:net';

/**
 * Every setting the platform reads, in one place. The Bicep in infra/ must set exactly these
 * names on the function app (tests/infra/settings.test.ts compares the two), and
 * local.settings.sample.json shows the local values.
 *
 * Locally (Azurite + embedded PostgreSQL) connection strings are used; in Azure every
 * connection is identity-based: `<connection>__accountName` / `__fullyQualifiedNamespace`
 * plus `__credential=managedidentity` and `__clientId` for the user-assigned identity.
 */
export const SETTINGS = {
  /** Lake storage (ADLS Gen2 in Azure, Azurite locally). Also the blob trigger's connection name. */
  lakeConnection: 'LakeStorage',
  /** Azure: the storage account name of the lake (identity-based connection). */
  lakeAccountName: 'LakeStorage__accountName',
  /** Azure: blob endpoint of the lake, used by the blob trigger's identity-based connection. */
  lakeBlobServiceUri: 'LakeStorage__blobServiceUri',
  /** Azure: queue endpoint of the lake (the blob trigger keeps its receipts in queues). */
  lakeQueueServiceUri: 'LakeStorage__queueServiceUri',
  lakeCredential: 'LakeStorage__credential',
  lakeClientId: 'LakeStorage__clientId',
  /** Optional: force the lake adapter ('adls' | 'blob'); default adls when an account name is set. */
  lakeAdapter: 'LAKE_ADAPTER',

  /** Event Hubs connection (connection string locally, identity in Azure). */
  eventHubConnection: 'EventHubConnection',
  eventHubNamespace: 'EventHubConnection__fullyQualifiedNamespace',
  eventHubCredential: 'EventHubConnection__credential',
  eventHubClientId: 'EventHubConnection__clientId',
  /** Name of the customers event hub. */
  eventHubName: 'EVENTHUB_NAME',
  /** Consumer group the platform reads with. */
  eventHubConsumerGroup: 'EVENTHUB_CONSUMER_GROUP',

  /** Any PostgreSQL server (local or remote). Wins over the Entra settings below. */
  databaseUrl: 'DATABASE_URL',
  /** Azure: PostgreSQL Flexible Server host, database and Entra principal name (token auth). */
  postgresHost: 'POSTGRES_HOST',
  postgresDatabase: 'POSTGRES_DATABASE',
  postgresUser: 'POSTGRES_USER',
  postgresPort: 'POSTGRES_PORT',
  /**
   * Connections one instance may open (its pool size). Bicep derives it from the server's
   * connection limit and the app's maximum instance count, so a burst stays inside the limit.
   */
  postgresPoolMax: 'POSTGRES_POOL_MAX',
  /** 'transaction' when the app connects through PgBouncer in transaction mode (port 6432). */
  postgresPoolMode: 'POSTGRES_POOL_MODE',

  /** Client id of the user-assigned managed identity (read by DefaultAzureCredential). */
  azureClientId: 'AZURE_CLIENT_ID',

  /** NCRONTAB schedule of the full gold rebuild timer (default: nightly at 02:30 UTC). */
  goldRefreshSchedule: 'GOLD_REFRESH_SCHEDULE',
  /** NCRONTAB schedule of the health checks (default: hourly). */
  healthCheckSchedule: 'HEALTH_CHECK_SCHEDULE',
  /** Quarantined share of a dataset's rows over the last day above which its health check fails (default 0.05). */
  healthQuarantineRate: 'HEALTH_QUARANTINE_RATE',
  /** Attempts of one file version before a transient failure is given up on (marked failed; default 5). */
  maxFileAttempts: 'MAX_FILE_ATTEMPTS',
  /** Minutes behind the newest customer update after which an update counts as late. */
  customersLatenessMinutes: 'CUSTOMERS_LATENESS_MINUTES',
  /** 'true' to show e-mail addresses unmasked in gold (default masked). */
  goldShowPii: 'GOLD_SHOW_PII',

  /** Local state directory of the embedded stack (default ./.medallion). */
  medallionHome: 'MEDALLION_HOME',
  /** Working directory for temporary files (default: the OS temp dir). */
  workDir: 'MEDALLION_WORK_DIR',
  /** DuckDB memory limit for one file's transform, e.g. '512MB'. */
  engineMemoryLimit: 'MEDALLION_ENGINE_MEMORY',
  /** DuckDB threads (default: number of CPUs). */
  engineThreads: 'MEDALLION_ENGINE_THREADS',

  // SaaS API sources (shared/sources/, docs/sources.md). A source whose base URL is empty is off.
  /** Pipedrive company address, e.g. https://acme.pipedrive.com (its first label is the bronze scope). */
  pipedriveBaseUrl: 'PIPEDRIVE_BASE_URL',
  /** Pipedrive API token, sent in the x-api-token header; in Azure a Key Vault reference. Never logged. */
  pipedriveApiToken: 'PIPEDRIVE_API_TOKEN',
  /** Zendesk account address, e.g. https://acme.zendesk.com (its subdomain is the bronze scope). */
  zendeskBaseUrl: 'ZENDESK_BASE_URL',
  /** E-mail address of the Zendesk user the API token belongs to ({email}/token:{api_token}). */
  zendeskEmail: 'ZENDESK_EMAIL',
  /** Zendesk API token; in Azure a Key Vault reference. Never logged. */
  zendeskApiToken: 'ZENDESK_API_TOKEN',
  /** NCRONTAB schedule of the Pipedrive extraction timer (default every 30 minutes, on the hour and half hour). */
  pipedriveExtractSchedule: 'PIPEDRIVE_EXTRACT_SCHEDULE',
  /** NCRONTAB schedule of the Zendesk extraction timer (default every 30 minutes, at :15 and :45). */
  zendeskExtractSchedule: 'ZENDESK_EXTRACT_SCHEDULE',
  /** Minutes before the watermark each incremental run starts reading again (default 10; silver dedup absorbs the overlap). */
  extractOverlapMinutes: 'EXTRACT_OVERLAP_MINUTES',
  /** Uncompressed bytes after which a bronze part file is closed and the next one begun (default 64 MiB). */
  extractPartMaxBytes: 'EXTRACT_PART_MAX_BYTES',
  /** Longest Retry-After (seconds) an extraction waits out; a longer one fails the entity as rate_limited (default 600). */
  extractMaxWaitSeconds: 'EXTRACT_MAX_WAIT_SECONDS',
  /** Requests per minute the extractor allows itself on Zendesk's incremental exports (default 10, Zendesk's limit). */
  zendeskIncrementalRequestsPerMinute: 'ZENDESK_INCREMENTAL_REQUESTS_PER_MINUTE',
  /** Percent of an extraction run's records that may be missing from staging before extract_count_variance fails (default 10; shared/sources/health.ts). */
  extractCountVariancePercent: 'EXTRACT_COUNT_VARIANCE_PERCENT',
} as const;

export type SettingKey = keyof typeof SETTINGS;
export type Env = Record<string, string | undefined>;

export type LakeSettings =
  | { kind: 'connectionString'; connectionString: string; adapter: 'blob' | 'adls' }
  | { kind: 'identity'; accountName: string; clientId?: string; adapter: 'blob' | 'adls'; blobUrl?: string };

/** How the pool behaves: its size per instance, and whether a PgBouncer in transaction mode sits in front. */
export interface PoolSettings {
  poolMax: number;
  transactionPooling: boolean;
}

export type DatabaseSettings =
  | ({ kind: 'url'; url: string } & PoolSettings)
  | ({ kind: 'entra'; host: string; database: string; user: string; port: number; clientId?: string } & PoolSettings);

export type EventHubSettings =
  | { kind: 'connectionString'; connectionString: string; hubName: string; consumerGroup: string }
  | { kind: 'identity'; fullyQualifiedNamespace: string; clientId?: string; hubName: string; consumerGroup: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function get(env: Env, key: SettingKey): string | undefined {
  const value = env[SETTINGS[key]];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function lakeSettings(env: Env = process.env): LakeSettings | undefined {
  const forced = get(env, 'lakeAdapter');
  if (forced !== undefined && forced !== 'adls' && forced !== 'blob') {
    throw new ConfigError(`${SETTINGS.lakeAdapter} must be 'adls' or 'blob', got '${forced}'`);
  }
  const connectionString = get(env, 'lakeConnection');
  if (connectionString) {
    // Azurite serves only the Blob API; a real account's connection string can use either.
    const isDevStore = /UseDevelopmentStorage=true|devstoreaccount1|127\.0\.0\.1|localhost/i.test(connectionString);
    return { kind: 'connectionString', connectionString, adapter: forced ?? (isDevStore ? 'blob' : 'adls') };
  }
  const accountName = get(env, 'lakeAccountName');
  if (accountName) {
    if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
      throw new ConfigError(`${SETTINGS.lakeAccountName} '${accountName}' is not a valid storage account name`);
    }
    return {
      kind: 'identity',
      accountName,
      clientId: get(env, 'lakeClientId') ?? get(env, 'azureClientId'),
      adapter: forced ?? 'adls',
      blobUrl: get(env, 'lakeBlobServiceUri'),
    };
  }
  return undefined;
}

export function databaseSettings(env: Env = process.env): DatabaseSettings | undefined {
  const pool: PoolSettings = { poolMax: postgresPoolMax(env), transactionPooling: postgresTransactionPooling(env) };
  const url = get(env, 'databaseUrl');
  if (url) return { kind: 'url', url, ...pool };
  const host = get(env, 'postgresHost');
  if (!host) return undefined;
  const database = get(env, 'postgresDatabase');
  const user = get(env, 'postgresUser');
  if (!database || !user) {
    throw new ConfigError(
      `${SETTINGS.postgresHost} is set, so ${SETTINGS.postgresDatabase} and ${SETTINGS.postgresUser} (the Entra principal name) are required too`,
    );
  }
  const port = Number(get(env, 'postgresPort') ?? '5432');
  if (!Number.isInteger(port) || port <= 0) throw new ConfigError(`${SETTINGS.postgresPort} must be a port number`);
  return { kind: 'entra', host, database, user, port, clientId: get(env, 'azureClientId'), ...pool };
}

export function eventHubSettings(env: Env = process.env): EventHubSettings | undefined {
  const hubName = get(env, 'eventHubName') ?? 'customers';
  const consumerGroup = get(env, 'eventHubConsumerGroup') ?? '$Default';
  const connectionString = get(env, 'eventHubConnection');
  if (connectionString) return { kind: 'connectionString', connectionString, hubName, consumerGroup };
  const ns = get(env, 'eventHubNamespace');
  if (ns) {
    return {
      kind: 'identity',
      fullyQualifiedNamespace: ns,
      clientId: get(env, 'eventHubClientId') ?? get(env, 'azureClientId'),
      hubName,
      consumerGroup,
    };
  }
  return undefined;
}

export function goldRefreshSchedule(env: Env = process.env): string {
  return get(env, 'goldRefreshSchedule') ?? '0 30 2 * * *';
}

export function customersLatenessMinutes(env: Env = process.env): number {
  const raw = get(env, 'customersLatenessMinutes') ?? '10';
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError(`${SETTINGS.customersLatenessMinutes} must be a number of minutes >= 0, got '${raw}'`);
  return n;
}

function positiveInt(env: Env, key: SettingKey, fallback: number): number {
  const raw = get(env, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${SETTINGS[key]} must be a whole number >= 1, got '${raw}'`);
  return n;
}

/** Pool size of one instance (default 8: a local machine; Azure sets it from the connection budget). */
export function postgresPoolMax(env: Env = process.env): number {
  return positiveInt(env, 'postgresPoolMax', 8);
}

/** Through PgBouncer in transaction mode: no session state may outlive a transaction. */
export function postgresTransactionPooling(env: Env = process.env): boolean {
  return (get(env, 'postgresPoolMode') ?? '').toLowerCase() === 'transaction';
}

export function healthCheckSchedule(env: Env = process.env): string {
  return get(env, 'healthCheckSchedule') ?? '0 0 * * * *';
}

export function healthQuarantineRate(env: Env = process.env): number {
  const raw = get(env, 'healthQuarantineRate') ?? '0.05';
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new ConfigError(`${SETTINGS.healthQuarantineRate} must be a fraction between 0 and 1, got '${raw}'`);
  return n;
}

export function maxFileAttempts(env: Env = process.env): number {
  return positiveInt(env, 'maxFileAttempts', 5);
}

export function goldShowPii(env: Env = process.env): boolean {
  return (get(env, 'goldShowPii') ?? 'false').toLowerCase() === 'true';
}

export function medallionHome(env: Env = process.env): string {
  return get(env, 'medallionHome') ?? '.medallion';
}

export function engineOptions(env: Env = process.env): { memoryLimit: string; threads?: number } {
  const threads = get(env, 'engineThreads');
  return { memoryLimit: get(env, 'engineMemoryLimit') ?? '400MB', threads: threads ? Number(threads) : undefined };
}

// ------------------------------------------------------------------------------------------
// SaaS API sources (Pipedrive, Zendesk): shared/sources/, docs/sources.md
// ------------------------------------------------------------------------------------------

export type SourceName = 'pipedrive' | 'zendesk';
export const SOURCE_NAMES: readonly SourceName[] = ['pipedrive', 'zendesk'];

interface SourceBase {
  /** The base URL as configured, without a trailing slash. */
  baseUrl: string;
  /**
   * The account the data belongs to, the `scope=` folder of its bronze paths: the first label of
   * the host name (acme.pipedrive.com → acme, acme.zendesk.com → acme). For a base URL on
   * localhost or an IP address (the local stand-in API) it is the last segment of the URL's path
   * (http://127.0.0.1:4010/pipedrive/acme → acme), or 'local' when the path is empty.
   */
  scope: string;
}

export interface PipedriveSettings extends SourceBase {
  source: 'pipedrive';
  apiToken: string;
}

export interface ZendeskSettings extends SourceBase {
  source: 'zendesk';
  email: string;
  apiToken: string;
  /** Pacing of the incremental export endpoints (Zendesk allows 10 requests per minute). */
  incrementalRequestsPerMinute: number;
}

export type SourceSettings = PipedriveSettings | ZendeskSettings;

/** How every extraction behaves (both sources). */
export interface ExtractSettings {
  overlapMinutes: number;
  partMaxBytes: number;
  maxWaitSeconds: number;
}

/** Azure App Service leaves a Key Vault reference it cannot resolve in the setting as written. */
const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

function secret(env: Env, key: SettingKey, keyVaultSecretName: string): string | undefined {
  const value = get(env, key);
  if (value !== undefined && KEY_VAULT_REFERENCE.test(value)) {
    throw new ConfigError(
      `${SETTINGS[key]} is a Key Vault reference that did not resolve: set the secret '${keyVaultSecretName}' in the platform's Key Vault and check that the app identity may read it (docs/sources.md)`,
    );
  }
  return value;
}

/** Where a source's scope comes from: see SourceBase.scope. Throws ConfigError when it is not a usable folder name. */
export function sourceScope(baseUrl: URL, setting: string): string {
  const host = baseUrl.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const local = host === 'localhost' || isIP(host) !== 0;
  const raw = local ? (baseUrl.pathname.split('/').filter(Boolean).at(-1) ?? 'local') : host.split('.')[0]!;
  const scope = raw.toLowerCase();
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(scope)) {
    throw new ConfigError(`${setting}: the account name '${raw}' taken from the address is not usable as a bronze folder (letters, digits, '-', '_')`);
  }
  return scope;
}

function baseUrlOf(env: Env, key: SettingKey, example: string): { url: URL; text: string } | undefined {
  const raw = get(env, key);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${SETTINGS[key]} '${raw}' is not a URL; expected something like ${example}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError(`${SETTINGS[key]} must be a plain address like ${example} (no credentials, query or fragment: the token has its own setting)`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '127.0.0.1' || host === '::1';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(`${SETTINGS[key]} must use https (plain http only to localhost, where the stand-in API runs), got '${url.protocol}'`);
  }
  return { url, text: url.toString().replace(/\/+$/, '') };
}

/**
 * The settings of one source, or undefined when its base URL is not set (the source is off).
 * Throws ConfigError (one line, never the token) when the source is set up only in part.
 */
export function sourceSettings(source: SourceName, env: Env = process.env): SourceSettings | undefined {
  if (source === 'pipedrive') {
    const base = baseUrlOf(env, 'pipedriveBaseUrl', 'https://<company>.pipedrive.com');
    if (!base) return undefined;
    const apiToken = secret(env, 'pipedriveApiToken', 'pipedrive-api-token');
    if (!apiToken) throw new ConfigError(`${SETTINGS.pipedriveBaseUrl} is set, so ${SETTINGS.pipedriveApiToken} is required too (Pipedrive: Personal preferences > API)`);
    return { source, baseUrl: base.text, scope: sourceScope(base.url, SETTINGS.pipedriveBaseUrl), apiToken };
  }
  const base = baseUrlOf(env, 'zendeskBaseUrl', 'https://<subdomain>.zendesk.com');
  if (!base) return undefined;
  const email = get(env, 'zendeskEmail');
  const apiToken = secret(env, 'zendeskApiToken', 'zendesk-api-token');
  if (!email || !apiToken) {
    throw new ConfigError(`${SETTINGS.zendeskBaseUrl} is set, so ${SETTINGS.zendeskEmail} and ${SETTINGS.zendeskApiToken} are required too (Admin Center > Apps and integrations > Zendesk API)`);
  }
  if (!/^[^\s@/:]+@[^\s@/:]+$/.test(email)) throw new ConfigError(`${SETTINGS.zendeskEmail} '${email}' is not an e-mail address`);
  return {
    source,
    baseUrl: base.text,
    scope: sourceScope(base.url, SETTINGS.zendeskBaseUrl),
    email,
    apiToken,
    incrementalRequestsPerMinute: positiveInt(env, 'zendeskIncrementalRequestsPerMinute', 10),
  };
}

function nonNegativeInt(env: Env, key: SettingKey, fallback: number, max: number): number {
  const raw = get(env, key);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new ConfigError(`${SETTINGS[key]} must be a whole number between 0 and ${max}, got '${raw}'`);
  return n;
}

export function extractSettings(env: Env = process.env): ExtractSettings {
  const partMaxBytes = positiveInt(env, 'extractPartMaxBytes', 64 * 1024 * 1024);
  if (partMaxBytes < 1024) throw new ConfigError(`${SETTINGS.extractPartMaxBytes} must be at least 1024 bytes, got '${partMaxBytes}'`);
  return {
    overlapMinutes: nonNegativeInt(env, 'extractOverlapMinutes', 10, 7 * 24 * 60),
    partMaxBytes,
    maxWaitSeconds: nonNegativeInt(env, 'extractMaxWaitSeconds', 600, 24 * 3600),
  };
}

function schedule(env: Env, key: SettingKey, fallback: string): string {
  const value = get(env, key) ?? fallback;
  if (value.split(/\s+/).length !== 6) throw new ConfigError(`${SETTINGS[key]} must be an NCRONTAB expression with six fields (second minute hour day month weekday), got '${value}'`);
  return value;
}

export function pipedriveExtractSchedule(env: Env = process.env): string {
  return schedule(env, 'pipedriveExtractSchedule', '0 0,30 * * * *');
}

export function zendeskExtractSchedule(env: Env = process.env): string {
  return schedule(env, 'zendeskExtractSchedule', '0 15,45 * * * *');
}
