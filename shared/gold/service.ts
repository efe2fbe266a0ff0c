import type pg from 'pg';
import type { Env } from '../config';
import type { Contract } from '../contracts/contract';
import type { ContractRegistry } from '../contracts/registry';
import { type GoldExportDeps, type GoldExportResult, exportGold } from './export';
import { allGoldModels } from './models';
import { type GoldRefreshResult, rebuildGold, refreshPending } from './refresh';

export interface GoldServiceDeps extends GoldExportDeps {
  pool: pg.Pool;
  contracts: ContractRegistry;
  /** Settings the SQL may read (GOLD_SHOW_PII); default process.env. */
  env?: Env;
}

export interface GoldDatasetReport {
  dataset: string;
  /** undefined: nothing to refresh (no run landed since the last refresh). */
  refresh?: GoldRefreshResult;
  export?: GoldExportResult;
}

/** The datasets that have gold models (optionally only `dataset`). */
export function goldDatasets(contracts: ContractRegistry, dataset?: string): Contract[] {
  const models = allGoldModels(contracts.all().map((c) => c.name));
  if (dataset && !contracts.get(dataset)) throw new Error(`no dataset '${dataset}' (datasets: ${contracts.all().map((c) => c.name).join(', ')})`);
  if (dataset && !models.has(dataset)) throw new Error(`dataset '${dataset}' has no gold models (shared/datasets/${dataset}/gold/*.sql)`);
  return contracts.all().filter((c) => models.has(c.name) && (!dataset || c.name === dataset));
}

/**
 * What the timer and `medallion gold refresh` run, per dataset with gold models:
 *  - full: rebuild every gold table from silver in one locked transaction, then export;
 *  - otherwise: apply the runs that landed in silver since the last refresh (none: nothing to
 *    do; never built: a full build), then export if the lake is behind.
 */
export async function refreshGold(deps: GoldServiceDeps, options: { full?: boolean; dataset?: string } = {}): Promise<GoldDatasetReport[]> {
  const reports: GoldDatasetReport[] = [];
  for (const contract of goldDatasets(deps.contracts, options.dataset)) {
    const run = { env: deps.env };
    const refresh = options.full ? await rebuildGold(deps.pool, contract, run) : await refreshPending(deps.pool, contract, run);
    const exported = await exportGold(deps, contract, { force: options.full });
    reports.push({ dataset: contract.name, refresh, export: exported });
  }
  return reports;
}
