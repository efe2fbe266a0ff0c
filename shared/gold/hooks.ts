import type pg from 'pg';
import type { Env } from '../config';
import type { ContractRegistry } from '../contracts/registry';
import type { EngineOptions } from '../engine/transform';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import type { PipelineHooks } from '../platform';
import { exportGoldGroups } from './export';
import { BadContractError } from '../pipeline/failures';
import { goldGraph, GoldModelError } from './models';
import { refreshIncremental } from './refresh';
import { type StepFile, writeStepFiles } from './steps';

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
  const touched = new Map<string, { models: string[]; files: StepFile[] }>();
  return {
    afterSilverLoad: async (client, args) => {
      const { contract, runId } = args;
      try {
        const graph = goldGraph(deps.contracts.all());
        if (!graph.downstreamOf([contract.name]).length) return;
        const r = await refreshIncremental(client, graph, contract.name, [runId], { env: deps.env, engine: deps.engine }, { silverFiles: args.silverFiles });
        if (r) {
          if (touched.size > 1000) touched.clear(); // runs whose transaction rolled back never reach afterCommit
          touched.set(runId, { models: r.models, files: r.files });
          deps.log.info('medallion.gold_refresh', { dataset: r.dataset, mode: r.mode, run_id: runId, rows_in: r.rowsIn, models: r.models.join(','), duration_ms: r.ms });
        }
      } catch (e) {
        throw definitionError(e, args.path);
      }
    },
    afterCommit: async ({ contract, runId }) => {
      const graph = goldGraph(deps.contracts.all());
      const done = touched.get(runId);
      touched.delete(runId);
      if (done?.files.length) await writeStepFiles(deps.lake, done.files);
      const models = done?.models ?? graph.downstreamOf([contract.name]).map((m) => m.table);
      if (!models.length) return;
      await exportGoldGroups(deps, graph, models);
    },
  };
}

/**
 * A model whose SQL does not run (42xxx: undefined column, syntax…; 0Axxx: a feature PostgreSQL
 * does not support there; 22xxx/23xxx: its data breaks its own types or keys; 54xxx: a value over
 * a limit, such as a key too long for an index) fails
 * the file like a bad contract: retrying cannot help, fixing the model and replaying can; so does
 * a model the framework refuses (no cause). Anything else (a deadlock, the database going away,
 * the sets' engine out of memory or disk) stays transient.
 */
export function definitionError(e: unknown, path: string): unknown {
  if (!(e instanceof GoldModelError)) return e;
  const code = (e.cause as { code?: unknown } | undefined)?.code;
  if (e.cause !== undefined && (typeof code !== 'string' || !/^(0A|22|23|42|54|P0)/.test(code))) return e;
  // 22003: a value this file brings (or a total it makes) does not fit a type of the model: a column's, or an expression's.
  const fix = code === '22003' ? "widen the model's column or expression type that overflows (e.g. numeric(18,2) → numeric(24,2), bigint → numeric) or fix the data" : 'fix the model';
  return new BadContractError(`${e.message.split('\n')[0]}; ${fix}, then run \`medallion replay ${path}\``);
}
