import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Creates a new, empty database on the server of `serverUrl` (tests, benchmarks) and returns
 * its URL. The name is `<prefix>_<random hex>`; the prefix must be a plain identifier.
 */
export async function createScratchDatabase(serverUrl: string, prefix: string): Promise<{ name: string; url: string }> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`scratch database prefix '${prefix}' must be a lower-case identifier`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

/** Drops a database `createScratchDatabase` made (connections to it are closed first). */
export async function dropScratchDatabase(serverUrl: string, name: string): Promise<void> {
  if (!/^[a-z][a-z0-9_]{0,60}$/.test(name)) throw new Error(`'${name}' is not a scratch database name`);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
