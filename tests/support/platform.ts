import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { silentLogger } from '../../shared/log';
import { createScratchDatabase } from '../../shared/local/scratchDatabase';
import { createPlatform, type Platform } from '../../shared/platform';
import { ZONES } from '../../shared/lake/lake';

export const DATASETS = path.resolve(__dirname, '..', '..', '..', 'shared', 'datasets');
export const SAMPLE_EVENTS = path.join(DATASETS, 'ecommerce_events', '2019-Oct_first17k.csv');
export const TELCO = path.join(DATASETS, 'customers', 'Telco-Customer-Churn.csv');
/** The real sample files live outside the repo; tests that read them skip only when they are absent. */
export const HAVE_DATASETS = existsSync(SAMPLE_EVENTS);

export function testEnv(database: string): Record<string, string> {
  const url = new URL(inject('databaseUrl'));
  url.pathname = `/${database}`;
  return { LakeStorage: inject('lakeConnectionString'), DATABASE_URL: url.toString(), MEDALLION_ENGINE_MEMORY: '400MB' };
}

/** Removes every blob of the four zones (Azurite is shared by the test files, one at a time). */
export async function wipeLake(): Promise<void> {
  const service = BlobServiceClient.fromConnectionString(inject('lakeConnectionString'));
  for (const zone of ZONES) {
    const container = service.getContainerClient(zone);
    if (!(await container.exists())) continue;
    for await (const b of container.listBlobsFlat()) await container.deleteBlob(b.name);
  }
}

/**
 * A platform on a brand-new database and an empty lake. `datasets`: only these of the repository's
 * datasets (copied to a scratch folder that MEDALLION_DATASETS_DIR names), for tests whose
 * expectations list every dataset.
 */
export async function freshPlatform(options: { datasets?: string[] } = {}): Promise<{ platform: Platform; env: Record<string, string>; database: string }> {
  const { name: database } = await createScratchDatabase(inject('databaseUrl'), 't');
  await wipeLake();
  const env = testEnv(database);
  if (options.datasets) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'datasets-'));
    for (const d of options.datasets) cpSync(path.join(REPO_DATASETS, d), path.join(dir, d), { recursive: true });
    env.MEDALLION_DATASETS_DIR = dir;
  }
  const platform = await createPlatform(env, { log: silentLogger, datasetsDir: env.MEDALLION_DATASETS_DIR });
  return { platform, env, database };
}

/** The repository's own dataset folders (contracts and gold SQL). */
export const REPO_DATASETS = path.resolve(__dirname, '..', '..', 'shared', 'datasets');
