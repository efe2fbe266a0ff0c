import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type LocalStack, startLocalStack } from '../../shared/local/stack';

let stack: LocalStack | undefined;
let home: string | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    lakeConnectionString: string;
    databaseUrl: string;
  }
}

/** One real Azurite and one real PostgreSQL for the whole test run, on free ports. */
export async function setup(project: TestProject): Promise<void> {
  if (process.env.TEST_DATABASE_URL && process.env.TEST_LAKE_CONNECTION) {
    project.provide('lakeConnectionString', process.env.TEST_LAKE_CONNECTION);
    project.provide('databaseUrl', process.env.TEST_DATABASE_URL);
    return;
  }
  home = mkdtempSync(path.join(os.tmpdir(), 'medallion-test-'));
  stack = await startLocalStack({ home, blobPort: 0, postgresPort: 0 });
  project.provide('lakeConnectionString', stack.lakeConnectionString);
  project.provide('databaseUrl', stack.databaseUrl);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}
