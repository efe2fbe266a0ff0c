import type pg from 'pg';
import type { ContractRegistry } from '../contracts/registry';
import type { Lake } from '../lake/lake';
import type { Logger } from '../log';
import type { PipelineHooks } from '../platform';

export interface GoldDeps {
  lake: Lake;
  pool: pg.Pool;
  contracts: ContractRegistry;
  log: Logger;
}

/** The gold layer's hooks into the file pipeline (placeholder until the gold layer lands). */
export function createGoldHooks(_deps: GoldDeps): PipelineHooks {
  return {};
}
