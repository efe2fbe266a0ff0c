import type pg from 'pg';
import type { Env } from '../config';
import type { ContractRegistry } from '../contracts/registry';
import { type GoldExportDeps, type GoldExportResult, exportGoldGroups } from './export';
import { goldGraph } from './models';
import { type GoldRefreshResult, rebuildGold, refreshPending } from './refresh';
import { writeStepFiles } from './steps';

export interface GoldServiceDeps extends GoldExportDeps {
  pool: pg.Pool;
  contracts: ContractRegistry;
  /** Settings the SQL may read (GOLD_SHOW_PII); default process.env. */
  env?: Env;
}

export interface GoldRefreshReport {
  /** Empty: nothing to refresh (no run landed since the last refresh). */
  refreshes: GoldRefreshResult[];
  exports: GoldExportResult[];
}

/** The datasets whose runs feed gold models (optionally only `dataset`, which must exist). */
export function goldDatasets(contracts: ContractRegistry, dataset?: string): string[] {
  const graph = goldGraph(contracts.all());
  if (dataset && !contracts.get(dataset)) throw new Error(`no dataset '${dataset}' (datasets: ${contracts.all().map((c) => c.name).join(', ')})`);
  const fed = contracts.all().map((c) => c.name).filter((d) => graph.downstreamOf([d]).length);
  if (dataset && !fed.includes(dataset)) throw new Error(`no gold model reads dataset '${dataset}' (shared/datasets/*/gold/*.sql)`);
  return dataset ? [dataset] : fed;
}

/**
 * What the timer and `medallion gold refresh` run:
 *  - full: rebuild every model downstream of the datasets (all models without --dataset) in one
 *    transaction, then export;
 *  - otherwise: apply, dataset by dataset, the runs that landed in silver since the last refresh
 *    (none: nothing to do; never built: a full build), then export what is behind.
 */
export async function refreshGold(deps: GoldServiceDeps, options: { full?: boolean; dataset?: string } = {}): Promise<GoldRefreshReport> {
  const graph = goldGraph(deps.contracts.all());
  const datasets = goldDatasets(deps.contracts, options.dataset);
  const run = { env: deps.env, engine: deps.engine };
  const refreshes: GoldRefreshResult[] = [];
  if (options.full) {
    const r = await rebuildGold(deps.pool, graph, options.dataset ? datasets : undefined, run);
    if (r) refreshes.push(r);
  } else {
    for (const d of datasets) {
      const r = await refreshPending(deps.pool, graph, d, run);
      if (r) refreshes.push(r);
    }
  }
  for (const r of refreshes) await writeStepFiles(deps.lake, r.files);
  const tables = options.dataset ? graph.downstreamOf(datasets).map((m) => m.table) : graph.models.map((m) => m.table);
  const exports = await exportGoldGroups(deps, graph, tables, { force: options.full });
  return { refreshes, exports };
}
