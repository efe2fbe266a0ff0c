import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Contract } from './contracts/contract';
import { databaseSettings, type Env, engineOptions, lakeSettings, ConfigError, maxFileAttempts } from './config';
import { type ContractRegistry, datasetsDir, loadContracts } from './contracts/registry';
import { createPool } from './db/pool';
import { ensureSchema } from './db/schema';
import type { EngineOptions } from './engine/transform';
import { createLake } from './lake/createLake';
import type { Lake } from './lake/lake';
import { createGoldHooks } from './gold/hooks';
import { goldGraph } from './gold/models';
import { deployGold } from './gold/schema';
import { consoleLogger, type Logger } from './log';
import { sweepDeadWork } from './workDirs';

/** Extension points of the file pipeline (the gold layer registers here). */
export interface PipelineHooks {
  /**
   * Inside the silver transaction, after a file's rows are loaded: gold updates commit with them.
   * `silverFiles`: the run's silver Parquet (local paths) its silver rows were loaded from.
   */
  afterSilverLoad?: (client: pg.PoolClient, args: { contract: Contract; runId: string; path: string; silverFiles?: string[] }) => Promise<void>;
  /** After the commit (lake exports and other work that must not hold the transaction open). */
  afterCommit?: (args: { contract: Contract; runId: string; path: string }) => Promise<void>;
}

/** Everything a run needs, built once per process (Functions worker, CLI invocation, test). */
export interface Platform {
  hooks: PipelineHooks;
  lake: Lake;
  pool: pg.Pool;
  contracts: ContractRegistry;
  engine: EngineOptions;
  /** Local scratch space for one run's files (removed after each run). */
  workRoot: string;
  log: Logger;
  /**
   * Datasets whose contract changed in a way silver cannot follow without a rebuild (dataset →
   * one-line message naming each change and the command that fixes it). Their files are refused;
   * every other dataset and command works as usual.
   */
  blockedDatasets: Map<string, string>;
  /** Attempts of one file version before a transient failure is given up on (MAX_FILE_ATTEMPTS). */
  maxFileAttempts: number;
  close(): Promise<void>;
}

export interface PlatformOverrides {
  lake?: Lake;
  pool?: pg.Pool;
  log?: Logger;
  workRoot?: string;
  engine?: Partial<EngineOptions>;
  hooks?: PipelineHooks;
  /** Folder of the dataset folders (<name>/contract.ts + gold/*.sql). Default: MEDALLION_DATASETS_DIR, else the repository's shared/datasets. */
  datasetsDir?: string;
}

/** Runs `fn` again when PostgreSQL broke a deadlock by failing it (a schema upgrade meeting running loads). */
async function withDeadlockRetry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if ((e as { code?: unknown }).code !== '40P01' || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 100 * i + Math.random() * 200));
    }
  }
}

export async function createPlatform(env: Env = process.env, overrides: PlatformOverrides = {}): Promise<Platform> {
  const lakeCfg = lakeSettings(env);
  const dbCfg = databaseSettings(env);
  if (!overrides.lake && !lakeCfg) {
    throw new ConfigError('no lake configured: set LakeStorage (a connection string) or LakeStorage__accountName (managed identity)');
  }
  if (!overrides.pool && !dbCfg) {
    throw new ConfigError('no PostgreSQL configured: set DATABASE_URL, or POSTGRES_HOST + POSTGRES_DATABASE + POSTGRES_USER (Entra token auth)');
  }
  const lake = overrides.lake ?? createLake(lakeCfg!);
  const pool = overrides.pool ?? createPool(dbCfg!);
  const contracts = await loadContracts(overrides.datasetsDir ?? datasetsDir(env));
  const workRoot = overrides.workRoot ?? env.MEDALLION_WORK_DIR ?? path.join(os.tmpdir(), 'medallion');
  const eo = engineOptions(env);
  const engine: EngineOptions = { memoryLimit: eo.memoryLimit, threads: eo.threads, spillDir: path.join(workRoot, 'spill'), ...overrides.engine };
  // Scratch folders of processes killed before they could clean up (runs, exports, engines).
  for (const dir of new Set([workRoot, engine.spillDir])) await sweepDeadWork(dir);
  await lake.ensureZones();
  const blockedDatasets = await withDeadlockRetry(() => ensureSchema(pool, contracts.all()));
  for (const [name, message] of contracts.broken) blockedDatasets.set(name, message);
  const log = overrides.log ?? consoleLogger;
  for (const message of blockedDatasets.values()) log.warn(message);
  for (const problem of await withDeadlockRetry(() => deployGold(pool, () => goldGraph(contracts.all())))) log.warn(problem);
  return {
    hooks: overrides.hooks ?? createGoldHooks({ lake, pool, contracts, log, engine, workRoot, env }),
    lake,
    pool,
    contracts,
    engine,
    workRoot,
    log,
    blockedDatasets,
    maxFileAttempts: maxFileAttempts(env),
    close: async () => {
      if (!overrides.pool) await pool.end();
    },
  };
}
