import { describe, expect, it } from 'vitest';
import { ConfigError, databaseSettings, eventHubSettings, lakeSettings, SETTINGS } from '../../shared/config';
import { fileNameToken, safeLakePath, UnsafePathError } from '../../shared/lake/paths';

describe('lake paths are untrusted input', () => {
  it('normalises harmless variations', () => {
    expect(safeLakePath('/ecommerce_events/2019/a.csv')).toBe('ecommerce_events/2019/a.csv');
    expect(safeLakePath('ecommerce_events\\win\\a.csv')).toBe('ecommerce_events/win/a.csv');
  });
  it.each([
    ['', /empty/],
    ['a/../b.csv', /'\.\.' segment/],
    ['a//b.csv', /empty, '\.' or '\.\.' segment/],
    ['a/./b.csv', /segment/],
    ['a/b\u0000.csv', /control characters/],
    ['x'.repeat(1025), /longer than 1024/],
  ])('refuses %j', (raw, message) => {
    expect(() => safeLakePath(raw)).toThrow(UnsafePathError);
    expect(() => safeLakePath(raw)).toThrow(message);
  });
  it('makes file-name tokens without separators', () => {
    expect(fileNameToken('../etc/passwd; rm -rf')).toBe('.._etc_passwd_rm_-rf');
  });
});

describe('settings', () => {
  it('uses the Blob adapter for Azurite and ADLS Gen2 for a real account', () => {
    expect(lakeSettings({ [SETTINGS.lakeConnection]: 'UseDevelopmentStorage=true' })).toMatchObject({ kind: 'connectionString', adapter: 'blob' });
    expect(lakeSettings({ [SETTINGS.lakeConnection]: 'DefaultEndpointsProtocol=https;AccountName=lake1;AccountKey=abc;EndpointSuffix=core.windows.net' })).toMatchObject({ adapter: 'adls' });
    expect(lakeSettings({ [SETTINGS.lakeAccountName]: 'lake1', [SETTINGS.lakeClientId]: 'cid' })).toEqual({ kind: 'identity', accountName: 'lake1', clientId: 'cid', adapter: 'adls', blobUrl: undefined });
    expect(lakeSettings({ [SETTINGS.lakeAccountName]: 'lake1', [SETTINGS.lakeAdapter]: 'blob' })).toMatchObject({ adapter: 'blob' });
    expect(lakeSettings({})).toBeUndefined();
  });
  it('explains bad values', () => {
    expect(() => lakeSettings({ [SETTINGS.lakeAccountName]: 'Not_A_Name' })).toThrow(ConfigError);
    expect(() => lakeSettings({ [SETTINGS.lakeConnection]: 'x', [SETTINGS.lakeAdapter]: 'ftp' })).toThrow(/must be 'adls' or 'blob'/);
    expect(() => databaseSettings({ [SETTINGS.postgresHost]: 'pg.example' })).toThrow(/POSTGRES_DATABASE and POSTGRES_USER/);
  });
  it('prefers DATABASE_URL, else Entra token auth', () => {
    expect(databaseSettings({ DATABASE_URL: 'postgres://x@y/z', POSTGRES_HOST: 'h' })).toEqual({ kind: 'url', url: 'postgres://x@y/z', poolMax: 8, transactionPooling: false });
    expect(databaseSettings({ POSTGRES_HOST: 'h.postgres.database.azure.com', POSTGRES_DATABASE: 'medallion', POSTGRES_USER: 'id-app', AZURE_CLIENT_ID: 'c' })).toEqual({
      kind: 'entra',
      host: 'h.postgres.database.azure.com',
      database: 'medallion',
      user: 'id-app',
      port: 5432,
      clientId: 'c',
      poolMax: 8,
      transactionPooling: false,
    });
  });
  it('reads the connection budget: pool size per instance and PgBouncer transaction mode', () => {
    expect(databaseSettings({ DATABASE_URL: 'postgres://x@y/z', POSTGRES_POOL_MAX: '2', POSTGRES_POOL_MODE: 'transaction' })).toMatchObject({ poolMax: 2, transactionPooling: true });
    expect(() => databaseSettings({ DATABASE_URL: 'postgres://x@y/z', POSTGRES_POOL_MAX: '0' })).toThrow(/POSTGRES_POOL_MAX must be a whole number >= 1, got '0'/);
  });
  it('reads Event Hubs by namespace (identity) or connection string', () => {
    expect(eventHubSettings({ [SETTINGS.eventHubNamespace]: 'ns.servicebus.windows.net' })).toMatchObject({ kind: 'identity', hubName: 'customers', consumerGroup: '$Default' });
    expect(eventHubSettings({ [SETTINGS.eventHubConnection]: 'Endpoint=sb://x/', EVENTHUB_NAME: 'c2' })).toMatchObject({ kind: 'connectionString', hubName: 'c2' });
  });
});
