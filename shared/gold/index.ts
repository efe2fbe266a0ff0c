/** The gold layer: one SQL definition per model (see README.md), maintained with silver and exported to the lake. */
export { createGoldHooks, type GoldDeps } from './hooks';
export { exportGold, exportGoldGroups, goldLakePath, duckTypeOf, type GoldExportDeps, type GoldExportResult } from './export';
export { formatGoldHighlights, goldHighlights, type GoldHighlights } from './highlights';
export { GoldGraph, goldGraph, goldModels, GoldModelError, parseGoldModel, type GoldModel, type PlannedModel } from './models';
export { planModel, type Plan } from './plan';
export {
  datasetLockKey,
  graphOf,
  rebuildGold,
  rebuildInTransaction,
  refreshIncremental,
  refreshPending,
  withDatasetTransaction,
  type GoldRefreshResult,
  type GoldScope,
} from './refresh';
export { ensureGold, FRAMEWORK_DDL } from './schema';
export { goldDatasets, refreshGold, type GoldRefreshReport, type GoldServiceDeps } from './service';
