import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebuildGold } from '../shared/gold/refresh';
import { readSmall } from '../shared/lake/lake';
import { parseModel } from '../shared/ml/artefact';
import { LEAD_HORIZON_DAYS } from '../shared/ml/leadFeatures';
import { ingestBronzeFile } from '../shared/pipeline/ingestFile';
import { writeCrmInteractions } from '../shared/samples/crmInteractions';
import { DATASETS, freshPlatform } from './support/platform';

/**
 * Lead scoring on the real Maven CRM files plus the generated interactions (seed 42), through the
 * real pipeline: the deal-level features at the horizon (docs/ml.md) give a holdout AUC above the
 * floor, the ledger row and the lake artefact agree, probability_to_convert is NULL exactly for the
 * accounts without open deals, and a full rebuild reproduces the same model and probabilities.
 */

const CRM_DIR = path.join(DATASETS, 'crm');
const HAVE_CRM = existsSync(path.join(CRM_DIR, 'sales_pipeline.csv'));
/** Measured 0.633 (2026-11-30, docs/ml.md); a few points under it. */
const AUC_FLOOR = 0.6;

describe.runIf(HAVE_CRM)('lead scoring on real CRM deals + generated interactions (seed 42)', () => {
  let dir: string;
  let interactions: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gold-leadscore-'));
    const file = path.join(dir, 'interactions.csv');
    await writeCrmInteractions(file, { crmDir: CRM_DIR, seed: 42 });
    interactions = readFileSync(file, 'utf8');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it(`trains on deals at engage + ${LEAD_HORIZON_DAYS} days with AUC ≥ ${AUC_FLOOR}, writes the artefact and per-account probabilities, deterministically`, async () => {
    const { platform } = await freshPlatform();
    try {
      // The deals last: the scoring step first runs with every interaction in silver (one model).
      const files: [string, string][] = [
        ['crm/accounts/accounts.csv', readFileSync(path.join(CRM_DIR, 'accounts.csv'), 'utf8')],
        ['crm/products/products.csv', readFileSync(path.join(CRM_DIR, 'products.csv'), 'utf8')],
        ['crm/sales_teams/sales_teams.csv', readFileSync(path.join(CRM_DIR, 'sales_teams.csv'), 'utf8')],
        ['crm/interactions/interactions.csv', interactions],
        ['crm/sales_pipeline/sales_pipeline.csv', readFileSync(path.join(CRM_DIR, 'sales_pipeline.csv'), 'utf8')],
      ];
      for (const [bronze, text] of files) {
        await platform.lake.write('bronze', bronze, Readable.from([Buffer.from(text)]));
        const report = await ingestBronzeFile(platform, bronze);
        expect(report.outcome, `${bronze}: ${report.message}`).toBe('succeeded');
      }
      const db = platform.pool;
      const ledger = async () =>
        (
          await db.query<{ version: string; auc: number; holdout_rows: number; trained_rows: number; calibration: { count: number }[]; lake_path: string }>(
            `SELECT version, auc, holdout_rows, trained_rows, calibration, lake_path FROM ops.ml_models WHERE model = 'lead_scoring'`,
          )
        ).rows;
      const models = await ledger();
      expect(models).toHaveLength(1);
      const m = models[0]!;
      expect(m.auc).toBeGreaterThanOrEqual(AUC_FLOOR);
      expect(m.calibration.reduce((s, b) => s + b.count, 0)).toBe(m.holdout_rows);
      expect(m.lake_path).toBe(`gold/models/lead_scoring/${m.version}/model.json`);
      const model = parseModel((await readSmall(await platform.lake.read('gold', `models/lead_scoring/${m.version}/model.json`))).toString('utf8'));
      expect(model.version).toBe(m.version);
      expect(model.holdout.metrics.auc).toBeCloseTo(m.auc, 12);
      expect(model.features).toEqual(expect.arrayContaining(['deal_interactions', 'deal_positive_share', 'win_rate']));

      const probabilities = async () =>
        (
          await db.query<{ account: string; p: number | null; open: boolean }>(
            `SELECT c.account, c.probability_to_convert AS p,
                    EXISTS (SELECT 1 FROM silver.crm_deals d WHERE d.account = c.account AND lower(d.deal_stage) IN ('engaging', 'prospecting')) AS open
             FROM gold.customer_features c ORDER BY c.account`,
          )
        ).rows;
      const before = await probabilities();
      expect(before.length).toBeGreaterThanOrEqual(85);
      expect(before.filter((r) => r.open).length).toBeGreaterThan(0);
      expect(before.filter((r) => !r.open).length).toBeGreaterThan(0); // the interaction-only names
      for (const r of before) {
        if (!r.open) expect(r.p, r.account).toBeNull();
        else {
          expect(r.p, r.account).not.toBeNull();
          expect(r.p!).toBeGreaterThanOrEqual(0);
          expect(r.p!).toBeLessThanOrEqual(1);
        }
      }
      // Not one number for everyone: the deal features separate the accounts.
      expect(new Set(before.filter((r) => r.open).map((r) => r.p!.toFixed(6))).size).toBeGreaterThan(10);

      const full = await rebuildGold(platform.pool, platform.contracts);
      expect(full?.mode).toBe('full');
      const again = await ledger();
      expect(again.map((x) => x.version)).toEqual([m.version]);
      expect(await probabilities()).toEqual(before);
    } finally {
      await platform.close();
    }
  }, 300_000);
});
