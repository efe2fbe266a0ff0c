import type pg from 'pg';
import type { Env } from '../config';
import type { ContractRegistry } from '../contracts/registry';
import type { EngineOptions } from '../engine/transform';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import type { PipelineHooks } from '../platform';
import { exportGold } from './export';
import { goldModels } from './models';
import { refreshIncremental } from './refresh';

export interface GoldDeps {
  lake: Lake;
  pool: pg.Pool;
  contracts: ContractRegistry;
  log: Logger;
  /** DuckDB settings for the Parquet export (default: a small in-process engine). */
  engine?: EngineOptions;
  /** Local scratch folder for the export (default: the OS temp dir). */
  workRoot?: string;
  /** Settings the SQL may read (GOLD_SHOW_PII); default process.env. */
  env?: Env;
}

/**
 * The gold layer's hooks into the file pipeline:
 *  - afterSilverLoad (inside the silver transaction, under the dataset lock): the incremental
 *    refresh of the dataset's gold tables for this run's rows, so gold commits with silver;
 *  - afterCommit: the Parquet export of the dataset's gold tables to the lake.
 * Datasets without gold models are left alone.
 */
export function createGoldHooks(deps: GoldDeps): PipelineHooks {
  return {
    afterSilverLoad: async (client, { contract, runId }) => {
      if (!goldModels(contract.name).length) return;
      const r = await refreshIncremental(client, contract, [runId], { env: deps.env });
      if (r) deps.log.info('medallion.gold_refresh', { dataset: r.dataset, mode: r.mode, run_id: runId, rows_in: r.rowsIn, duration_ms: r.ms });
    },
    afterCommit: async ({ contract }) => {
      if (!goldModels(contract.name).length) return;
      await exportGold(deps, contract);
    },
  };
}
