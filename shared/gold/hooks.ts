import type pg from 'pg';
import type { Env } from '../config';
import type { ContractRegistry } from '../contracts/registry';
import type { EngineOptions } from '../engine/transform';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import type { PipelineHooks } from '../platform';
import { exportGoldGroups } from './export';
import { goldGraph } from './models';
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
 *    refresh of every model downstream of the file's dataset, so gold commits with silver;
 *  - afterCommit: the Parquet export of the tables that refresh wrote.
 * Datasets no model reads are left alone.
 */
export function createGoldHooks(deps: GoldDeps): PipelineHooks {
  const touched = new Map<string, string[]>();
  return {
    afterSilverLoad: async (client, { contract, runId }) => {
      const graph = goldGraph(deps.contracts.all());
      if (!graph.downstreamOf([contract.name]).length) return;
      const r = await refreshIncremental(client, graph, contract.name, [runId], { env: deps.env });
      if (r) {
        if (touched.size > 1000) touched.clear(); // runs whose transaction rolled back never reach afterCommit
        touched.set(runId, r.models);
        deps.log.info('medallion.gold_refresh', { dataset: r.dataset, mode: r.mode, run_id: runId, rows_in: r.rowsIn, models: r.models.join(','), duration_ms: r.ms });
      }
    },
    afterCommit: async ({ contract, runId }) => {
      const graph = goldGraph(deps.contracts.all());
      const models = touched.get(runId) ?? graph.downstreamOf([contract.name]).map((m) => m.table);
      touched.delete(runId);
      if (!models.length) return;
      await exportGoldGroups(deps, graph, models);
    },
  };
}
