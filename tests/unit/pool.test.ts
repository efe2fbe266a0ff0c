import type { AccessToken, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { ENTRA_SCOPE, entraPassword, poolConfig } from '../../shared/db/pool';

function fakeCredential(lifetimeMs: number, clock: { now: number }) {
  const calls: string[] = [];
  const credential: TokenCredential = {
    async getToken(scope): Promise<AccessToken> {
      calls.push(String(scope));
      return { token: `token-${calls.length}`, expiresOnTimestamp: clock.now + lifetimeMs };
    },
  };
  return { credential, calls };
}

describe('PostgreSQL Entra token auth', () => {
  it('asks for the OSS RDBMS scope, caches the token and refreshes it five minutes before expiry', async () => {
    const clock = { now: 1_000_000 };
    const { credential, calls } = fakeCredential(60 * 60 * 1000, clock);
    const password = entraPassword(credential, () => clock.now);
    expect(await password()).toBe('token-1');
    clock.now += 50 * 60 * 1000; // 10 minutes left: still good
    expect(await password()).toBe('token-1');
    clock.now += 6 * 60 * 1000; // 4 minutes left: refresh
    expect(await password()).toBe('token-2');
    expect(calls).toEqual([ENTRA_SCOPE, ENTRA_SCOPE]);
  });
  it('fetches once for concurrent new connections', async () => {
    const clock = { now: 0 };
    const { credential, calls } = fakeCredential(3_600_000, clock);
    const password = entraPassword(credential, () => clock.now);
    const tokens = await Promise.all([password(), password(), password()]);
    expect(new Set(tokens)).toEqual(new Set(['token-1']));
    expect(calls).toHaveLength(1);
  });
  it('connects with TLS and the token as password in Azure; the URL as is locally', () => {
    const { credential } = fakeCredential(1, { now: 0 });
    const azure = poolConfig({ kind: 'entra', host: 'h', database: 'd', user: 'u', port: 5432, poolMax: 8, transactionPooling: false }, credential);
    expect(azure.ssl).toEqual({ rejectUnauthorized: true });
    expect(typeof azure.password).toBe('function');
    expect(poolConfig({ kind: 'url', url: 'postgres://a@b/c', poolMax: 8, transactionPooling: false }).connectionString).toBe('postgres://a@b/c');
  });
});
