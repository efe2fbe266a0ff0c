/** The gold layer: SQL models per dataset (see README.md), refreshed with silver and exported to the lake. */
export { createGoldHooks, type GoldDeps } from './hooks';
export { exportGold, goldLakePath, duckTypeOf, type GoldExportDeps, type GoldExportResult } from './export';
export { formatGoldHighlights, goldHighlights, type GoldHighlights } from './highlights';
export { allGoldModels, goldModels, GoldModelError, parseGoldModel, type GoldModel } from './models';
export {
  datasetLockKey,
  rebuildGold,
  rebuildInTransaction,
  refreshIncremental,
  refreshPending,
  withDatasetTransaction,
  type GoldRefreshResult,
} from './refresh';
export { ensureGold, FRAMEWORK_DDL } from './schema';
export { goldDatasets, refreshGold, type GoldDatasetReport, type GoldServiceDeps } from './service';
